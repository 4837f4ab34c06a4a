"""``segan evaluate``: the paper's table (PESQ, CSIG, CBAK, COVL, SSNR, STOI) plus SI-SDR."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Annotated

import typer

from segan_cli.cli.common import (
    ConfigOpt,
    EvaluateSetOpt,
    console,
    err_console,
    fail,
    from_settings,
    settings_from,
    shown,
    titled_table,
    user_errors,
    worker_count,
)
from segan_cli.cli.log_progress import progress_sink
from segan_cli.core.io.files import write_text_atomic
from segan_cli.core.io.output_guard import check_output, resolve_output, same_file
from segan_cli.errors import SeganError
from segan_cli.weights import is_default, resolve_checkpoint


def _fmt(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f}"


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


@user_errors
def evaluate(
    data: Annotated[Path | None, typer.Option("--data", "-d",
                                              help="Corpus made by `segan prepare`.")] = None,
    split: Annotated[str, typer.Option(help="Corpus split to score.")] = "test",
    ckpt: Annotated[list[str] | None, typer.Option(
        help="Checkpoint(s) to add as rows (repeatable; 'default' for the packaged model)."
    )] = None,
    wiener: Annotated[bool, typer.Option("--wiener/--no-wiener",
                                         help="Include the Wiener baseline row.")] = True,
    clean: Annotated[Path | None, typer.Option(help="Clean reference folder.")] = None,
    enhanced: Annotated[list[Path] | None, typer.Option(
        help="Enhanced folder(s) to score against --clean (repeatable).")] = None,
    name: Annotated[list[str] | None, typer.Option(
        help="Row label for each --enhanced folder, or each --ckpt (in order).")] = None,
    baseline: Annotated[list[str] | None, typer.Option(
        "--baseline", metavar="ROW", show_default="Noisy, when there is that row",
        help="Compare every other row with this one, file by file: mean difference and "
             "its paired 95% interval (repeatable).")] = None,
    mode: Annotated[str | None, typer.Option(
        help="standard (composites clipped to [1,5]) or paper (MATLAB-compatible).",
        show_default=from_settings("evaluate.mode"))] = None,
    workers: Annotated[int | None, typer.Option(
        help="Scoring processes, capped at the usable cores.",
        show_default=from_settings("evaluate.workers", "all usable cores"))] = None,
    resample: Annotated[bool | None, typer.Option(
        "--resample", help="Resample mismatched rates instead of failing.")] = None,
    estoi: Annotated[bool, typer.Option("--estoi", help="Also compute extended STOI.")
                     ] = False,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Write per-file values.")
                        ] = None,
    json_path: Annotated[Path | None, typer.Option(
        "--json", help="Write means, std and 95% confidence intervals.")] = None,
    device: Annotated[str | None, typer.Option(
        help="Device for checkpoints: auto, cpu, cuda, cuda:1, mps.",
        show_default=from_settings("enhance.device"))] = None,
    dry: Annotated[float | None, typer.Option(
        help="Share of the input mixed back into each checkpoint's output, 0..1 "
             "(default: each model's own).", show_default=False)] = None,
    report: Annotated[Path | None, typer.Option(
        "--report", metavar="DIR", show_default=False,
        help="Write a report folder (DIR/index.html with charts, spectrograms and audio; "
             "opens offline).")] = None,
    report_files: Annotated[list[str] | None, typer.Option(
        "--report-files", metavar="N|NAME,...", show_default=False,
        help="Files to hear in the report: a count (default 3: best, median, worst by "
             "PESQ gain) or file names (repeatable).")] = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace existing --csv/--json files and a previous --report folder.")
                         ] = False,
    config: ConfigOpt = None,
    sets: EvaluateSetOpt = None,
) -> None:
    """Score a corpus split (Noisy, Wiener, checkpoints) or folders of enhanced files.

    Means with 95% intervals of PESQ, CSIG, CBAK, COVL, SSNR, STOI and SI-SDR, beside
    the paper's rows on VoiceBank-DEMAND. `--csv` keeps every file's scores, `--json`
    the summary, `--report` a page to listen to and look at.

    **Examples**

    ```
    segan evaluate --data data/demo --ckpt default --ckpt runs/try/best.ckpt
    segan evaluate --clean test/clean --enhanced out/a --enhanced out/b --json s.json
    segan evaluate --data data/demo --ckpt default --report report/
    ```
    """
    from segan_cli.core.evaluation.paired import baseline_rows, comparisons
    from segan_cli.core.evaluation.plans import (
        PAPER_ROWS,
        VOICEBANK_NAME,
        corpus_systems,
        folder_systems,
        metric_header,
        score_systems,
        table_columns,
    )
    from segan_cli.core.report import (
        ListeningChoice,
        build_report,
        check_report_dir,
        parse_files,
    )

    settings = settings_from(config, sets, extra={
        "evaluate": {"mode": mode, "workers": workers, "resample": resample,
                     "extended_stoi": estoi or None},
        "enhance": {"device": device, "dry": dry}})
    ev = settings.evaluate
    n_workers = worker_count(ev.workers)
    if (data is None) == (clean is None):
        raise SeganError("say what to score",
                         "give --data CORPUS, or --clean DIR with --enhanced DIR")
    if clean is not None and not enhanced:
        raise SeganError("--clean needs at least one --enhanced folder")
    if clean is not None and ckpt:
        raise SeganError("--ckpt scores a model on a corpus: use it with --data",
                         "or enhance the files first and pass the folder as --enhanced")
    inputs = _inputs(ckpt, config, data, clean, enhanced)
    for path in (csv_path, json_path):
        if path is not None:  # before scoring; the write itself is guarded again
            check_output(path, overwrite, inputs)
    if csv_path is not None and json_path is not None and same_file(csv_path, json_path):
        raise SeganError(f"--csv and --json name one file: {csv_path}")
    if report_files and report is None:
        raise SeganError("--report-files chooses files for --report: give --report DIR too")
    files_spec = parse_files(report_files)
    report_dir = None
    if report is not None:  # before scoring; the folder is staged and published at the end
        given = [p for p in (clean, *(enhanced or [])) if p is not None]
        report_dir = check_report_dir(report, overwrite, [*given, *inputs])
        for path in (csv_path, json_path):
            if path is not None and resolve_output(path).is_relative_to(report_dir):
                raise SeganError(f"{path} is inside the report folder {report}",
                                 "write --csv/--json elsewhere: the report is written whole")
    corpus_name = ""
    page_title = ""
    with progress_sink() as progress:
        if data is not None:
            manifest, systems = corpus_systems(
                data, split, ckpt, wiener, settings.enhance.device, settings.enhance.chunking,
                settings.enhance.batch_size, progress, settings.enhance.dc_block_hz,
                settings.enhance.requested_dry, name)
            corpus_name = manifest.name
            title = (f"{manifest.name} {split} split: {len(systems[0].pairs)} files "
                     f"({ev.mode} metrics)")
            page_title = title
        else:
            assert clean is not None and enhanced is not None
            systems = folder_systems(clean, enhanced, name)
            title = f"{clean}: {len(systems[0].pairs)} files matched ({ev.mode} metrics)"
            # the page names the folder, not its absolute path (it overflowed at 420 px)
            page_title = title.replace(str(clean), clean.resolve().name, 1)
        try:  # a misspelt row name fails before the scoring, not after
            baselines = baseline_rows(systems, baseline)
        except ValueError as exc:
            raise SeganError(f"--baseline: {exc}", "give a row label as shown in the table "
                             "(--name sets those of --enhanced folders and --ckpt rows)"
                             ) from None
        for system in systems:
            for note in system.notes:
                progress.note(note)
        choice = ListeningChoice(files_spec, systems) if report_dir is not None else None
        score_systems(systems, n_workers, ev.mode, ev.resample, ev.extended_stoi, progress,
                      keep=choice)

    table = titled_table(title)
    table.add_column("system")
    cols = table_columns(ev.extended_stoi)
    for col in cols:
        table.add_column(metric_header(col), justify="right")
    table.add_column("scored", justify="right")
    any_scored = False
    versus = comparisons(systems, baselines, cols)
    for system in systems:
        res = system.result
        assert res is not None
        any_scored |= res.n_scored > 0
        table.add_row(shown(system.label), *(_fmt(res.summary[c].mean) if c in res.summary else "-"
                                      for c in cols), f"{res.n_scored}/{res.n_total}")
        for base, diffs in versus.get(system.label, {}).items():
            pairs = diffs[cols[0]].summary.count
            table.add_row(f"  Δ vs {shown(base)}", *(diffs[c].text() for c in cols),
                          f"[dim]{pairs} paired[/]")
    if versus:
        table.caption = ("Δ: the row minus its baseline, file by file over the files both "
                         "scored; ± the paired 95% interval")
        table.caption_justify = "left"
    if corpus_name == VOICEBANK_NAME:
        table.add_section()
        for label, row in PAPER_ROWS.items():
            table.add_row(f"[dim]{label}[/]", *(f"[dim]{_fmt(row.get(c))}[/]" for c in cols),
                          "[dim]824[/]")
    failures = [(s.label, f) for s in systems if s.result is not None for f in s.result.failures]
    # nothing scored: nothing to show, write or report; say why (one line for one file)
    unwritten = "; no report was written" if report_dir is not None else ""
    if any_scored:
        console.print(table)
    elif len(failures) == 1:
        label, failure = failures[0]
        raise fail(f"no file could be scored: {label}: {failure.name}: {failure.message}"
                   + unwritten)
    for label, failure in failures:
        err_console.print(f"[yellow]not scored[/] {shown(label)}: {shown(failure.name)}: "
                          f"{shown(failure.message)}", highlight=False, soft_wrap=True)
    if not any_scored:
        raise fail("no file could be scored (see the messages above)" + unwritten)
    warned = {w.message for s in systems if s.result is not None for w in s.result.warnings}
    for message in sorted(warned):  # one line per file, however many rows read it
        err_console.print(f"[yellow]warning:[/] {shown(message)}", highlight=False,
                          soft_wrap=True)
    if csv_path is not None:
        _write_csv(csv_path, systems, cols, overwrite, inputs)
        console.print(f"per-file values written to [bold]{shown(csv_path)}[/]",
                      highlight=False, soft_wrap=True)
    if json_path is not None:
        write_text_atomic(json_path, json.dumps(
            {"title": title,
             "systems": {s.label: {**s.result.to_dict(), "paired": {
                 base: {m: d.to_dict() for m, d in diffs.items()}
                 for base, diffs in versus.get(s.label, {}).items()}}
                 for s in systems if s.result is not None},
             "paired_note": "paired: row minus baseline over the files both scored; mean, "
                            "Student-t 95% interval, two-sided paired t-test p-value"},
            indent=1), overwrite, inputs)
        console.print(f"summary written to [bold]{shown(json_path)}[/]", highlight=False,
                      soft_wrap=True)
    if report_dir is not None and choice is not None:
        with progress_sink(transient=True) as progress:
            info = build_report(report_dir, systems, choice, title=page_title, metrics=cols,
                                corpus_name=corpus_name, overwrite=overwrite,
                                progress=progress)
        console.print(f"report written to [bold]{shown(report)}[/]/index.html: "
                      f"{_size(info.size)} ({info.images} images, {info.audio} audio files)",
                      highlight=False, soft_wrap=True)


def _inputs(ckpt: list[str] | None, config: Path | None, data: Path | None,
            clean: Path | None, enhanced: list[Path] | None) -> list[Path]:
    """Every file this run reads, which no output may replace even with --overwrite:
    checkpoints, the settings file, the corpus' own files, the recordings scored."""
    from segan_cli.core.data.pipeline.corpus import corpus_inputs
    from segan_cli.core.data.sources.pairs import list_audio

    inputs = [resolve_checkpoint(c) for c in ckpt or [] if not is_default(c)]
    inputs += [config] if config is not None else []
    inputs += corpus_inputs(data) if data is not None else []
    for folder in (clean, *(enhanced or [])):
        if folder is not None and Path(folder).is_dir():
            inputs += list_audio(folder).values()
    return inputs


def _write_csv(path: Path, systems: list, cols: tuple[str, ...], overwrite: bool,
               inputs: list[Path]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf)
    extra = ("llr", "wss")
    writer.writerow(["system", "file", *cols, *extra, "error", "note"])
    for system in systems:
        res = system.result
        for row in res.rows:
            writer.writerow([system.label, row["name"], *(f"{row[c]:.6f}" for c in cols),
                             *(f"{row[c]:.6f}" for c in extra), "", row.get("note", "")])
        for failure in res.failures:
            writer.writerow([system.label, failure.name, *([""] * (len(cols) + 2)),
                             failure.message, ""])
    write_text_atomic(path, buf.getvalue(), overwrite, inputs)
