"""Stopping a training run on SIGINT or SIGTERM at a step boundary, resumably.

Lightning's own handling ends a run without a word and without a checkpoint of the
step it stopped at: SIGTERM becomes a ``SystemExit`` with code 0 after the batch,
Ctrl-C a ``KeyboardInterrupt`` that exits 1. Here a signal only records itself
(:class:`~segan_cli.core.runtime.signals.StopRequest`); :class:`GracefulStop` then sets
``trainer.should_stop`` at the next step boundary, agreed by every rank under DDP,
and skips the validation Lightning would run on the way out, so the run stops
promptly. ``LastCheckpoint`` writes ``last.ckpt`` at that step, and the caller maps
the signal to an exit code (128 + signal number: 130 for SIGINT, 143 for SIGTERM).
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

from segan_cli.core.runtime.signals import StopRequest


class GracefulStop(Callback):
    """Turns a recorded stop request into ``trainer.should_stop`` at a step boundary.

    Checked at the start of training, after every batch and after every validation:
    points every rank reaches together, so under DDP the ranks agree (any rank's
    signal stops all of them) before any of them leaves the loop.
    """

    def __init__(self, request: StopRequest) -> None:
        self.request = request
        self.stopped = False

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning registered its own SIGTERM handler just before this hook
        self.request.install()
        self._check(trainer)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        self._check(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._check(trainer)

    def _check(self, trainer: L.Trainer) -> None:
        signum = self.request.signum or 0
        if trainer.world_size > 1:  # a signal to any rank stops all of them, as that signal
            import torch

            mine = torch.tensor(float(signum), device=trainer.strategy.root_device)
            signum = int(trainer.strategy.reduce(mine, reduce_op="max").item())
            if signum and self.request.signum is None:
                self.request.signum = signum  # rank 0 reports it
        if signum and not self.stopped:
            self.stopped = True
            trainer.should_stop = True
            # Lightning validates before honouring should_stop; a stop should be prompt
            trainer.limit_val_batches = 0
