"""Running a training job: the run folder, Lightning's Trainer, resume, the result.

Scaling is Lightning's: ``train.accelerator/devices/num_nodes/strategy/precision``
go straight to the Trainer (DDP for several GPUs or nodes). The callbacks it installs
(validation scoring, checkpoints) are in :mod:`segan_cli.core.training.callbacks`.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from segan_cli.core.data.pipeline.datamodule import SeganDataModule
from segan_cli.core.io.files import atomic_path, write_text_atomic
from segan_cli.core.io.temporaries import remove_stale
from segan_cli.core.runtime.signals import StopRequest
from segan_cli.core.training.callbacks import (
    BestCheckpoint,
    CpuTime,
    EveryValidationCheckpoint,
    LastCheckpoint,
    StepSeeding,
    Throughput,
    ValidationScoring,
)
from segan_cli.core.training.checkpoint_io import GuardedCheckpointIO
from segan_cli.core.training.module import SeganGAN
from segan_cli.core.training.stopping import GracefulStop
from segan_cli.core.training.warm_start import (
    load_init_weights,
    read_init_source,
    read_same_model,
)
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
    (``--accelerator gpu`` without a GPU, ``--devices abc``) is a settings error."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    t = settings.train
    try:
        return L.Trainer(**_trainer_kwargs(settings), **kwargs)
    except (MisconfigurationException, ValueError, TypeError, RuntimeError,
            ImportError) as exc:  # ImportError: a plugin's package is not installed
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
    fresh optimisers); see :mod:`segan_cli.core.training.warm_start`. ``stop`` (installed by
    the caller) ends the run at a step boundary with a resumable ``last.ckpt`` when
    SIGINT or SIGTERM arrives; see :mod:`segan_cli.core.training.stopping`.
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
    # every validation's checkpoint, when asked for (scripts/choose_default.py picks later)
    every = [EveryValidationCheckpoint(run_dir / CKPT_DIR)] \
        if settings.train.keep_checkpoints else []
    throughput = Throughput()
    # a new numbered version per (resumed) session, so earlier logs are never replaced
    loggers = [CSVLogger(run_dir, name="logs"),
               TensorBoardLogger(run_dir, name="tensorboard")] if logger else False
    trainer = _build_trainer(
        settings, default_root_dir=run_dir, logger=loggers,
        # GracefulStop first: LastCheckpoint saves the step it stops at
        callbacks=[*([GracefulStop(stop)] if stop is not None else []),
                   StepSeeding(settings.train.seed), ValidationScoring(dm), checkpoint, *every,
                   LastCheckpoint(run_dir / CKPT_DIR / LAST), throughput, CpuTime(),
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
