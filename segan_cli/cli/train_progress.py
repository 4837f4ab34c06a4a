"""The training progress bar: Lightning's rich bar, with totals that respect --max-steps."""

from __future__ import annotations

import math
from typing import Any

from lightning.pytorch.callbacks import RichProgressBar

from segan_cli.core.training.module import SeganGAN


class RunProgressBar(RichProgressBar):
    """An epoch's bar ends where the run ends: with ``--max-steps`` below an epoch (or
    in the last epoch) its total and ETA are the steps left, not the epoch's batches;
    the label says at which step the run ends."""

    def _run_end_step(self) -> int | None:
        """The batch step the run stops at, or None when its epochs end it first."""
        trainer = self.trainer
        if trainer.max_steps is None or trainer.max_steps <= 0:
            return None
        end = trainer.max_steps // SeganGAN.optimizer_steps_per_batch
        batches = trainer.num_training_batches
        epochs = trainer.max_epochs
        if epochs is not None and epochs > 0 and math.isfinite(batches) \
                and epochs * batches <= end:
            return None  # --max-epochs ends the run before --max-steps would
        return end

    @property
    def total_train_batches(self) -> int | float:
        total = self.trainer.num_training_batches
        end = self._run_end_step()
        if end is None or not math.isfinite(total):
            return total
        done = self.trainer.global_step // SeganGAN.optimizer_steps_per_batch
        in_epoch = self.trainer.fit_loop.epoch_loop.batch_progress.current.completed
        return min(total, in_epoch + max(0, end - done))

    def _get_train_description(self, current_epoch: int) -> str:
        end = self._run_end_step()
        if end is None:
            return super()._get_train_description(current_epoch)
        return f"Epoch {current_epoch} (the run ends at step {end})"

    def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)  # the logger's version number says nothing here
        return metrics
