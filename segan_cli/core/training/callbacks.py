"""The callbacks a training run installs: validation scoring, per-step seeding, the
resumable last checkpoint, the best checkpoint by validation PESQ, throughput, and the
CPU time a run has cost across all its sessions.

Validation scores a fixed subset of whole validation utterances with the metric
suite's PESQ and STOI, enhanced exactly as ``segan enhance`` does it; the best
checkpoint is chosen on validation PESQ, never on test data.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from segan_cli.core.data.pipeline.datamodule import SeganDataModule
from segan_cli.core.enhancement.inference import GeneratorModel
from segan_cli.core.enhancement.whole_file import Enhancer
from segan_cli.core.io.output_guard import fault, output_error
from segan_cli.core.training.module import SeganGAN
from segan_cli.settings import Settings


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
        self._noisy_pesq: float | None = None

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule
                                ) -> None:
        if trainer.sanity_checking:
            return
        if self._utts is None:
            self._utts = self.dm.validation_utterances()
        shard = self._utts[trainer.global_rank::trainer.world_size]
        scores = validation_scores(pl_module, shard, self.dm.settings, self.dm.stats)
        if self._noisy_pesq is None:  # the same utterances unprocessed: what val_pesq beats
            self._noisy_pesq = noisy_pesq(shard, self.dm.settings.data.sample_rate)
        scores["val_pesq_noisy"] = self._noisy_pesq
        for key, value in scores.items():
            pl_module.log(key, value, prog_bar=True, sync_dist=True)


def noisy_pesq(utterances: list[tuple[str, np.ndarray, np.ndarray]], sr: int) -> float:
    """Mean PESQ of the noisy inputs themselves: a val_pesq means something beside it."""
    from segan_cli.core.metrics import MetricInputError, pesq_score

    pesqs = []
    for _, clean, noisy in utterances:
        try:
            pesqs.append(pesq_score(clean, noisy, sr))
        except MetricInputError:
            pass
    return float(np.mean(pesqs)) if pesqs else float("nan")


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
    through :class:`~segan_cli.core.training.checkpoint_io.GuardedCheckpointIO` (complete or
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


class EveryValidationCheckpoint(BestCheckpoint):
    """Keeps a checkpoint of every validation (``train.keep_checkpoints``), named by its
    GAN step and validation PESQ, so that a model can be chosen among them later on
    more than the training loop's few validation utterances."""

    def __init__(self, dirpath: Path) -> None:
        super().__init__(dirpath=dirpath, filename="step-{gan_step}-pesq{val_pesq:.3f}",
                         auto_insert_metric_name=False, monitor="val_pesq", mode="max",
                         save_top_k=-1)

    def _generate_state_key(self, **kwargs: Any) -> str:
        return f"EveryValidationCheckpoint{kwargs!r}"

    def _monitor_candidates(self, trainer: L.Trainer) -> dict[str, Any]:
        out = super()._monitor_candidates(trainer)
        out["gan_step"] = trainer.global_step // SeganGAN.optimizer_steps_per_batch
        return out


class CpuTime(Callback):
    """CPU seconds this process (all its threads) spent in the run, summed over every
    resumed session: kept in the checkpoint, so a model trained across sessions states
    its real cost (``segan info`` shows it in CPU-hours). Under DDP it is rank 0's."""

    def __init__(self) -> None:
        self.cpu_seconds = 0.0
        self._mark: float | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._mark = time.process_time()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        now = time.process_time()
        if self._mark is not None:
            self.cpu_seconds += now - self._mark
        self._mark = now

    def state_dict(self) -> dict[str, float]:
        return {"cpu_seconds": self.cpu_seconds}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.cpu_seconds = float(state_dict.get("cpu_seconds", 0.0))
