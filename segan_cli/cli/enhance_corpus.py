"""``segan enhance SRC --out DST`` at corpus scale: across devices and nodes, or from a
glob or a list file.

With ``--devices``, ``--num-nodes``, ``--strategy`` or ``--accelerator`` the run goes
through Lightning's predict loop (:mod:`segan_cli.core.enhancement.corpus.predict`); a glob or a
list file without them runs on the folder run's process pool (``--workers``). Both
write ``DST/failures.csv`` and print one summary. Under several processes only rank 0
prints: every rank runs this same command (started by Lightning, torchrun or srun).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from segan_cli.cli.common import console, err_console, fail, shown, worker_count
from segan_cli.core.enhancement import batch_enhance
from segan_cli.core.enhancement.batch_enhance import Job
from segan_cli.core.enhancement.corpus.inputs import is_corpus_source, plan_source
from segan_cli.core.enhancement.corpus.report import CorpusResult, Tally, write_failures
from segan_cli.core.io.temporaries import remove_stale
from segan_cli.errors import SeganError
from segan_cli.settings import EnhanceSettings
from segan_cli.weights import default_model_note, is_default, resolve_checkpoint

SHOWN_FAILURES = 20  # failed files named on the console; all of them are in failures.csv


def wanted(paths: list[Path], out: Path | None, lightning_flags: dict[str, Any]) -> bool:
    """Whether this is a corpus run: a Lightning flag given, or one glob or list SRC."""
    if any(v is not None for v in lightning_flags.values()):
        return True
    return len(paths) == 1 and str(paths[0]) != "-" and is_corpus_source(paths[0])


def run(paths: list[Path], out: Path | None, lightning_flags: dict[str, Any], *,
        method: str, ckpt: str | None, e: EnhanceSettings, device_flag: str | None,
        glob: str, workers: int, overwrite: bool) -> None:
    """The whole corpus run; raises typer.Exit with the run's exit code."""
    distributed = any(v is not None for v in lightning_flags.values())
    src = _one_source(paths, out)
    assert out is not None
    trainer = None
    if distributed:
        if device_flag is not None:
            raise SeganError("--device picks the device of a single-process run; with "
                             "--accelerator/--devices Lightning gives each process its own",
                             "drop --device")
        if workers != 1:
            raise SeganError("--workers is for single-process runs",
                             "with Lightning, --devices N starts N processes")
        trainer = _trainer(lightning_flags)
        if not trainer.is_global_zero:  # every rank runs this command; rank 0 speaks
            console.quiet = err_console.quiet = True
    else:
        workers = worker_count(workers)
    todo, skipped, passed = _plan(src, out, glob, overwrite)
    for entry, reason in passed:
        err_console.print(f"[yellow]not enhanced:[/] {shown(entry)} ({shown(reason)})",
                          highlight=False, soft_wrap=True)
    remove_stale({job.dst.parent for job in todo + skipped})  # left by a killed run
    if skipped:
        console.print(f"skipping {len(skipped)} file(s) whose output already exists")
    factory, generator, label = _enhancer(method, ckpt, e) if todo else (None, None, "")
    t0 = time.perf_counter()
    if not todo:
        tally = Tally()
    elif trainer is not None:
        tally = _predict(todo, factory, generator, trainer, label)
    else:
        tally = _pool(todo, factory, workers, label)
    processes = trainer.world_size if trainer is not None else workers
    if trainer is not None and not trainer.is_global_zero:  # the same exit code, silently
        raise typer.Exit(2 if tally.fatal else 1 if tally.failures or passed else 0)
    if tally.fatal is not None:  # finished outputs stay; a rerun resumes after the fix
        raise fail(tally.fatal)
    failures = tally.failures + [(os.fspath(p), why) for p, why in passed]
    result = CorpusResult(tally, processes, time.perf_counter() - t0,
                          write_failures(out, failures))
    _summary(result, failures, out)
    if failures:
        raise typer.Exit(1)


def _one_source(paths: list[Path], out: Path | None) -> Path:
    if len(paths) != 1 or str(paths[0]) == "-":
        raise SeganError("a corpus run takes one SRC: a folder, a quoted glob or a list "
                         "file", "enhance several folders or pipes in runs of their own")
    if out is None:
        raise SeganError(f"{paths[0]} names a corpus: say where the outputs go",
                         "pass --out OUT_DIR")
    return paths[0]


def _trainer(flags: dict[str, Any]) -> Any:
    from segan_cli.core.enhancement.corpus.predict import (
        PublishWriter,
        StopOnSignal,
        build_trainer,
    )

    devices = flags.get("devices")
    dev: int | str = "auto" if devices is None else \
        int(devices) if str(devices).isdigit() else str(devices)
    return build_trainer(flags.get("accelerator") or "auto", dev, flags.get("num_nodes") or 1,
                         flags.get("strategy") or "auto", [PublishWriter(), StopOnSignal()])


def _plan(src: Path, out: Path, glob: str, overwrite: bool
          ) -> tuple[list[Job], list[Job], list[tuple[Path, str]]]:
    if is_corpus_source(src):
        if glob != "*":
            raise SeganError("--glob selects files of a folder SRC",
                             "put the pattern in SRC itself, quoted: 'data/**/*.wav'")
        return plan_source(src, out, overwrite)
    if not src.exists():
        raise SeganError(f"input not found: {src}")
    if src.is_file():  # one recording: into the folder, as with several inputs
        todo, skipped = batch_enhance.plan_many([src], out, glob, overwrite)
        return todo, skipped, []
    passed = batch_enhance.not_enhanced(src, glob)
    todo, skipped = batch_enhance.plan(src, out, glob, overwrite)
    return todo, skipped, passed


