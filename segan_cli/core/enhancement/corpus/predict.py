"""Corpus enhancement on Lightning's predict loop: one process per device, any nodes.

``Trainer.predict`` runs over :class:`~segan_cli.core.enhancement.corpus.data.CorpusData`:
Lightning starts the processes (or finds them started by torchrun or srun), shards the
files with its own distributed sampler and moves the generator to each rank's device.
Each predict step enhances one file with the very enhancer ``segan enhance`` uses
(same windows, stitching and file writer, so a file's bytes do not depend on the
rank or the number of processes) into a hidden temporary beside its output, streamed
in blocks; :class:`PublishWriter`, a ``BasePredictionWriter``, then publishes it
under its final name, atomically and never over a file (unless ``--overwrite``), as
each file finishes. Nothing is returned to Lightning (``return_predictions=False``).

Failures are recorded, not raised, so the other files complete; at the end every
rank's tally is gathered on rank 0. SIGTERM (a cluster's preemption) or SIGINT stops
each rank at once: the file being written leaves no output (its temporary is
removed), finished files stay, and a rerun resumes.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter, Callback

from segan_cli.core.enhancement.batch_enhance import FileEnhancer, Job
from segan_cli.core.enhancement.corpus.data import CorpusData, Item
from segan_cli.core.enhancement.corpus.report import Tally
from segan_cli.core.io.output_guard import (
    OutputError,
    check_output,
    output_error,
    publish,
)
from segan_cli.core.io.temporaries import temp_file
from segan_cli.errors import SeganError, SettingsError

#: strategies whose processes Lightning forks or spawns: their results never reach the
#: process that started them, and they cannot run a streamed writer per rank
_SPAWNING = ("spawn", "fork", "notebook")


class Stopped(BaseException):
    """SIGTERM or SIGINT arrived during a corpus run (raised where the rank is)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@dataclass
class Staged:
    """One file's enhancement: its temporary, its audio seconds, or its error."""

    item: Item
    tmp: Path | None = None
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    fatal: bool = False


class CorpusModule(L.LightningModule):
    """Enhances a batch of files; ``generator`` (None for Wiener) is registered so that
    Lightning moves it to the rank's device. ``factory`` builds the file enhancer; it is
    called per file, so a seeded z starts afresh for every file, wherever it runs."""

    def __init__(self, factory: Callable[[], FileEnhancer],
                 generator: torch.nn.Module | None = None) -> None:
        super().__init__()
        self.factory = factory
        self.generator = generator
        self.fatal: str | None = None

    def predict_step(self, batch: list[Item]) -> list[Staged]:
        return [self.stage(item) for item in batch]

    def stage(self, item: Item) -> Staged:
        """Enhance one file into a temporary beside its output (published by the writer)."""
        if item.job is None:
            return Staged(item)
        job = item.job
        if self.fatal is not None:  # a full or read-only disk: no later file can be written
            return Staged(item, error=f"not enhanced: {self.fatal}")
        try:
            return _stage(self.factory(), item, job)
        except OutputError as exc:
            if exc.disk_full_or_read_only:
                self.fatal = str(exc)
            return Staged(item, error=str(exc), fatal=exc.disk_full_or_read_only)
        except SeganError as exc:
            return Staged(item, error=str(exc))


def _stage(enhancer: FileEnhancer, item: Item, job: Job) -> Staged:
    final = check_output(job.dst, job.overwrite, [job.src])
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_file(final)  # hidden, named after the process: a killed run's is swept
    except OSError as exc:
        raise output_error(exc, job.dst) from exc
    try:
        report = enhancer.enhance_file(job.src, tmp, overwrite=True)
    except SeganError as exc:
        tmp.unlink(missing_ok=True)
        exc.message = exc.message.replace(str(tmp), str(job.dst))
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Staged(item, tmp, report.seconds, list(report.warnings))


class PublishWriter(BasePredictionWriter):
    """Publishes each finished file under its name (no-clobber) and keeps the tally.

    The file's identity comes from the prediction, which carries the item from the
    batch, never from ``batch_indices``. ``on_file`` (rank 0's progress) hears of every
    file this rank finished or failed.
    """

    def __init__(self, on_file: Callable[[Staged], None] | None = None) -> None:
        super().__init__(write_interval="batch")
        self.on_file = on_file
        self.tally = Tally()
        self.started = self.cpu_started = 0.0

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        check_sharding(trainer)
        self.started = time.perf_counter()
        self.cpu_started = time.process_time()

    def write_on_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           prediction: Any, batch_indices: Sequence[int] | None, batch: Any,
                           batch_idx: int, dataloader_idx: int) -> None:
        for staged in prediction:
            if staged.item.job is None:
                continue
            self._publish(staged)
            if self.on_file is not None:
                self.on_file(staged)

    def _publish(self, staged: Staged) -> None:
        job = staged.item.job
        assert job is not None
        if staged.error is not None:
            self.tally.failures.append((os.fspath(job.src), staged.error))
            if staged.fatal:
                self.tally.fatal = staged.error
            return
        assert staged.tmp is not None
        try:
            final = check_output(job.dst, True, [job.src])  # an input linked there meanwhile
            publish(staged.tmp, final, job.overwrite)
        except OutputError as exc:
            staged.error = str(exc)
        except SeganError as exc:  # another run published this name meanwhile
            staged.error = str(exc)
        except OSError as exc:
            staged.error = str(output_error(exc, job.dst))
        finally:
            staged.tmp.unlink(missing_ok=True)
        if staged.error is not None:
            self.tally.failures.append((os.fspath(job.src), staged.error))
            return
        self.tally.done += 1
        self.tally.seconds += staged.seconds
        self.tally.warnings += staged.warnings

    def on_predict_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.tally.wall = time.perf_counter() - self.started
        self.tally.cpu = self.tally.cpu_max = time.process_time() - self.cpu_started
        if trainer.world_size > 1 and torch.distributed.is_initialized():
            tallies: list[Any] = [None] * trainer.world_size
            torch.distributed.all_gather_object(tallies, self.tally)
            merged = Tally()
            for tally in tallies:
                merged.merge(tally)
            self.tally = merged


