"""What a packaged model file says about itself, read back without packaging anything.

A packaged model (:mod:`segan_cli.core.packaging.model_file`) carries a record under
:data:`PACKAGE_KEY`: its source, GAN steps and a hash of its weights. Reading it back
is part of loading a model (``segan info``, through
:func:`~segan_cli.core.enhancement.inference.checkpoint_info`) as well as of packaging,
so it lives with the loading, below packaging: the writer imports the reader, never the
other way round.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import torch

PACKAGE_KEY = "segan_package"


def weights_sha256(state: dict[str, torch.Tensor]) -> str:
    """A hash of names, dtypes, shapes and bytes: identifies the weights, not the file."""
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def package_record(ckpt: dict[str, Any]) -> dict[str, Any] | None:
    """The package record of a loaded model file, with its weights hash re-checked."""
    record = ckpt.get(PACKAGE_KEY)
    if not isinstance(record, dict):
        return None
    ok = weights_sha256(ckpt["state_dict"]) == record.get("weights_sha256")
    return {**record, "sha256_verified": ok}


def steps_in_all(record: dict[str, Any], card: Path | None = None) -> tuple[int, str] | None:
    """(GAN steps of every training stage, where that count comes from) for a packaged
    model whose ``step`` counts only its last stage: the record's ``earlier_steps``, or
    for a file packaged before they were recorded, the ``Trained N steps`` of its model
    card. None when nothing says more than ``step``."""
    step = record.get("step")
    if step is None:
        return None
    if record.get("earlier_steps") is not None:
        return int(step) + int(record["earlier_steps"]), "package record"
    if card is not None and card.is_file():
        found = re.search(r"Trained (\d[\d,]*) steps", card.read_text(encoding="utf-8"))
        if found and int(found.group(1).replace(",", "")) != int(step):
            return int(found.group(1).replace(",", "")), "model card"
    return None
