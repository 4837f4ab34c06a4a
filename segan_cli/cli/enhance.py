"""``segan enhance``: denoise a recording or a folder: default model, checkpoint or Wiener.

``-`` as the input reads a recording from standard input, as the output writes WAV to
standard output; then nothing but the audio goes to standard output.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO, Literal

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from segan_cli import Denoiser
from segan_cli.cli import enhance_corpus
from segan_cli.cli.common import (
    ConfigOpt,
    EnhanceSetOpt,
    console,
    err_console,
    fail,
    from_settings,
    settings_from,
    shown,
    user_errors,
    worker_count,
)
from segan_cli.core.enhancement import batch_enhance
from segan_cli.core.io.audio import AudioSource, audio_info, write_format
from segan_cli.core.io.output_guard import check_output, same_file
from segan_cli.core.io.temporaries import remove_stale
from segan_cli.errors import SeganError
from segan_cli.settings import EnhanceSettings
from segan_cli.weights import default_model_note, is_default, resolve_checkpoint

if TYPE_CHECKING:
    from segan_cli.core.enhancement.pipe_stream import PipeSource


@user_errors
def enhance(
    paths: Annotated[list[Path], typer.Argument(
        metavar="INPUT... [OUTPUT]", show_default=False,
        help="Recordings (any format libsndfile reads) or folders, - for standard input; "
             "then the output file, unless --out is given. With one input and no output, "
             "the output is INPUT.enhanced.EXT beside it.")],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output folder (several inputs, a folder) or file (one input).")
                   ] = None,
    ckpt: Annotated[str | None, typer.Option(
        help="Checkpoint from `segan train`; default: the packaged default model.",
        show_default=False)] = None,
    method: Annotated[Literal["model", "wiener"], typer.Option(
        help="model (the default model or --ckpt) or wiener (the baseline filter).")
                      ] = "model",
    glob: Annotated[str, typer.Option(help="Files to take from a folder.")] = "*",
    workers: Annotated[int, typer.Option(help="Processes for folder runs.")] = 1,
    device: Annotated[str | None, typer.Option(
        help="auto, cpu, cuda, cuda:1, mps: what torch takes.",
        show_default=from_settings("enhance.device"))] = None,
    batch_size: Annotated[int | None, typer.Option(
        help="Windows per forward pass.", show_default=from_settings("enhance.batch_size"))
    ] = None,
    chunking: Annotated[str | None, typer.Option(
        help="ola (overlap-add) or paper (non-overlapping windows).",
        show_default=from_settings("enhance.chunking"))] = None,
    seed: Annotated[int | None, typer.Option(help="Random latent z from this seed "
                                             "(default z = 0).")] = None,
    dry: Annotated[float | None, typer.Option(
        help="Share of the input mixed back into the output, 0..1, for a model or "
             "Wiener (default: the model's own, 0 unless it was packaged with one; 0 for "
             "Wiener). 1 returns the input bit for bit, running nothing.",
        show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")
                         ] = False,
    accelerator: Annotated[str | None, typer.Option(
        help="Corpus run on Lightning's predict loop: cpu, gpu, mps or auto.",
        show_default=False)] = None,
    devices: Annotated[str | None, typer.Option(
        help="Corpus run: processes (devices) per node, e.g. 4 or 0,1.", show_default=False)
    ] = None,
    num_nodes: Annotated[int | None, typer.Option(
        help="Corpus run: machines (one `segan enhance` per process, e.g. under srun).",
        show_default=False)] = None,
    strategy: Annotated[str | None, typer.Option(
        help="Corpus run: auto or ddp (Lightning's).", show_default=False)] = None,
    config: ConfigOpt = None,
    sets: EnhanceSetOpt = None,
) -> None:
    """Denoise recordings or folders: the default model, a checkpoint, or Wiener.

    `segan enhance IN OUT` writes one file; `segan enhance IN` writes `IN.enhanced.EXT`
    beside it; `segan enhance A B C --out DIR` enhances several inputs into DIR (a
    folder input keeps its tree under DIR/NAME). The output keeps the input's rate,
    channels and length, and its sample format when the output's container takes it
    (else that container's default). Folder runs keep the folder structure and never
    replace a file without `--overwrite`. `-` reads the recording from standard input
    or writes WAV to standard output, live: a WAV stream is enhanced as it comes and
    each block written when done (latency: the model's window plus its hop). The model
    hears 16 kHz: an input sampled higher keeps its band above 8 kHz, turned down (never
    below -20 dB) as much as the model turns down the band just below 8 kHz, with no
    seam between the two. A corpus (a folder, a quoted glob or a list file of paths) runs
    on Lightning's predict loop across devices and nodes with `--devices`,
    `--num-nodes`, `--strategy ddp`, `--accelerator`; failures go to DST/failures.csv.

    **Examples**

    ```
    segan enhance noisy.wav clean.wav
    segan enhance a.wav b.wav c.flac --out enhanced/
    segan enhance recordings/ --out enhanced/ --ckpt runs/adv/best.ckpt --workers 2
    segan enhance corpus.csv --out enhanced/ --accelerator gpu --devices 4 --strategy ddp
    cat in.flac | segan enhance - - --dry 0.2 > out.wav
    ```
    """
    settings = settings_from(config, sets, extra={"enhance": {
        "device": device, "batch_size": batch_size, "chunking": chunking, "seed": seed,
        "dry": dry}})
    e = settings.enhance
    flags = {"accelerator": accelerator, "devices": devices, "num_nodes": num_nodes,
             "strategy": strategy}
    if enhance_corpus.wanted(paths, out, flags):  # Lightning, a glob or a list file
        return enhance_corpus.run(paths, out, flags, method=method, ckpt=ckpt, e=e,
                                  device_flag=device, glob=glob, workers=workers,
                                  overwrite=overwrite)
    sources, output = _inputs_and_output(paths, out, overwrite)
    workers = worker_count(workers)
    stdio = jobs = skipped = None  # the inputs and outputs are checked before the model loads
    passed_over: list[tuple[Path, str]] = []
    single = len(sources) == 1 and sources[0].is_file()
    if str(sources[0]) == "-" or str(output) == "-":
        stdio = _stdio_ends(sources[0], output, overwrite)
    else:
        for source in sources:
            passed_over += batch_enhance.not_enhanced(source, glob)
        for entry, reason in passed_over:  # said even when nothing is left to enhance
            err_console.print(f"[yellow]not enhanced:[/] {shown(entry)} ({shown(reason)})",
                              highlight=False, soft_wrap=True)
        if len(sources) > 1:
            assert output is not None
            jobs, skipped = batch_enhance.plan_many(sources, output, glob, overwrite)
        else:
            jobs, skipped = batch_enhance.plan(sources[0], output, glob, overwrite)
        if single:
            audio_info(sources[0])  # a clear error before any work for a single bad file
    factory, label = _enhancer_factory(method, ckpt, e, workers)
    if stdio is not None:
        _enhance_stdio(factory(), *stdio, label, overwrite)
        return
    assert jobs is not None and skipped is not None
    remove_stale({job.dst.parent for job in jobs + skipped})  # left by a killed run
    total_seconds = 0.0
    for job in jobs:
        try:
            total_seconds += audio_info(job.src).duration
        except SeganError:
            pass  # reported by name when its job runs
    if skipped:
        console.print(f"skipping {len(skipped)} file(s) whose output already exists")
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
                        progress.console.print(f"[red]failed:[/] {shown(outcome.job.src)}: "
                                               f"{shown(outcome.error)}", highlight=False,
                                               soft_wrap=True)  # paths whole
                    continue
                assert outcome.report is not None
                for note in outcome.report.warnings:
                    progress.console.print(f"[yellow]warning:[/] {shown(note)}",
                                           highlight=False,
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
    where = jobs[0].dst if len(jobs) == 1 and single else output
    rtf = f", real-time factor {wall / done_seconds:.3f}" if done_seconds else ""
    console.print(f"enhanced {ok} file(s), {done_seconds:.1f} s of audio in {wall:.1f} s"
                  f"{rtf} -> [bold]{shown(where)}[/]", highlight=False, soft_wrap=True)
    if passed_over:
        err_console.print(f"[yellow]{len(passed_over)} file(s) not enhanced[/] (listed above "
                          "with the reason)", highlight=False)
    if failures:
        err_console.print(f"[bold red]{len(failures)} file(s) failed[/] (listed above); "
                          "the others are complete. Re-run to retry only the failed ones.")
    if failures or passed_over:  # some of what was asked for has no output: say so
        raise typer.Exit(1)


def _inputs_and_output(paths: list[Path], out: Path | None, overwrite: bool
                       ) -> tuple[list[Path], Path | None]:
    """(the inputs, the output) from the positional arguments and ``--out``.

    With ``--out`` every argument is an input. Without it two arguments are INPUT
    OUTPUT, as always, unless the second is an existing recording: a DeepFilterNet
    user's ``segan enhance a.wav b.wav`` means two inputs, so that is refused by name
    (never with advice to overwrite it). One input file without an output gets
    ``NAME.enhanced.EXT`` beside it.
    """
    if out is not None:
        if len(paths) == 2 and (str(paths[1]) == "-" or not os.path.lexists(paths[1])):
            raise SeganError("give the output either as OUTPUT or as --out, not both",
                             "with --out, every argument is an input")
        if len(paths) > 1 and "-" in map(str, paths):
            raise SeganError("- (standard input) is one recording: it cannot be one of "
                             "several inputs", "enhance it in a run of its own")
        return paths, out
    if len(paths) > 2:
        raise SeganError(f"{len(paths)} inputs need an output folder",
                         "give --out DIR: every argument is then an input")
    if len(paths) == 2:
        first, second = paths
        if (not overwrite and str(second) != "-" and str(first) != "-"
                and _is_recording(second) and not same_file(first, second)):
            raise SeganError(f"{second} is an existing recording; to enhance several files "
                             "give --out DIR", f"if {second} is an earlier output, delete it "
                             "or name another output")
        return [first], second
    (only,) = paths
    if str(only) != "-" and only.is_file():
        return paths, batch_enhance.default_output(only)
    return paths, None


def _is_recording(path: Path) -> bool:
    """Whether ``path`` is a file libsndfile reads as audio (an input, not an output)."""
    if not path.is_file():
        return False
    try:
        audio_info(path)
    except SeganError:
        return False
    return True


def _enhancer_factory(method: str, ckpt: str | None, e: EnhanceSettings, workers: int
                      ) -> tuple[Callable[[], batch_enhance.FileEnhancer], str]:
    """(what makes the file enhancer, its label for progress): the model is loaded here,
    after every input and output has been checked."""
    if method == "wiener":
        return functools.partial(batch_enhance.wiener_enhancer, e.block_seconds,
                                 e.requested_dry or 0.0), "Wiener filter"
    path = resolve_checkpoint(ckpt)
    denoiser = Denoiser.open(path, e)  # a bad checkpoint fails here, before any work
    bundle = denoiser.bundle
    factory: Callable[[], batch_enhance.FileEnhancer] = denoiser.file_enhancer
    if workers > 1:  # each worker process loads the checkpoint itself
        options = (e.chunking, e.batch_size, e.block_seconds, e.seed, e.dc_block_hz,
                   e.requested_dry)
        factory = functools.partial(batch_enhance.model_enhancer, path, e.device, *options)
    if not is_default(ckpt):
        return factory, f"{bundle.arch} checkpoint {shown(path.name)}"
    err_console.print(f"[yellow]note:[/] {default_model_note(bundle)}", highlight=False,
                      soft_wrap=True)
    return factory, "the default model"


def _stdio_ends(source: Path, dest: Path | None, overwrite: bool
                ) -> tuple[AudioSource | PipeSource, Path | None]:
    """(the input, the output file or None for standard output) of a run with a ``-``
    end, checked before any work: a WAV stream on standard input is opened to be read
    as it comes (other formats are read whole), and its header checked; an output
    file's format and guard are checked as for files."""
    to_stdout = dest is not None and str(dest) == "-"
    if to_stdout and source.is_dir():
        raise SeganError(f"{source} is a folder: its outputs cannot go to standard output",
                         "pass --out OUT_DIR")
    if to_stdout and sys.stdout.isatty():
        raise SeganError("standard output is a terminal, not a file or a pipe",
                         "redirect it, e.g. segan enhance in.wav - > out.wav")
    src: AudioSource = source
    if str(source) == "-":
        if dest is None:
            raise SeganError("where should the output go?",
                             "give OUTPUT, or - for standard output")
        if sys.stdin is None:  # started with standard input closed (<&-)
            raise SeganError("standard input is closed: no audio to read",
                             "pipe a recording in, e.g. segan enhance - out.wav < in.wav")
        if sys.stdin.isatty():
            raise SeganError("standard input is a terminal: no audio to read",
                             "pipe a recording in, e.g. segan enhance - out.wav < in.wav")
        from segan_cli.core.enhancement.pipe_stream import stdin_source

        src = stdin_source(sys.stdin.buffer)  # a WAV stream is read as it comes
    if not _is_pipe(src):
        audio_info(src)  # one clear error before any work
    if to_stdout or dest is None:
        return src, None
    check_output(dest, overwrite, [src] if isinstance(src, Path) else [])
    write_format(dest)
    return src, dest


def _enhance_stdio(enhancer: batch_enhance.FileEnhancer, src: AudioSource | PipeSource,
                   dst: Path | None, label: str, overwrite: bool) -> None:
    """One recording with a ``-`` end; ``dst`` None writes WAV to standard output as
    each block is done, with nothing else on it (notes and the summary go to stderr)."""
    if dst is not None:
        remove_stale({dst.parent})  # left by a killed run
    if dst is not None and not _is_pipe(src):
        with err_console.status(f"enhancing with {label}"):
            report = enhancer.enhance_file(src, dst, overwrite=overwrite)
    else:
        audio_out = _audio_stdout() if dst is None else None
        stream = enhancer.stream  # type: ignore[attr-defined]
        exact = bool(getattr(enhancer, "bypass", False))
        block = float(getattr(enhancer, "block_seconds", 30.0))
        from segan_cli.core.enhancement.pipe_stream import enhance_stream

        try:
            with _stdout_to_stderr(dst is None), err_console.status(f"enhancing with {label}"):
                report = enhance_stream(stream, src, dst if dst is not None else audio_out,
                                        block_seconds=block, overwrite=overwrite,
                                        exact=exact)
        except BrokenPipeError:
            _quiet_stdout()
            raise SeganError("standard output was closed before all the audio was written",
                             "is the command reading the pipe still running?") from None
    for note in report.warnings:
        err_console.print(f"[yellow]warning:[/] {shown(note)}", highlight=False,
                          soft_wrap=True)
    rtf = f", real-time factor {report.rtf:.3f}" if report.seconds else ""
    where = "standard output" if dst is None else dst
    (err_console if dst is None else console).print(
        f"enhanced 1 file(s), {report.seconds:.1f} s of audio in {report.wall:.1f} s{rtf} "
        f"-> [bold]{shown(where)}[/]", highlight=False, soft_wrap=True)


@contextlib.contextmanager
def _stdout_to_stderr(active: bool = True) -> Iterator[None]:
    """While active, whatever would reach standard output (Python prints, C libraries on
    descriptor 1) goes to standard error, so a pipe receives nothing but the audio."""
    if not active:
        yield
        return
    sys.stdout.flush()
    saved = None
    with contextlib.suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation):
        if sys.stdout.fileno() == 1:
            saved = os.dup(1)
            os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


def _is_pipe(src: object) -> bool:
    """Whether ``src`` is a live stream on standard input (read as it comes)."""
    from segan_cli.core.enhancement.pipe_stream import PipeSource

    return isinstance(src, PipeSource)


def _audio_stdout() -> BinaryIO:
    """Standard output for the audio alone: its own descriptor, so that while the run
    sends descriptor 1 to standard error (C libraries printing) the audio still flows."""
    sys.stdout.flush()
    try:
        return os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return sys.stdout.buffer  # no descriptor (an in-process test runner)


def _quiet_stdout() -> None:
    """A reader that went away: no second error when Python flushes at exit."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
