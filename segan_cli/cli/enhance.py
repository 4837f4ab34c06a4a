"""``segan enhance``: denoise a recording or a folder: default model, checkpoint or Wiener."""

from __future__ import annotations

import contextlib
import functools
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from segan_cli.cli.common import (
    ConfigOpt,
    SetOpt,
    console,
    err_console,
    fail,
    settings_from,
    user_errors,
    worker_count,
)
from segan_cli.core import batch_enhance
from segan_cli.core.audio import audio_info
from segan_cli.core.temporaries import remove_stale
from segan_cli.errors import SeganError
from segan_cli.weights import default_model_note, is_default, resolve_checkpoint


@user_errors
def enhance(
    source: Annotated[Path, typer.Argument(help="A recording, or a folder of recordings.")],
    output: Annotated[Path | None, typer.Argument(help="Output file (file input).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (or file).")
                   ] = None,
    ckpt: Annotated[str | None, typer.Option(
        help="Checkpoint from `segan train`; default: the packaged default model.",
        show_default=False)] = None,
    method: Annotated[str, typer.Option(help="model or wiener.")] = "model",
    glob: Annotated[str, typer.Option(help="Files to take from a folder.")] = "*",
    workers: Annotated[int, typer.Option(help="Processes for folder runs.")] = 1,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or auto.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Windows per forward pass.")] = None,
    chunking: Annotated[str | None, typer.Option(
        help="ola (overlap-add, default) or paper (non-overlapping windows).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random latent z from this seed "
                                             "(default z = 0).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace existing outputs.")] = False,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Denoise IN to OUT: same rate, channels, length and sample format as the input."""
    settings = settings_from(config, sets, extra={"enhance": {
        "device": device, "batch_size": batch_size, "chunking": chunking, "seed": seed}})
    e = settings.enhance
    if output is not None and out is not None:
        raise SeganError("give the output either as OUTPUT or as --out, not both")
    workers = worker_count(workers)
    if method not in ("model", "wiener"):
        raise SeganError(f"unknown --method {method!r}", "use model or wiener")
    if method == "model":
        from segan_cli.core.inference import load_bundle

        path = resolve_checkpoint(ckpt)
        bundle = load_bundle(path, e.device)  # a bad checkpoint fails here, before any work
        options = (e.chunking, e.batch_size, e.block_seconds, e.seed, e.dc_block_hz)
        if workers > 1:  # each worker process loads the checkpoint itself
            factory = functools.partial(batch_enhance.model_enhancer, path, e.device, *options)
        else:
            factory = functools.partial(batch_enhance.bundle_enhancer, bundle, *options)
        label = f"{bundle.arch} checkpoint {path.name}"
        if is_default(ckpt):
            label = "the default model"
            err_console.print(f"[yellow]note:[/] {default_model_note(bundle)}",
                              highlight=False, soft_wrap=True)
    else:
        factory = functools.partial(batch_enhance.wiener_enhancer, e.block_seconds)
        label = "Wiener filter"
    jobs, skipped = batch_enhance.plan(source, output or out, glob, overwrite)
    remove_stale({job.dst.parent for job in jobs + skipped})  # left by a killed run
    single = source.is_file()
    if source.is_file():
        audio_info(source)  # a clear error before any work for a single bad file
    total_seconds = 0.0
    for job in jobs:
        try:
            total_seconds += audio_info(job.src).duration
        except SeganError:
            pass  # reported by name when its job runs
    if skipped:
        console.print(f"skipping {len(skipped)} file(s) whose output already exists")
    for entry, reason in batch_enhance.not_files(source, glob):
        err_console.print(f"[yellow]not enhanced:[/] {entry} ({reason})", highlight=False,
                          soft_wrap=True)
    failures: list[tuple[Path, str]] = []
    done_seconds = wall = 0.0
    t0 = time.perf_counter()
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                  TextColumn("{task.completed:.1f}/{task.total:.1f} s audio"),
                  TextColumn("RTF {task.fields[rtf]}"), TimeElapsedColumn(),
                  console=err_console, transient=single) as progress:
        task = progress.add_task(f"enhancing with {label}", total=max(total_seconds, 1e-9),
                                 rtf="-")
        fatal: str | None = None
        with contextlib.closing(batch_enhance.run(jobs, factory, workers)) as outcomes:
            for outcome in outcomes:
                if outcome.fatal:  # disk full or read-only: no later file can be written
                    fatal = outcome.error
                    break
                if outcome.error is not None:
                    failures.append((outcome.job.src, outcome.error))
                    if not single:  # a single file's error is the one line below
                        progress.console.print(f"[red]failed:[/] {outcome.job.src}: "
                                               f"{outcome.error}", highlight=False)
                    continue
                assert outcome.report is not None
                for note in outcome.report.warnings:
                    progress.console.print(f"[yellow]warning:[/] {note}", highlight=False,
                                           soft_wrap=True)
                done_seconds += outcome.report.seconds
                wall = time.perf_counter() - t0
                progress.update(task, advance=outcome.report.seconds,
                                rtf=f"{wall / done_seconds:.3f}" if done_seconds else "-")
    if fatal is not None:  # finished outputs stay; a re-run resumes after the fix
        raise fail(fatal)
    if single and failures:
        raise fail(failures[0][1])
    ok = len(jobs) - len(failures)
    where = jobs[0].dst if len(jobs) == 1 and single else (output or out)
    rtf = f", real-time factor {wall / done_seconds:.3f}" if done_seconds else ""
    console.print(f"enhanced {ok} file(s), {done_seconds:.1f} s of audio in {wall:.1f} s"
                  f"{rtf} -> [bold]{where}[/]")
    if failures:
        err_console.print(f"[bold red]{len(failures)} file(s) failed[/] (listed above); "
                          "the others are complete. Re-run to retry only the failed ones.")
        raise typer.Exit(1)
