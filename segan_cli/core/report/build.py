"""Build a report folder from scored rows: the one entry point the CLI calls.

Order of work: the charts, then the listening files (their WAVs and spectrograms),
then the page, all in a staged folder that becomes ``out`` only when complete (see
:mod:`.folder`). The numbers come from the rows' results as they are (see
:mod:`.numbers`); nothing is scored again.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from pathlib import Path

from segan_cli import __version__
from segan_cli.core.evaluation.plans import NOISY_LABEL, System, metric_header
from segan_cli.core.report import audio as report_audio
from segan_cli.core.report import html, plots, spectrograms
from segan_cli.core.report.choice import ListeningChoice, file_names
from segan_cli.core.report.folder import PAGE, folder_size, staged_folder
from segan_cli.core.report.numbers import (
    by_name,
    differences,
    file_rows,
    gains,
    paper_rows,
    reference,
)
from segan_cli.core.runtime.progress import Progress, SilentProgress
from segan_cli.errors import SeganError


@dataclass(frozen=True)
class ReportInfo:
    """What was written: the folder, its size in bytes, and how many images and WAVs."""

    path: Path
    size: int
    images: int
    audio: int
    files: list[str]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:40] or "x"


def build_report(out: Path, systems: list[System], choice: ListeningChoice, *, title: str,
                 metrics: tuple[str, ...], corpus_name: str = "", overwrite: bool = False,
                 progress: Progress | None = None) -> ReportInfo:
    """Write the report of scored ``systems`` to the folder ``out`` (see the package doc).

    ``out`` should have passed :func:`~.folder.check_report_dir` before the scoring;
    it is published here only when complete. Raises SeganError when nothing was scored.
    """
    progress = progress or SilentProgress()
    if not any(s.result is not None and s.result.rows for s in systems):
        raise SeganError("nothing was scored, so there is no report to write",
                         "see the messages above; no report folder was written")
    listen = choice.files()
    progress.start("writing the report", len(metrics) + 2 + len(listen))
    with staged_folder(Path(out), overwrite) as tmp:
        (tmp / "img").mkdir()
        (tmp / "audio").mkdir()
        distributions = []
        for metric in metrics:
            image = f"img/dist_{metric}.png"
            plots.distribution_plot(tmp / image, metric_header(metric), [
                (s.label, [r[metric] for r in s.result.rows]) for s in systems
                if s.result is not None])
            distributions.append((metric, image))
            progress.advance()
        gain_image, gain_note = _gain_chart(tmp, systems)
        progress.advance()
        panels = []
        for i, (name, why) in enumerate(listen):
            panels.append(_listening_file(tmp, i, name, why, systems))
            progress.advance()
        bar = None
        if panels:
            bar = "img/colour_scale.png"
            spectrograms.colour_bar(tmp / bar)
        ref = reference(systems)
        rows = [html.SummaryRow(
            s.label, s.result.summary, s.result.n_scored, s.result.n_total,
            differences(s, ref, metrics) if ref is not None and s is not ref else None)
            for s in systems if s.result is not None]
        data = html.PageData(
            title=title,
            subtitle=(f"{len(file_names(systems))} files · {len(systems)} rows · "
                      f"segan {__version__} · written "
                      f"{_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}"),
            metrics=metrics, rows=rows, paper=paper_rows(corpus_name),
            distributions=distributions, gain_image=gain_image, gain_note=gain_note,
            colour_bar=bar, listening=panels, listening_note=_listening_note(choice),
            files=file_rows(systems, metrics),
            failures=[(s.label, f.name, f.message) for s in systems if s.result is not None
                      for f in s.result.failures],
            reference=ref.label if ref is not None else NOISY_LABEL)
        (tmp / PAGE).write_text(html.page(data), encoding="utf-8",  # odd file names escaped
                                errors="backslashreplace")
        progress.advance()
        size = folder_size(tmp)
        images = sum(1 for _ in (tmp / "img").iterdir())
        n_audio = sum(1 for _ in (tmp / "audio").iterdir())
    return ReportInfo(Path(out), size, images, n_audio, [n for n, _ in listen])


def _gain_chart(tmp: Path, systems: list[System]) -> tuple[str | None, str]:
    ref = reference(systems)
    rows = [(s.label, i, gains(s, ref)) for i, s in enumerate(systems)
            if s is not ref and s.result is not None and s.result.rows]
    if ref is None or not by_name(ref) or not rows:
        return None, ("No PESQ-gain chart: it needs a Noisy row and another scored row.")
    image = "img/pesq_gain.png"
    plots.gain_plot(tmp / image, by_name(ref), rows)
    return image, ("Each dot is a file: how much a system raised its PESQ over the noisy "
                   "input, against how hard the input was.")


def _listening_file(tmp: Path, index: int, name: str, why: str, systems: list[System]
                    ) -> html.ListeningFile:
    """Write one listening file's WAVs and spectrograms; its panels for the page."""
    found, rate = report_audio.tracks(name, systems)
    ref = reference(systems)
    ref_rows = by_name(ref) if ref is not None else {}
    panels, images, signals = [], [], []
    for j, track in enumerate(found):
        stem = f"{index:02d}_{j}_{_slug(name)}_{_slug(track.label)}"
        panel = html.Panel(track.label, None, None, problem=track.problem)
        if track.system is not None and track.system is not ref:
            row = by_name(track.system).get(name)
            panel.scores = row
            base = ref_rows.get(name)
            if row is not None and base is not None:
                panel.gain = row["pesq"] - base["pesq"]
            if row is None and not panel.problem:
                panel.problem = _failure(track.system, name)
        elif track.system is not None:  # the Noisy row: its own scores, no gain
            panel.scores = ref_rows.get(name)
        if track.signal is not None and track.signal.size:
            panel.audio = f"audio/{stem}.wav"
            report_audio.write_wav16(tmp / panel.audio, track.signal, rate)
            panel.image = f"img/spec_{stem}.png"
            images.append(tmp / panel.image)
            signals.append(track.signal)
        panels.append(panel)
    if signals:
        spectrograms.spectrogram_panels(images, signals, rate)
    return html.ListeningFile(name, why, panels)


def _failure(system: System, name: str) -> str:
    if system.result is not None:
        for failure in system.result.failures:
            if failure.name == name:
                return f"not scored: {failure.message}"
    return "not scored"


def _listening_note(choice: ListeningChoice) -> str:
    if choice.names is not None:
        return "The files asked for, each beside its noisy input and clean reference."
    row = choice.ranking_row
    what = (f"PESQ gain of {row.label} over Noisy" if row is not None
            and reference(choice.systems) not in (None, row) else "PESQ")
    n = len(choice.files())
    spread = ("the best, the median and the worst file" if n == 3 else
              f"{n} files spread evenly from best to worst")
    return (f"{spread[0].upper()}{spread[1:]} by {what}. Spectrograms share one colour "
            "scale per file (below); the scores are that system's for that file.")