def _enhancer(method: str, ckpt: str | None, e: EnhanceSettings
              ) -> tuple[Callable[[], batch_enhance.FileEnhancer], Any, str]:
    """(what makes a file enhancer, the generator to put on the device, the label)."""
    if method == "wiener":
        return (functools.partial(batch_enhance.wiener_enhancer, e.block_seconds,
                                  e.requested_dry or 0.0), None, "Wiener filter")
    from segan_cli.core.enhancement.inference import load_bundle

    path = resolve_checkpoint(ckpt)
    bundle = load_bundle(path, "cpu")  # a bad checkpoint fails here, before any work
    factory = functools.partial(batch_enhance.bundle_enhancer, bundle, e.chunking,
                                e.batch_size, e.block_seconds, e.seed, e.dc_block_hz,
                                e.requested_dry)
    factory()  # the options are checked once, before the processes start
    if not is_default(ckpt):
        return factory, bundle.generator, f"{bundle.arch} checkpoint {shown(path.name)}"
    err_console.print(f"[yellow]note:[/] {default_model_note(bundle)}", highlight=False,
                      soft_wrap=True)
    return factory, bundle.generator, "the default model"


def _progress() -> Progress:
    return Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                    MofNCompleteColumn(), TextColumn("files"), TimeElapsedColumn(),
                    console=err_console)


def _predict(todo: list[Job], factory: Callable[[], batch_enhance.FileEnhancer],
             generator: Any, trainer: Any, label: str) -> Tally:
    from segan_cli.core.enhancement.corpus.predict import PublishWriter, Stopped, predict_corpus

    world = trainer.world_size
    writer = next(cb for cb in trainer.callbacks if isinstance(cb, PublishWriter))
    with _progress() as progress:
        share = -(-len(todo) // world)
        task = progress.add_task(f"enhancing with {label}" + (
            f" (rank 0 of {world} processes)" if world > 1 else ""), total=share)
        writer.on_file = lambda staged: _file_done(progress, task, staged)
        try:
            return predict_corpus(todo, factory, generator, trainer)
        except Stopped as stop:
            raise _stopped(stop.signum) from None


def _pool(todo: list[Job], factory: Callable[[], batch_enhance.FileEnhancer], workers: int,
          label: str) -> Tally:
    tally = Tally()
    t0, cpu0 = time.perf_counter(), time.process_time()
    with _progress() as progress:
        task = progress.add_task(f"enhancing with {label}", total=len(todo))
        for outcome in batch_enhance.run(todo, factory, workers):
            progress.advance(task)
            if outcome.fatal:
                tally.fatal = outcome.error
                break
            if outcome.error is not None:
                tally.failures.append((os.fspath(outcome.job.src), outcome.error))
                continue
            assert outcome.report is not None
            tally.done += 1
            tally.seconds += outcome.report.seconds
            for note in outcome.report.warnings:
                progress.console.print(f"[yellow]warning:[/] {shown(note)}", highlight=False,
                                       soft_wrap=True)
    tally.wall = time.perf_counter() - t0
    if workers <= 1:  # worker processes' CPU time is not this process's
        tally.cpu = tally.cpu_max = time.process_time() - cpu0
    return tally


def _file_done(progress: Progress, task: Any, staged: Any) -> None:
    progress.advance(task)
    for note in staged.warnings:
        progress.console.print(f"[yellow]warning:[/] {shown(note)}", highlight=False,
                               soft_wrap=True)


def _stopped(signum: int) -> typer.Exit:
    import signal

    word, code = ("terminated", 143) if signum == signal.SIGTERM else ("interrupted", 130)
    err_console.print(f"[yellow]{word}[/]: finished files are kept; re-run the same command "
                      "to resume")
    return typer.Exit(code)


def _summary(result: CorpusResult, failures: list[tuple[str, str]], out: Path) -> None:
    t = result.tally
    per = f" on {result.processes} processes" if result.processes > 1 else ""
    rtf = f", real-time factor {result.rtf:.3f}" if t.seconds else ""
    cpu = f", {t.cpu:.1f} CPU-s" if t.cpu else ""
    if t.cpu and result.processes > 1:
        cpu += f", at most {t.cpu_max:.1f} in one process"
    console.print(f"enhanced {t.done} file(s), {t.seconds / 3600:.3f} h of audio "
                  f"({t.seconds:.1f} s) in {result.wall:.1f} s{per} ({t.wall:.1f} s "
                  f"enhancing{cpu}){rtf}; "
                  f"{len(failures)} failed -> [bold]{shown(out)}[/]", highlight=False,
                  soft_wrap=True)
    for path, why in sorted(t.failures)[:SHOWN_FAILURES]:  # passed-over ones were named
        err_console.print(f"[red]failed:[/] {shown(path)}: {shown(why)}", highlight=False,
                          soft_wrap=True)
    if failures:
        more = len(failures) - SHOWN_FAILURES
        err_console.print(f"[bold red]{len(failures)} file(s) failed or were not enhanced[/]"
                          f" (all listed in {shown(result.failures_file)}"
                          + (f"; {more} more than shown" if more > 0 else "") +
                          "); the others are complete. Re-run to retry only those.",
                          highlight=False, soft_wrap=True)
