"""Turning a training checkpoint into the small model file shipped with the package.

Only the inference generator is kept (the EMA copy when the run kept one, as
:func:`~segan_cli.core.enhancement.inference.load_bundle` prefers it), floating tensors in
float16, so the file is a fraction of the checkpoint. It is still a checkpoint as
far as the readers are concerned (``state_dict`` with ``generator.`` keys and
``hyper_parameters``), so ``--ckpt``, ``segan info`` and ``--init-from`` take it as
they are. Before it is written, the float16 weights must reproduce the float32
checkpoint's enhancement within a tolerance.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segan_cli.core.enhancement.batch_enhance import own_settings_enhancer
from segan_cli.core.enhancement.inference import (
    EMA_PREFIX,
    GENERATOR_PREFIX,
    OPTIMIZER_STEPS_PER_BATCH,
    check_weights,
    checkpoint_settings,
    load_bundle,
    read_checkpoint,
)
from segan_cli.core.enhancement.package_record import PACKAGE_KEY, weights_sha256
from segan_cli.core.io.output_guard import check_output, guarded_file
from segan_cli.core.models.correction import (
    has_residual_head,
    scale_generator,
    scale_state,
    set_correction_gate,
)
from segan_cli.core.training.run import INIT_RECORD
from segan_cli.errors import CheckpointError, SeganError

STORE_DTYPE = torch.float16
TOLERANCE = 1e-3


@dataclass
class PackageReport:
    """What was written and how closely it reproduces the source checkpoint."""

    out: Path
    size_bytes: int
    max_abs_diff: float
    weights: str
    step: int
    sha256: str
    float32_keys: list[str]


def inference_weights(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    """The generator inference uses, renamed to ``generator.*``; and which one it was."""
    prefix = EMA_PREFIX if any(k.startswith(EMA_PREFIX) for k in state) else GENERATOR_PREFIX
    kept = {GENERATOR_PREFIX + k[len(prefix):]: v for k, v in state.items()
            if k.startswith(prefix)}
    if not kept:
        raise CheckpointError("the checkpoint holds no generator weights")
    return kept, prefix.rstrip(".")


def to_half(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Floating tensors to float16; one whose values float16 cannot hold stays float32.

    Integer buffers (BN ``num_batches_tracked``) keep their dtype.
    """
    out: dict[str, torch.Tensor] = {}
    kept32: list[str] = []
    for key, value in state.items():
        value = value.detach().cpu()
        if value.is_floating_point():
            half = value.to(STORE_DTYPE)
            if bool(torch.isfinite(half).all()) or not bool(torch.isfinite(value).all()):
                value = half
            else:
                kept32.append(key)
        out[key] = value.clone()
    return out, kept32


