"""Training progress: Lightning's rich bar on a terminal (totals that respect
--max-steps), plain lines in a log file."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from lightning.pytorch.callbacks import Callback, RichProgressBar

from segan_cli.cli.log_progress import duration as _duration
from segan_cli.core.enhancement.inference import OPTIMIZER_STEPS_PER_BATCH


def gan_step(trainer: Any) -> int:
    """The GAN step (batch) the run is at; Lightning counts both optimisers' steps."""
    return trainer.global_step // OPTIMIZER_STEPS_PER_BATCH


def step_limit(trainer: Any) -> int | None:
    """The GAN step ``--max-steps`` ends the run at, if it is set."""
    if trainer.max_steps is None or trainer.max_steps <= 0:
        return None
    return trainer.max_steps // OPTIMIZER_STEPS_PER_BATCH


def epoch_limit(trainer: Any) -> int | None:
    """The GAN step ``--max-epochs`` ends the run at, if it is set and epochs are finite."""
    batches = trainer.num_training_batches
    if trainer.max_epochs is None or trainer.max_epochs <= 0 or not math.isfinite(batches):
        return None
    return int(trainer.max_epochs * batches)


class RunProgressBar(RichProgressBar):
    """An epoch's bar ends where the run ends: with ``--max-steps`` below an epoch (or
    in the last epoch) its total and ETA are the steps left, not the epoch's batches;
    the label says at which step the run ends."""

    def _run_end_step(self) -> int | None:
        """The step ``--max-steps`` stops the run at, or None when its epochs end it first."""
        steps, epochs = step_limit(self.trainer), epoch_limit(self.trainer)
        return steps if steps is not None and (epochs is None or steps < epochs) else None

    @property
    def total_train_batches(self) -> int | float:
        total = self.trainer.num_training_batches
        end = self._run_end_step()
        if end is None or not math.isfinite(total):
            return total
        done = gan_step(self.trainer)
        # the epoch's batches done, from the step count: Lightning's own counter still
        # holds the previous epoch's when the bar asks at the start of an epoch (the last
        # epoch's bar stopped at 12/18)
        in_epoch = min(max(0, done - self.trainer.current_epoch * int(total)), int(total))
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


class LineProgress(Callback):
    """Progress for a log file (``nohup segan train ... > train.log``, CI, a pipe), where
    a live bar shows nothing until the end: a plain line every ``every`` seconds (step,
    share done, speed, time left, losses), one per validation, and one at the end."""

    TRAIN_KEYS = ("g_l1", "g_adv", "g_stft", "d_loss")
    VALID_KEYS = ("val_l1", "val_pesq", "val_stoi")

    def __init__(self, write: Callable[[str], None], every: float = 60.0) -> None:
        self.write = write
        self.every = every
        self._start = self._last = 0.0
        self._first_step = 0

    @staticmethod
    def _total(trainer: Any) -> int | None:
        """The step the run ends at: the nearer of --max-steps and --max-epochs, if any."""
        ends = [e for e in (step_limit(trainer), epoch_limit(trainer)) if e is not None]
        return min(ends) if ends else None

    def _metrics(self, trainer: Any, keys: tuple[str, ...]) -> str:
        values = trainer.callback_metrics
        shown = []
        for k in keys:
            if k in values:
                shown.append(f"{k} {float(values[k]):.4g}")
                if k == "val_pesq" and "val_pesq_noisy" in values:  # what it is to beat
                    shown[-1] += f" (Noisy {float(values['val_pesq_noisy']):.4g})"
        return "  ".join(shown)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self._start = self._last = time.monotonic()
        self._first_step = gan_step(trainer)
        if trainer.is_global_zero:
            total = self._total(trainer)
            self.write(f"training from step {self._first_step}"
                       + (f" to step {total}" if total is not None else "")
                       + f" ({trainer.num_training_batches} batches per epoch)")

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        now = time.monotonic()
        if not trainer.is_global_zero or now - self._last < self.every:
            return
        self._last = now
        step, total = gan_step(trainer), self._total(trainer)
        rate = (step - self._first_step) / max(now - self._start, 1e-9)
        where = f"step {step}" + (f"/{total} ({100 * step / total:.0f}%)" if total else "")
        left = (f", {_duration((total - step) / rate)} left" if total and rate > 0 else "")
        self.write(f"{where}, epoch {trainer.current_epoch}, {rate:.2f} steps/s{left}  "
                   + self._metrics(trainer, self.TRAIN_KEYS))

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.is_global_zero and not trainer.sanity_checking:
            self.write(f"validation at step {gan_step(trainer)}: "
                       + self._metrics(trainer, self.VALID_KEYS))

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.is_global_zero:
            self.write(f"training ended at step {gan_step(trainer)} after "
                       f"{_duration(time.monotonic() - self._start)}")
