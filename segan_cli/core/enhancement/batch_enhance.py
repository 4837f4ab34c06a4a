"""Planning and running enhancement jobs for files and folder trees.

Folder runs take every extension libsndfile reads and writes (and name the files
that look like audio but are not taken, with the reason), mirror the input tree,
skip outputs that already exist (so an interrupted run resumes), never overwrite an
input, never write outside the output folder, and carry on past a bad file,
recording its error. Outputs go through the output guard: complete or absent, and
never replacing a file another run published.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from segan_cli.core.io.audio import AUDIO_SUFFIXES, AudioSource, unreadable_reason, write_format
from segan_cli.core.io.output_guard import OutputError, check_output, resolve_output, same_file
from segan_cli.core.runtime.cpus import usable_cores
from segan_cli.core.runtime.processes import bind_to_parent, exit_if_orphaned
from segan_cli.errors import SeganError, special_kind

if TYPE_CHECKING:  # the enhancer pulls in scipy and soxr; the CLI's --help must not
    from segan_cli.core.enhancement.inference import GeneratorBundle
    from segan_cli.core.enhancement.whole_file import Destination, EnhanceReport


class FileEnhancer(Protocol):
    def enhance_file(self, src: AudioSource, dst: Destination, subtype: str | None = None,
                     overwrite: bool = False) -> EnhanceReport: ...


@dataclass(frozen=True)
class Job:
    """One input file, where its output goes, and whether it may replace a file."""

    src: Path
    dst: Path
    overwrite: bool = False


@dataclass
class JobOutcome:
    job: Job
    report: EnhanceReport | None = None
    error: str | None = None
    skipped: bool = False
    #: the disk is full or read-only: no later job can be written either
    fatal: bool = False


def plan(src: Path, dst: Path | None, pattern: str = "**/*", overwrite: bool = False
         ) -> tuple[list[Job], list[Job]]:
    """(jobs to run, jobs skipped because their output exists) for a file or a folder.

    Outputs are checked as the OS will write them (symlinks and ``..`` resolved): a
    folder run's outputs must stay inside the output folder, the glob selects files
    inside the input folder, and no output may be an input, even with ``overwrite``.
    """
    src = Path(src)
    if not src.exists():
        raise SeganError(f"input not found: {src}")
    if kind := special_kind(src):
        raise SeganError(f"input {src} is {kind}, not an audio file or a folder",
                         "to enhance a stream, pipe it in: segan enhance - OUTPUT < STREAM")
    if src.is_file():
        if dst is None:
            raise SeganError("where should the output go?", "give OUTPUT or --out")
        if dst.is_dir() or str(dst).endswith(os.sep):
            dst = dst / src.name
        write_format(dst)
        check_output(dst, overwrite, [src])
        return [Job(src, dst, overwrite)], []
    if dst is None:
        raise SeganError(f"{src} is a folder: say where the outputs go",
                         "pass --out OUT_DIR")
    if dst.exists() and not dst.is_dir():
        raise SeganError(f"{src} is a folder, so the output must be a folder too, "
                         f"but {dst} is a file", "pass --out OUT_DIR")
    if same_file(src, dst):
        raise SeganError("the output folder is the input folder",
                         "choose another --out: inputs are never replaced")
    # an output folder inside the input folder holds earlier outputs, not inputs; one
    # above it (--out the input's parent) holds the inputs themselves
    nested = dst.exists() and _inside(dst, src)
    files = [p for p in _entries(src, pattern)
             if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
             and not (nested and _inside(p, dst))]
    if not files:
        raise SeganError(f"no audio files matching '{pattern}' in {src}",
                         "check the folder or the --glob pattern")
    root = resolve_output(dst)
    inputs = {resolve_output(f): f for f in files}
    todo, skipped = [], []
    for f in files:
        job = Job(f, dst / f.relative_to(src), overwrite)
        final = resolve_output(job.dst)
        if not _inside(final, root):
            raise SeganError(f"output {job.dst} would be written outside {dst} (it resolves "
                             f"to {final})", "remove the symbolic link leading out of the "
                             "output folder, or choose another --out")
        if same_file(f, final) or final in inputs:
            other = inputs.get(final, f)
            of = "" if other == f else f" (of {f})"
            raise SeganError(f"output {job.dst}{of} is the input file {other}",
                             "choose another --out: inputs are never replaced")
        (skipped if os.path.lexists(final) and not overwrite else todo).append(job)
    return todo, skipped


def default_output(src: Path) -> Path:
    """Where a recording's output goes when none is named: beside it, ``a.wav`` ->
    ``a.enhanced.wav`` (the input's format when it can be written, else WAV), so an
    omitted output never lands on a file of the user's."""
    suffix = src.suffix if src.suffix.lower() in AUDIO_SUFFIXES else ".wav"
    return src.with_name(f"{src.stem}.enhanced{suffix}")


def plan_many(sources: list[Path], dst: Path, pattern: str = "**/*", overwrite: bool = False
              ) -> tuple[list[Job], list[Job]]:
    """(jobs to run, jobs skipped) for several inputs into the folder ``dst``: a file
    goes to ``dst/NAME``, a folder's tree to ``dst/FOLDER_NAME/``. As in a folder run, an
    output that exists is skipped (a re-run resumes) unless ``overwrite``; two inputs
    that would share an output name, an output that is an input, or a ``dst`` that is a
    file are refused before any work."""
    if dst.exists() and not dst.is_dir():
        raise SeganError(f"several inputs need an output folder, but {dst} is a file",
                         "pass --out OUT_DIR")
    for src in sources:
        if not Path(src).exists():
            raise SeganError(f"input not found: {src}")
    todo: list[Job] = []
    skipped: list[Job] = []
    for src in map(Path, sources):
        if src.is_dir():
            jobs, skips = plan(src, dst / src.name, pattern, overwrite)
        else:
            job = Job(src, dst / src.name, overwrite)
            write_format(job.dst)
            final = resolve_output(job.dst)
            for other in sources:
                if same_file(other, final):
                    raise SeganError(f"output {job.dst} is the input file {other}",
                                     "choose another --out: inputs are never replaced")
            exists = os.path.lexists(final) and not overwrite
            jobs, skips = ([], [job]) if exists else ([job], [])
        todo += jobs
        skipped += skips
    seen: dict[Path, Path] = {}
    for job in todo + skipped:
        final = resolve_output(job.dst)
        if final in seen:
            raise SeganError(f"{seen[final]} and {job.src} would both be written to "
                             f"{job.dst}", "enhance them in two runs with different --out")
        seen[final] = job.src
    return todo, skipped


def not_enhanced(src: Path, pattern: str = "**/*") -> list[tuple[Path, str]]:
    """Everything of a folder run that looks like audio but will not be enhanced, with
    the reason, so a run never drops it unsaid: entries named like audio that are not
    files (a folder called ``x.wav``, a broken link), and recordings in a format this
    libsndfile does not read (``.m4a``, ``.wma``, ...; see
    :func:`~segan_cli.core.io.audio.unreadable_reason`). Files that are plainly not audio
    (``notes.txt``) are no news; files named like audio that cannot be opened are
    enhanced in turn and fail by name."""
    src = Path(src)
    if not src.is_dir():
        return []
    found = []
    for p in _entries(src, pattern):
        if p.is_file():
            if why := unreadable_reason(p):
                found.append((p, why))
        elif p.suffix.lower() in AUDIO_SUFFIXES:
            found.append((p, "a folder, not an audio file" if p.is_dir() else
                          "a broken symbolic link" if p.is_symlink() and not p.exists()
                          else "not a regular file"))
    return found


def _entries(src: Path, pattern: str) -> list[Path]:
    """What ``pattern`` selects under the folder ``src`` (hidden names left out), sorted."""
    check_pattern(pattern)
    pat = pattern if pattern.startswith("**/") else f"**/{pattern}"
    return sorted(p for p in src.glob(pat) if not p.name.startswith("."))


def check_pattern(pattern: str) -> None:
    """A --glob selects files inside the input folder: refuse absolute and climbing ones."""
    parts = pattern.replace(os.sep, "/").split("/")
    if os.path.isabs(pattern) or pattern.startswith("/") or ".." in parts:
        raise SeganError(f"--glob {pattern!r} reaches outside the input folder",
                         "give a pattern relative to the folder, e.g. '*.wav' or 'sub/*.flac'")


def _inside(path: Path, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


def enhance_job(enhancer: FileEnhancer, job: Job) -> EnhanceReport:
    """Run one planned job, raising its error: what every file of `segan enhance` and
    the Python API's ``Denoiser.enhance_file`` goes through."""
    return enhancer.enhance_file(job.src, job.dst, overwrite=job.overwrite)


def enhance_one(enhancer: FileEnhancer, src: Path, dst: Path, overwrite: bool = False
                ) -> EnhanceReport:
    """Enhance one file as `segan enhance IN OUT` does: planned by :func:`plan` (a folder
    ``dst`` takes the input's name, the format and the output guard are checked before
    any work), then :func:`enhance_job`; errors are raised, not recorded."""
    if Path(src).is_dir():
        raise SeganError(f"{src} is a folder: one file is enhanced here",
                         "enhance a folder with `segan enhance IN_DIR --out OUT_DIR`")
    jobs, _ = plan(Path(src), Path(dst), overwrite=overwrite)
    return enhance_job(enhancer, jobs[0])


def run_one(enhancer: FileEnhancer, job: Job) -> JobOutcome:
    """Run one job; a user error (bad audio, unwritable output) is recorded, not raised."""
    try:
        return JobOutcome(job, enhance_job(enhancer, job))
    except OutputError as exc:
        return JobOutcome(job, error=str(exc), fatal=exc.disk_full_or_read_only)
    except SeganError as exc:
        return JobOutcome(job, error=str(exc))


# Per worker process: the enhancer its initializer built (each process loads the
# model once, not once per file). Never used in the parent process.
_WORKER: dict[str, Any] = {}


def _init_worker(factory: Callable[[], FileEnhancer], threads: int, owner: int) -> None:
    bind_to_parent(owner)  # a killed parent takes its workers with it
    import torch

    torch.set_num_threads(threads)
    _WORKER["enhancer"] = factory()


def _run_in_worker(job: Job) -> JobOutcome:
    exit_if_orphaned()
    return run_one(_WORKER["enhancer"], job)


def model_enhancer(ckpt: Path, device: str = "cpu", chunking: str = "ola",
                   batch_size: int = 8, block_seconds: float = 30.0,
                   seed: int | None = None, dc_block_hz: float = 10.0,
                   dry: float | None = None) -> FileEnhancer:
    """An Enhancer for a checkpoint (module-level so worker processes can build it)."""
    from segan_cli.core.enhancement.inference import load_bundle

    return bundle_enhancer(load_bundle(ckpt, device), chunking, batch_size, block_seconds,
                           seed, dc_block_hz, dry)


def bundle_enhancer(bundle: GeneratorBundle, chunking: str = "ola", batch_size: int = 8,
                    block_seconds: float = 30.0, seed: int | None = None,
                    dc_block_hz: float = 10.0, dry: float | None = None) -> FileEnhancer:
    """An Enhancer for a generator already loaded in this process (``dry`` None: the
    checkpoint's own share of input mixed back)."""
    from segan_cli.core.enhancement.inference import GeneratorModel
    from segan_cli.core.enhancement.whole_file import Enhancer

    return Enhancer(GeneratorModel.from_bundle(bundle, seed, dry), chunking, batch_size,
                    block_seconds, dc_block_hz)


def own_settings_enhancer(bundle: GeneratorBundle, dry: float | None = None) -> FileEnhancer:
    """An Enhancer that runs ``bundle`` as its own settings say (``enhance.chunking``,
    ``batch_size`` and ``dc_block_hz``): how the scripts that score a model run it."""
    own = bundle.settings.enhance
    return bundle_enhancer(bundle, own.chunking, own.batch_size,
                           dc_block_hz=own.dc_block_hz, dry=dry)


def wiener_enhancer(block_seconds: float = 30.0, dry: float = 0.0) -> FileEnhancer:
    """The Wiener-filter baseline as a file enhancer (streamed in blocks), with ``dry``
    of the input mixed back as for a model."""
    from segan_cli.core.enhancement.whole_file import WienerFileEnhancer

    return WienerFileEnhancer(block_seconds, dry)


def run(jobs: list[Job], factory: Callable[[], FileEnhancer], workers: int = 1
        ) -> Iterator[JobOutcome]:
    """Yield outcomes as jobs finish; ``workers`` > 1 uses that many processes."""
    if workers <= 1 or len(jobs) <= 1:
        enhancer = factory()
        for job in jobs:
            yield run_one(enhancer, job)
        return
    threads = max(1, usable_cores() // workers)
    with ProcessPoolExecutor(workers, initializer=_init_worker,
                             initargs=(factory, threads, os.getpid())) as pool:
        futures = [pool.submit(_run_in_worker, job) for job in jobs]
        try:
            for fut in as_completed(futures):
                yield fut.result()
        finally:  # the caller stopped early (a full disk): start no further job
            for fut in futures:
                fut.cancel()