def check_signal(sample_rate: int, seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    """A speech-like check signal: a gliding harmonic voice with syllables, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    syllables = np.clip(np.sin(2 * np.pi * 3.0 * t), 0, None) ** 2
    x = 0.1 * voice * syllables + 0.02 * rng.standard_normal(t.size)
    return x.astype(np.float32)


def _enhance(path: Path, signal: np.ndarray, sample_rate: int,
             dry: float | None = None, share: float | None = None,
             gate: Sequence[float] | None = None) -> np.ndarray:
    bundle = load_bundle(path, "cpu")
    if share is not None:
        scale_generator(bundle.generator, share)
    if gate is not None:
        set_correction_gate(bundle.generator, gate)
    return own_settings_enhancer(bundle, dry).enhance(signal, sample_rate)


def package_checkpoint(src: Path, out: Path, overwrite: bool = False,
                       signal: np.ndarray | None = None, signal_rate: int | None = None,
                       tolerance: float = TOLERANCE, dry: float | None = None,
                       share: float | None = None,
                       gate: Sequence[float] | None = None) -> PackageReport:
    """Write the float16 inference generator of ``src`` to ``out``, verified first.

    ``signal`` (at ``signal_rate``) is what both models enhance for the check; by
    default a synthetic speech-like signal. Nothing is written when the packaged
    model's output differs from the checkpoint's by more than ``tolerance``. ``dry``
    (0..1) is stored as the model's own ``enhance.dry``: the share of input every
    user of the packaged model gets mixed back unless they ask otherwise. ``share``
    (0..1) scales a residual model's learned correction into the weights (exactly
    ``base + share x correction``, :mod:`~segan_cli.core.models.correction`), recorded
    as ``correction_share``. ``gate`` ([low, high]) becomes the model's
    ``model.correction_gate`` (:func:`~segan_cli.core.models.correction.window_gate`),
    recorded as ``correction_gate``.
    """
    src, out = Path(src), Path(out)
    if dry is not None and not 0.0 <= dry <= 1.0:
        raise SeganError(f"dry share {dry} is outside 0..1", "give a share such as 0.2")
    if share is not None and not 0.0 <= share <= 1.0:
        raise SeganError(f"correction share {share} is outside 0..1",
                         "give a share such as 0.5 (1 keeps the model as trained)")
    if gate is not None and (len(gate) != 2 or not 0.0 <= gate[0] < gate[1] <= 1.0):
        raise SeganError(f"correction gate {list(gate)} is not [low, high] within 0..1",
                         "give two shares of removed energy such as 0.005 0.03")
    check_output(out, overwrite, [src])  # before the work; published without clobbering
    ckpt = read_checkpoint(src)
    settings = checkpoint_settings(ckpt, src)
    weights, which = inference_weights(ckpt["state_dict"])
    check_weights(weights, src)
    if share is not None:
        if not has_residual_head(settings):
            raise SeganError(f"{src} has no residual head (model.head {settings.model.head}): "
                             "there is no learned correction to scale", "leave out the share")
        scale_state(weights, share)
    if gate is not None:
        gate = [float(v) for v in gate]
        if not (has_residual_head(settings) and settings.model.condition == "wiener"):
            raise SeganError(f"{src} is not a residual model over the Wiener estimate: "
                             "there is no correction to gate", "leave out the gate")
    half, kept32 = to_half(weights)
    global_step = int(ckpt.get("global_step") or 0)
    step = global_step // OPTIMIZER_STEPS_PER_BATCH
    sha = weights_sha256(half)
    record: dict[str, Any] = {
        "source": src.name,
        "step": step,
        "weights": which,
        "dtype": str(STORE_DTYPE).replace("torch.", ""),
        "float32_keys": kept32,
        "weights_sha256": sha,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    earlier = earlier_steps(src)
    if earlier is not None:  # a run started --init-from another: its steps count too
        record["earlier_steps"] = earlier
    hp = {k: v for k, v in ckpt["hyper_parameters"].items()
          if isinstance(v, (str, int, float, dict, list)) or v is None}
    update: dict[str, Any] = {}
    if dry is not None:
        update["enhance"] = settings.enhance.model_copy(update={"dry": float(dry)})
        record["dry"] = float(dry)
    if gate is not None:
        update["model"] = settings.model.model_copy(update={"correction_gate": gate})
        record["correction_gate"] = gate
    if update:
        hp["settings"] = settings.model_copy(update=update).model_dump(mode="json")
        checkpoint_settings({"hyper_parameters": hp}, out)  # validates the new values
    if share is not None:
        record["correction_share"] = float(share)
    package = {"state_dict": half, "hyper_parameters": hp, "global_step": global_step,
               PACKAGE_KEY: record}
    rate = settings.data.sample_rate
    x = check_signal(rate)
    if signal is not None:
        x, rate = np.asarray(signal, np.float32), signal_rate or rate
    with guarded_file(out, overwrite, inputs=[src]) as fh:
        torch.save(package, fh)  # a file object: torch's own writer hides a full disk
        tmp = fh.path
        ours = _enhance(tmp, x, rate)
        diff = float(np.max(np.abs(ours - _enhance(src, x, rate, dry, share, gate))))
        if not diff <= tolerance:
            raise CheckpointError(
                f"the float16 model differs from {src.name} by {diff:.2e} (max abs sample "
                f"difference), more than {tolerance:g}; nothing was written",
                "check the checkpoint's weights for very large or very small values")
        size = tmp.stat().st_size
    return PackageReport(out, size, diff, which, step, sha, kept32)


def earlier_steps(src: Path) -> int | None:
    """GAN steps behind the weights ``src``'s run started from (``--init-from``), read
    from the run folder's ``init_from.json``, that source's own earlier stages included;
    None for a run that started from scratch."""
    for folder in (Path(src).parent, Path(src).parent.parent):
        if (folder / INIT_RECORD).is_file():
            data = json.loads((folder / INIT_RECORD).read_text(encoding="utf-8"))
            package = data.get("package") or {}
            step = package.get("step")
            if step is None:
                step = int(data.get("global_step") or 0) // OPTIMIZER_STEPS_PER_BATCH
            return int(step) + int(package.get("earlier_steps") or 0)
    return None
