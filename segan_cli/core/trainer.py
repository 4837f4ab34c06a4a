"""Running a training job: the Lightning Trainer, run folder, validation scoring, resume.

Scaling is Lightning's: ``train.accelerator/devices/num_nodes/strategy/precision``
go straight to the Trainer (DDP for several GPUs or nodes). Validation scores a
fixed subset of whole validation utterances with the metric suite's PESQ and STOI,
enhanced exactly as ``segan enhance`` does it; the best checkpoint is chosen on
validation PESQ, never on test data.
"""

from __future__ import annotations

import json
import math
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from segan_cli.core.checkpoint_io import GuardedCheckpointIO
from segan_cli.core.data.pipeline.datamodule import SeganDataModule
from segan_cli.core.enhance import Enhancer
from segan_cli.core.files import atomic_path, write_text_atomic
from segan_cli.core.inference import (
    GeneratorModel,
)
from segan_cli.core.output_guard import fault, output_error
from segan_cli.core.signals import StopRequest
from segan_cli.core.stopping import GracefulStop
from segan_cli.core.temporaries import remove_stale
from segan_cli.core.training import SeganGAN
from segan_cli.core.warm_start import load_init_weights, read_init_source, read_same_model
from segan_cli.errors import SeganError, SettingsError
from segan_cli.settings import Settings, settings_to_yaml

CKPT_DIR = "checkpoints"
LAST = "last.ckpt"
BEST = "best.ckpt"
INIT_RECORD = "init_from.json"


@dataclass
class TrainResult:
    """Where the checkpoints are and what the run achieved."""

    run_dir: Path
    best: Path | None
    last: Path | None
    best_scores: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    wall: float = 0.0
    steps_per_second: float = 0.0
    global_zero: bool = True  # this process is rank 0 (the one that reports)


def validation_scores(module: Any, utterances: list[tuple[str, np.ndarray, np.ndarray]],
                      settings: Settings, stats: dict[str, float]) -> dict[str, float]:
    """Mean PESQ/STOI of whole utterances enhanced the way ``segan enhance`` does."""
    from segan_cli.core.metrics import MetricInputError, pesq_score, stoi_score

    model = GeneratorModel(module.inference_generator, settings, stats)
    enhancer = Enhancer(model, settings.enhance.chunking, settings.enhance.batch_size,
                        dc_block_hz=settings.enhance.dc_block_hz)
    sr = settings.data.sample_rate
    pesqs, stois = [], []
    for _, clean, noisy in utterances:
        enhanced = enhancer.enhance(noisy, sr)
        for scores, fn in ((pesqs, pesq_score), (stois, stoi_score)):
            try:
                scores.append(fn(clean, enhanced, sr))
            except MetricInputError:
                pass  # this utterance cannot be scored (e.g. too little speech)
    return {"val_pesq": float(np.mean(pesqs)) if pesqs else float("nan"),
            "val_stoi": float(np.mean(stois)) if stois else float("nan")}


class ValidationScoring(Callback):
    """After each validation loop, scores whole utterances; shards them across ranks."""

    def __init__(self, datamodule: SeganDataModule) -> None:
        self.dm = datamodule
        self._utts: list[tuple[str, np.ndarray, np.ndarray]] | None = None

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule
                                ) -> None:
        if trainer.sanity_checking:
            return
        if self._utts is None:
            self._utts = self.dm.validation_utterances()
        shard = self._utts[trainer.global_rank::trainer.world_size]
        scores = validation_scores(pl_module, shard, self.dm.settings, self.dm.stats)
        for key, value in scores.items():
            pl_module.log(key, value, prog_bar=True, sync_dist=True)


