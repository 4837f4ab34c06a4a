"""The report page's HTML against pages written by the f-string version (golden files).

Two pages cover every branch of the page: one with everything (a Noisy row and
differences, the paper's rows, intervals and single-file rows, NaN values, every kind of
listening panel, failures) and a bare one (no reference row, nothing to listen to). Names
carry markup, quotes and ampersands, so escaping is checked too. Pages are compared as a
browser reads them (tags, attributes and text with character references resolved), so
``&quot;`` and ``&#34;`` count as the same page. Regenerate the golden files only for an
intended change of the page: ``python -m tests.test_report_page``.
"""

from __future__ import annotations

import math
from html.parser import HTMLParser
from pathlib import Path

from segan_cli.core.metrics import MetricSummary
from segan_cli.core.report.html import ListeningFile, PageData, Panel, SummaryRow, page
from segan_cli.core.report.numbers import FileRow

GOLDEN = Path(__file__).resolve().parent / "golden"
METRICS = ("pesq", "stoi", "si_sdr")
NAN = math.nan
ODD = "<b>Mine</b> & \"co\"'s"  # a label a user may choose: markup, quotes, ampersand


def _stat(mean: float, count: int = 12) -> MetricSummary:
    return MetricSummary(mean, 0.3, mean - 0.1, mean + 0.125, count)


def full_page() -> PageData:
    """A page with every section filled and every branch taken."""
    summary = {"pesq": _stat(1.97), "stoi": _stat(0.921, 1), "si_sdr": _stat(NAN, 0)}
    differences = {"pesq": _stat(0.45), "stoi": _stat(-0.012), "si_sdr": _stat(3.5, 1)}
    return PageData(
        title=f"Report of {ODD}",
        subtitle="3 files · 2 rows · segan 0.1.0 · written 2026-12-03 14:00",
        metrics=METRICS,
        rows=[SummaryRow("Noisy", summary, 12, 12),
              SummaryRow(ODD, summary, 11, 12, differences)],
        paper={"SEGAN (paper)": {"pesq": 2.16, "stoi": 0.93}, "Wiener (paper)": {}},
        distributions=[("pesq", "img/dist_pesq.png"), ("si_sdr", "img/dist_<si>.png")],
        gain_image="img/pesq_gain.png",
        gain_note="Each dot is a file & its gain.",
        colour_bar="img/colour_scale.png",
        listening=[ListeningFile("p232_001 <x>.wav", "the largest gain", [
            Panel("Clean", "img/a.png", "audio/a.wav"),
            Panel("Noisy", "img/b.png", "audio/b.wav", {"pesq": 1.5, "stoi": 0.9,
                                                         "si_sdr": 8.25}),
            Panel(ODD, None, "audio/c.wav", {"pesq": 2.0, "stoi": NAN, "si_sdr": 9.0},
                  gain=0.5),
            Panel("Broken", None, None, problem="not scored: <empty> & silent"),
        ])],
        listening_note="Files chosen for their gains & losses.",
        files=[FileRow("p232_001 <x>.wav", "Noisy", {"pesq": 1.5, "stoi": 0.9,
                                                    "si_sdr": 8.25}, NAN),
               FileRow("p232_001 <x>.wav", ODD, {"pesq": 2.0, "stoi": NAN, "si_sdr": 9.0},
                       0.5),
               FileRow("it's \"quoted\".wav", ODD, {"pesq": -0.25, "stoi": 0.5,
                                                   "si_sdr": -3.0}, -1.0)],
        failures=[(ODD, "bad <1>.wav", "unreadable: \"header\" & more")],
        reference="Noisy")


def bare_page() -> PageData:
    """No reference row, no gain chart, nothing to listen to, nothing failed."""
    summary = {m: _stat(2.0) for m in METRICS}
    return PageData(
        title="plain", subtitle="1 file", metrics=METRICS,
        rows=[SummaryRow("Wiener", summary, 1, 1)], paper={}, distributions=[],
        gain_image=None, gain_note="No PESQ-gain chart.", colour_bar=None, listening=[],
        listening_note="Nothing to listen to.", files=[], failures=[], reference="<Noisy>")


PAGES = {"report_page_full.html": full_page, "report_page_bare.html": bare_page}


class _Events(HTMLParser):
    """Start tags with their attributes, end tags and text, as a browser parses them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.events.append(("start", tag, tuple(attrs)))

    def handle_endtag(self, tag: str) -> None:
        self.events.append(("end", tag))

    def handle_data(self, data: str) -> None:
        self.events.append(("text", data))

    def handle_decl(self, decl: str) -> None:
        self.events.append(("decl", decl))


def parsed(text: str) -> list[tuple]:
    parser = _Events()
    parser.feed(text)
    parser.close()
    return parser.events


def test_pages_read_as_the_golden_pages() -> None:
    for name, build in PAGES.items():
        expected = parsed((GOLDEN / name).read_text(encoding="utf-8"))
        got = parsed(page(build()))
        assert got == expected, name


def test_user_text_is_escaped() -> None:
    text = page(full_page())
    assert "<b>Mine" not in text and "<x>" not in text and "<empty>" not in text
    assert ("text", f"Report of {ODD}") in parsed(text)


if __name__ == "__main__":
    for name, build in PAGES.items():
        (GOLDEN / name).write_text(page(build()), encoding="utf-8")
