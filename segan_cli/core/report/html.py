"""The report page: one HTML file with inline CSS and a few lines of plain JavaScript.

Nothing is fetched from elsewhere (no CDN, no web font, no framework), so the folder
opens offline from disk and can be zipped and sent. Every number is written twice:
as text, rounded as the terminal table rounds it, and exactly in a ``data-`` attribute
(for sorting, and so a test can compare the page with ``--json``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from segan_cli.core.evaluation import metric_header
from segan_cli.core.metrics import MetricSummary
from segan_cli.core.report.folder import GENERATOR
from segan_cli.core.report.numbers import FileRow


@dataclass
class Panel:
    """One column of a listening file: spectrogram, player and that system's scores."""

    label: str
    image: str | None  # path relative to the page
    audio: str | None
    scores: dict[str, float] | None = None  # None: a reference, or not scored
    gain: float = math.nan
    problem: str = ""


@dataclass
class ListeningFile:
    name: str
    why: str
    panels: list[Panel]


@dataclass
class SummaryRow:
    label: str
    summary: dict[str, MetricSummary]
    scored: int
    total: int
    differences: dict[str, MetricSummary] | None = None  # to Noisy; None for Noisy itself


@dataclass
class PageData:
    """Everything the page shows, already computed and written to files."""

    title: str
    subtitle: str
    metrics: tuple[str, ...]
    rows: list[SummaryRow]
    paper: dict[str, dict[str, float]]
    distributions: list[tuple[str, str]]  # (metric, image)
    gain_image: str | None
    gain_note: str
    colour_bar: str | None
    listening: list[ListeningFile]
    listening_note: str
    files: list[FileRow]
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # system, file, why
    reference: str = "Noisy"


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def fmt(value: float | None, signed: bool = False) -> str:
    """Two decimals as in the terminal table; a dash for a missing value."""
    if value is None or math.isnan(value):
        return "-"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _exact(value: float | None) -> str:
    return "nan" if value is None or math.isnan(value) else repr(float(value))


def _stat_cell(system: str, metric: str, stat: MetricSummary, kind: str,
               signed: bool = False) -> str:
    ci = (f' <span class="ci">[{fmt(stat.ci95_low, signed)}, {fmt(stat.ci95_high, signed)}]'
          "</span>" if stat.count > 1 else "")
    return (f'<td class="num" data-kind="{kind}" data-system="{esc(system)}" '
            f'data-metric="{metric}" data-mean="{_exact(stat.mean)}" '
            f'data-ci-low="{_exact(stat.ci95_low)}" data-ci-high="{_exact(stat.ci95_high)}">'
            f"{fmt(stat.mean, signed)}{ci}</td>")


def summary_table(data: PageData) -> str:
    """Means with their 95% intervals, the paper's rows beneath when they apply."""
    head = "".join(f"<th>{metric_header(m)}</th>" for m in data.metrics)
    out = ['<table id="summary" class="results"><thead><tr><th>system</th>', head,
           "<th>scored</th></tr></thead><tbody>"]
    for row in data.rows:
        cells = "".join(_stat_cell(row.label, m, row.summary[m], "mean") for m in data.metrics)
        out.append(f"<tr><th>{esc(row.label)}</th>{cells}"
                   f'<td class="num">{row.scored}/{row.total}</td></tr>')
    out.append("</tbody>")
    if data.paper:
        out.append('<tbody class="paper">')
        for label, values in data.paper.items():
            cells = "".join(f'<td class="num">{fmt(values.get(m))}</td>' for m in data.metrics)
            out.append(f"<tr><th>{esc(label)}</th>{cells}<td class=\"num\">824</td></tr>")
        out.append("</tbody>")
    out.append("</table>")
    return "".join(out)


