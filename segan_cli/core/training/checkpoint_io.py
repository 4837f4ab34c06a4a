"""Lightning's checkpoint writes through the output guard.

Lightning's own writer leaves a partial file (or a stray temporary) behind on a full
disk and raises from deep inside its loop; through the guard a checkpoint is complete
or absent, and a fault is one OutputError naming the checkpoint.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from segan_cli.core.io.output_guard import guarded_file


class GuardedCheckpointIO(TorchCheckpointIO):
    """TorchCheckpointIO whose saves are atomic and report write faults by file."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any,
                        storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("storage_options are not supported by segan's checkpoint writer")
        # the run rewrites its own checkpoints (last.ckpt, a better best-*.ckpt)
        with guarded_file(path, overwrite=True, suffix=".tmp.ckpt") as fh:
            torch.save(checkpoint, fh)