class StepSeeding(Callback):
    """Reseeds torch's RNG from (seed, step, rank) before every step.

    The latent z is drawn from that RNG, so a run resumed from a checkpoint draws the
    same z as an uninterrupted one and ends in the same state.
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule,
                             batch: Any, batch_idx: int) -> None:
        import torch

        step = trainer.global_step // SeganGAN.optimizer_steps_per_batch
        torch.manual_seed((self.seed * 1_000_003 + step) * 64 + trainer.global_rank)


class LastCheckpoint(Callback):
    """Keeps ``checkpoints/last.ckpt`` current after every validation, epoch and at the end.

    Lightning's ``save_last`` only refreshes it when a new best is saved, which would
    make ``--resume`` go back to the last improvement; this writes it every time,
    through :class:`~segan_cli.core.checkpoint_io.GuardedCheckpointIO` (complete or
    not at all; a full disk is an OutputError naming the file).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._saved_step = -1

    def _save(self, trainer: L.Trainer) -> None:
        if trainer.sanity_checking or trainer.global_step == self._saved_step:
            return
        try:
            trainer.save_checkpoint(self.path, weights_only=False)  # full state, no log line
        except OSError as exc:  # a writer other than the guarded one (a custom strategy)
            if fault(exc) is None:
                raise
            raise output_error(exc, self.path) from exc
        self._saved_step = trainer.global_step

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.ckpt_path is not None:  # resumed: this state is on disk already
            self._saved_step = trainer.global_step

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        # Save here, not at the epoch's end, when the run stops after this batch
        # (max_steps, or a signal via GracefulStop) or the epoch ends with it. Lightning
        # closes a stopped epoch early, so a checkpoint of that epoch end would resume in
        # the next epoch and skip the rest of this one; and resuming from an epoch-end
        # checkpoint with no validation due there trains one batch too many.
        stopping = trainer.should_stop or 0 <= trainer.max_steps <= trainer.global_step
        if stopping or trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            self._save(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._saved_step = -1  # even at a step saved above: validation updated the state
        self._save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        done = trainer.fit_loop.epoch_loop.batch_progress.current.completed
        if done >= trainer.num_training_batches:  # a stopped epoch keeps its step's save
            self._save(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save(trainer)


# A new run into a folder holding checkpoints is refused (prepare_run_dir); a resumed
# run's checkpoint folder holds its own files, which Lightning would warn about.
warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")


class BestCheckpoint(ModelCheckpoint):
    """Lightning's top-k checkpoint on ``val_pesq``. A run that ends before its first
    validation has nothing to rank: it keeps no best checkpoint (the summary says so)
    instead of Lightning's "could not find the monitored key" warning."""

    def _generate_state_key(self, **kwargs: Any) -> str:
        # the saved state keeps Lightning's class name: `segan info` reads it, and runs
        # started before this class existed resume with their best checkpoint known
        return f"ModelCheckpoint{kwargs!r}"

    def _save_topk_checkpoint(self, trainer: L.Trainer, monitor_candidates: dict[str, Any]
                              ) -> None:
        if self.monitor is not None and self.monitor not in monitor_candidates:
            return
        super()._save_topk_checkpoint(trainer, monitor_candidates)


class Throughput(Callback):
    """Counts GAN steps (batches) and training wall time (for steps/s)."""

    def __init__(self) -> None:
        self.start = 0.0
        self.wall = 0.0
        self.steps = 0
        self.val_wall = 0.0
        self._val_start = 0.0

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._val_start = time.perf_counter()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.val_wall += time.perf_counter() - self._val_start

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        self.steps += 1

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.wall = time.perf_counter() - self.start


def _trainer_kwargs(settings: Settings) -> dict[str, Any]:
    t = settings.train
    kw: dict[str, Any] = {
        "accelerator": t.accelerator, "devices": t.devices, "num_nodes": t.num_nodes,
        "strategy": t.strategy, "precision": t.precision, "max_epochs": t.max_epochs,
        "max_steps": t.max_steps * SeganGAN.optimizer_steps_per_batch if t.max_steps > 0 else -1,
        "log_every_n_steps": t.log_every_n_steps,
        "num_sanity_val_steps": 0,
    }
    if t.val_check_interval is not None:
        kw["val_check_interval"] = t.val_check_interval
        kw["check_val_every_n_epoch"] = None
    else:
        kw["check_val_every_n_epoch"] = t.val_every_n_epochs
    return kw


def _build_trainer(settings: Settings, **kwargs: Any) -> L.Trainer:
    """Lightning's Trainer; a device, strategy or precision this machine cannot run
    (``--accelerator gpu`` without a GPU, ``16-mixed`` on CPU) is a settings error."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    t = settings.train
    try:
        return L.Trainer(**_trainer_kwargs(settings), **kwargs)
    except (MisconfigurationException, ValueError, TypeError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SettingsError(
            f"Lightning cannot train with accelerator {t.accelerator!r}, devices "
            f"{t.devices!r}, strategy {t.strategy!r}, precision {t.precision!r} here: {first}",
            "change --accelerator/--devices/--strategy/--precision (or train.* in the "
            "settings file)") from None


def prepare_run_dir(run_dir: Path, resume: bool, settings: Settings | None = None
                    ) -> Path | None:
    """Check the run folder; return the checkpoint to resume from, if any.

    A resumed run must build the same model as its checkpoint: another arch or other
    widths would fail deep inside Lightning, so they are caught here by name.
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise SeganError(f"run folder {run_dir} is a file", "choose a folder for --out")
    last = run_dir / CKPT_DIR / LAST
    if resume:
        if not last.is_file():
            raise SeganError(f"nothing to resume: {last} does not exist",
                             "start a new run without --resume")
        if settings is not None:
            check_resumable(last, settings)
        return last
    if (run_dir / CKPT_DIR).is_dir() and any((run_dir / CKPT_DIR).iterdir()):
        raise SeganError(f"run folder {run_dir} already holds checkpoints",
                         "pass --resume to continue it, or choose another --out")
    return None


def check_resumable(ckpt: Path, settings: Settings) -> None:
    """Raise CheckpointError unless ``ckpt`` holds the model ``settings`` describe, with
    finite weights (a diverged run would only resume into NaN)."""
    read_same_model(ckpt, settings, str(ckpt),
                    "is an '{old}' run, but this command asks for '{new}'",
                    "resume with --arch {old}",
                    "resume with the run's own settings: --config RUN_DIR/settings.yaml")


def fit(corpus: Path, settings: Settings, run_dir: Path, resume: bool = False,
        callbacks: list[Callback] | None = None, enable_progress_bar: bool = True,
        logger: bool = True, init_from: Path | None = None,
        stop: StopRequest | None = None) -> TrainResult:
    """Train on a prepared corpus; checkpoints and logs go to ``run_dir``.

    ``init_from`` starts a new run from another checkpoint's weights (same model,
    fresh optimisers); see :mod:`segan_cli.core.warm_start`. ``stop`` (installed by
    the caller) ends the run at a step boundary with a resumable ``last.ckpt`` when
    SIGINT or SIGTERM arrives; see :mod:`segan_cli.core.stopping`.
    """
    run_dir = Path(run_dir)
    if init_from is not None and resume:
        raise SeganError("--init-from starts a new run and cannot be combined with --resume",
                         "drop --init-from to continue the run, or choose a new --out")
    source = read_init_source(init_from, settings) if init_from is not None else None
    ckpt_path = prepare_run_dir(run_dir, resume, settings)
    remove_stale(run_dir, recursive=True)  # temporaries of a killed run of this folder
    L.seed_everything(settings.train.seed, workers=True, verbose=False)
    dm = SeganDataModule(corpus, settings)
    module = SeganGAN(settings, dm.stats)
    init_record = None
    if source is not None:
        init_record = {"path": str(init_from), "global_step": source.get("global_step"),
                       "loaded": load_init_weights(module, source, Path(str(init_from))),
                       "package": source.get("segan_package")}
        del source  # a training checkpoint's optimiser state is not needed any more
    if ckpt_path is None:
        module.set_reference_batch(*dm.reference_batch())
    checkpoint = BestCheckpoint(
        dirpath=run_dir / CKPT_DIR, filename="best-epoch{epoch}-pesq{val_pesq:.3f}",
        auto_insert_metric_name=False, monitor="val_pesq", mode="max", save_top_k=1)
    throughput = Throughput()
    # a new numbered version per (resumed) session, so earlier logs are never replaced
    loggers = [CSVLogger(run_dir, name="logs"),
               TensorBoardLogger(run_dir, name="tensorboard")] if logger else False
    trainer = _build_trainer(
        settings, default_root_dir=run_dir, logger=loggers,
        # GracefulStop first: LastCheckpoint saves the step it stops at
        callbacks=[*([GracefulStop(stop)] if stop is not None else []),
                   StepSeeding(settings.train.seed), ValidationScoring(dm), checkpoint,
                   LastCheckpoint(run_dir / CKPT_DIR / LAST), throughput,
                   *(callbacks or [])], plugins=[GuardedCheckpointIO()],
        enable_progress_bar=enable_progress_bar, enable_model_summary=False)
    # written once Lightning accepted the settings: a refused run leaves no folder behind
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / "settings.yaml", settings_to_yaml(settings))
    if init_record is not None:  # where this run's starting weights came from
        write_text_atomic(run_dir / INIT_RECORD, json.dumps(init_record, indent=1))
    if stop is not None:  # from here a signal stops training at a step boundary
        stop.install()
    try:
        trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
    finally:
        if stop is not None:
            stop.restore()
    best = Path(checkpoint.best_model_path) if checkpoint.best_model_path else None
    last = run_dir / CKPT_DIR / LAST
    if trainer.is_global_zero and best is not None and best.is_file():
        with atomic_path(run_dir / BEST) as tmp:  # the run's own file: replaced
            shutil.copyfile(best, tmp)
    scores = {f"{k} (last validation)": float(v)
              for k, v in sorted(trainer.callback_metrics.items()) if k.startswith("val_")}
    if checkpoint.best_model_score is not None:
        scores = {"val_pesq (best checkpoint)": float(checkpoint.best_model_score), **scores}
    train_wall = throughput.wall - throughput.val_wall
    rate = throughput.steps / train_wall if train_wall > 0 else 0.0
    return TrainResult(run_dir, run_dir / BEST if best is not None else None,
                       last if last.is_file() else None,
                       {k: v for k, v in scores.items() if not math.isnan(v)},
                       trainer.global_step // SeganGAN.optimizer_steps_per_batch,
                       throughput.wall, rate, trainer.is_global_zero)