def difference_table(data: PageData) -> str:
    """Each system minus Noisy, paired per file, with the 95% interval of the mean."""
    rows = [r for r in data.rows if r.differences is not None]
    if not rows:
        return (f"<p class=\"note\">No row is labelled {esc(data.reference)}: there is "
                "nothing to take differences against (name the unprocessed folder "
                f"<code>--name {esc(data.reference)}</code> to get them).</p>")
    head = "".join(f"<th>Δ {metric_header(m)}</th>" for m in data.metrics)
    out = ['<table id="differences" class="results"><thead><tr><th>system</th>', head,
           "</tr></thead><tbody>"]
    for row in rows:
        assert row.differences is not None
        cells = "".join(_stat_cell(row.label, m, row.differences[m], "difference", True)
                        for m in data.metrics)
        out.append(f"<tr><th>{esc(row.label)} − {esc(data.reference)}</th>{cells}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _scores(panel: Panel, metrics: Sequence[str]) -> str:
    if panel.problem:
        return f'<p class="problem">{esc(panel.problem)}</p>'
    if panel.scores is None:
        return '<p class="note">reference</p>'
    rows = "".join(f"<tr><th>{metric_header(m)}</th><td>{fmt(panel.scores.get(m))}</td></tr>"
                   for m in metrics)
    if not math.isnan(panel.gain):
        rows += f"<tr><th>Δ PESQ</th><td>{fmt(panel.gain, True)}</td></tr>"
    return f'<table class="scores">{rows}</table>'


def listening_section(data: PageData) -> str:
    out = [f'<p class="note">{esc(data.listening_note)}</p>']
    if data.colour_bar:
        out.append(f'<img class="bar" src="{esc(data.colour_bar)}" alt="colour scale">')
    for item in data.listening:
        out.append(f'<section class="file"><h3>{esc(item.name)} '
                   f'<span class="why">{esc(item.why)}</span></h3><div class="tracks">')
        for panel in item.panels:
            image = (f'<img src="{esc(panel.image)}" alt="spectrogram of {esc(panel.label)}">'
                     if panel.image else "")
            audio = (f'<audio controls preload="metadata"><source src="{esc(panel.audio)}" '
                     'type="audio/wav"></audio>' if panel.audio else "")
            out.append(f'<div class="track"><h4>{esc(panel.label)}</h4>{image}{audio}'
                       f"{_scores(panel, data.metrics)}</div>")
        out.append("</div></section>")
    return "".join(out)


def file_table(data: PageData) -> str:
    """Every (file, system) scored, sortable by any column (click a header)."""
    head = "".join(f"<th>{metric_header(m)}</th>" for m in data.metrics)
    out = ['<table id="files" class="sortable"><thead><tr><th>file</th><th>system</th>',
           head, "<th>Δ PESQ</th></tr></thead><tbody>"]
    for row in data.files:
        cells = "".join(f'<td class="num" data-v="{_exact(row.values[m])}">'
                        f"{fmt(row.values[m])}</td>" for m in data.metrics)
        out.append(f"<tr><td>{esc(row.name)}</td><td>{esc(row.system)}</td>{cells}"
                   f'<td class="num" data-v="{_exact(row.gain)}">{fmt(row.gain, True)}</td>'
                   "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def failures_list(data: PageData) -> str:
    if not data.failures:
        return ""
    items = "".join(f"<li><b>{esc(s)}</b>: {esc(n)}: {esc(m)}</li>"
                    for s, n, m in data.failures)
    return f"<h2>Not scored</h2><ul>{items}</ul>"


CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1400px;
padding:0 1em;color:#222}
h1{font-size:1.4em;overflow-wrap:anywhere}h2{margin-top:1.6em;border-bottom:1px solid #ccc}
h3{margin:.4em 0}.why{font-weight:normal;color:#666;font-size:.85em}
table{border-collapse:collapse;margin:.5em 0}
th,td{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.ci{color:#777;font-size:.85em}.paper{color:#888;border-top:2px solid #ccc}
.note{color:#555}.problem{color:#a00}
.plots{display:flex;flex-wrap:wrap;gap:8px}.plots img{max-width:100%}
.tracks{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:12px}
.track{border:1px solid #ddd;border-radius:6px;padding:6px}
.track h4{margin:0 0 4px}.track img{width:100%}.track audio{width:100%}
.scores td{text-align:right}.bar{max-width:480px;display:block}
table.sortable th{cursor:pointer;user-select:none;background:#f4f4f4;position:sticky;top:0}
th[data-dir=asc]::after{content:" ▲"}th[data-dir=desc]::after{content:" ▼"}
"""

# Click a header to sort by it; again to reverse. Numbers sort by their exact value
# (data-v), missing ones last; text sorts alphabetically.
SORT_JS = """
document.querySelectorAll("table.sortable th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0];
    var asc = th.dataset.dir !== "asc";
    table.querySelectorAll("th").forEach(function (h) { delete h.dataset.dir; });
    th.dataset.dir = asc ? "asc" : "desc";
    function key(tr) {
      var td = tr.cells[col];
      if (td.dataset.v === undefined) return td.textContent;
      var v = parseFloat(td.dataset.v);
      return isNaN(v) ? -Infinity : v;
    }
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      var c = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def page(data: PageData) -> str:
    """The whole index.html."""
    plots = "".join(f'<img src="{esc(img)}" alt="{esc(metric_header(m))} per file">'
                    for m, img in data.distributions)
    gain = (f'<img src="{esc(data.gain_image)}" alt="PESQ gain per file">'
            if data.gain_image else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
{GENERATOR}
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(data.title)}</title><style>{CSS}</style></head>
<body>
<h1>{esc(data.title)}</h1>
<p class="note">{esc(data.subtitle)}</p>
<h2 id="summary-h">Summary</h2>
<p class="note">Mean over the scored files; in brackets the 95% confidence interval of
the mean (Student t).</p>
{summary_table(data)}
<h3>Difference to {esc(data.reference)}</h3>
<p class="note">Per file, then averaged over the files both rows scored; in brackets
the 95% interval of that mean difference.</p>
{difference_table(data)}
<h2>Distributions</h2>
<div class="plots">{plots}</div>
<p class="note">{esc(data.gain_note)}</p>
<div class="plots">{gain}</div>
<h2>Listening</h2>
{listening_section(data)}
<h2>Per file</h2>
<p class="note">Click a column header to sort by it.</p>
{file_table(data)}
{failures_list(data)}
<script>{SORT_JS}</script>
</body></html>
"""