def check_sharding(trainer: L.Trainer) -> None:
    """Under several processes the predict loader must hold Lightning's unrepeated
    distributed sampler: anything else would enhance files twice or not at all."""
    if trainer.world_size <= 1:
        return
    from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler

    loaders = trainer.predict_dataloaders
    loader = loaders[0] if isinstance(loaders, list) else loaders
    sampler = getattr(getattr(loader, "batch_sampler", None), "sampler", None)
    if not isinstance(sampler, UnrepeatedDistributedSampler):
        raise SeganError(f"the predict loader's sampler is {type(sampler).__name__}, not "
                         "Lightning's unrepeated distributed sampler",
                         "leave use_distributed_sampler at its default")


class StopOnSignal(Callback):
    """SIGTERM/SIGINT raise :class:`Stopped` on this rank (after telling the processes
    Lightning started, if this rank started any). Installed when prediction starts, in
    place of Lightning's own SIGTERM handler, whose collective broadcast inside the
    handler can wait forever when the other ranks are not in a collective."""

    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}
        self.trainer: L.Trainer | None = None

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self.trainer = trainer
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        launcher = getattr(self.trainer.strategy, "launcher", None) if self.trainer else None
        if launcher is not None and getattr(launcher, "procs", None):
            launcher.kill(signum)
        self.restore()  # a second signal ends the process by the default action
        raise Stopped(signum)

    def restore(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, handler in self.previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self.previous = {}

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.restore()


def quiet_lightning() -> None:
    """Lightning's start-up banners and hints are noise in a command's output."""
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated")


def build_trainer(accelerator: str, devices: int | str, num_nodes: int, strategy: str,
                  callbacks: list[Callback]) -> L.Trainer:
    """Lightning's Trainer for prediction; a combination it cannot run here is one
    SettingsError naming the flags, as for ``segan train``."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    flags = (f"accelerator {accelerator!r}, devices {devices!r}, num_nodes {num_nodes!r}, "
             f"strategy {strategy!r}")
    if any(word in str(strategy) for word in _SPAWNING):
        raise SettingsError(f"strategy {strategy!r} forks or spawns its processes; a corpus "
                            "run needs one process per device that runs the command itself",
                            "use --strategy ddp (Lightning, torchrun or srun start them)")
    quiet_lightning()
    try:
        return L.Trainer(accelerator=accelerator, devices=devices, num_nodes=num_nodes,
                         strategy=strategy, precision="32-true", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, use_distributed_sampler=True,
                         callbacks=callbacks)
    except (MisconfigurationException, ValueError, TypeError, RuntimeError,
            ImportError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SettingsError(f"Lightning cannot run with {flags} here: {first}",
                            "change --accelerator/--devices/--num-nodes/--strategy") from None


def predict_corpus(jobs: Sequence[Job], factory: Callable[[], FileEnhancer],
                   generator: torch.nn.Module | None, trainer: L.Trainer) -> Tally:
    """Enhance ``jobs`` with ``trainer`` (made by :func:`build_trainer`, whose
    callbacks hold a :class:`PublishWriter` and a :class:`StopOnSignal`); every rank
    returns the run's tally, gathered from all ranks. Raises :class:`Stopped` on
    SIGTERM/SIGINT."""
    writer = next(cb for cb in trainer.callbacks if isinstance(cb, PublishWriter))
    module = CorpusModule(factory, generator)
    try:
        trainer.predict(module, datamodule=CorpusData(jobs), return_predictions=False)
    except Stopped:
        _wait_for_children(trainer)
        raise
    return writer.tally


def _wait_for_children(trainer: L.Trainer, timeout: float = 60.0) -> None:
    """After a stop signal, wait for the processes this rank started (they got the
    signal too), so that the command ends when every rank has ended."""
    import subprocess

    for proc in getattr(getattr(trainer.strategy, "launcher", None), "procs", None) or []:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
