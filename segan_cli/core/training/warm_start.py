"""Starting a new run from another checkpoint's weights (``segan train --init-from``).

Fine-tuning, e.g. the packaged default model on one's own recordings: the new run
builds the same model as the source (checked by name, as ``--resume`` does), takes
its generator weights and, when the source has them, its discriminator weights,
and starts with fresh optimisers, step 0 and its own corpus (statistics and VBN
reference batch). A source without EMA weights seeds a run's EMA copy from the
loaded generator.

The window may differ from the source's: the generators are fully convolutional, so
their weights fit any window (a model trained on 1-s windows fine-tuned on 2-s ones).
The discriminator ends in a layer sized by the window; it is then left fresh.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from segan_cli.core.enhancement.inference import (
    EMA_PREFIX,
    GENERATOR_PREFIX,
    check_stats,
    check_weights,
    checkpoint_settings,
    read_checkpoint,
)
from segan_cli.errors import CheckpointError
from segan_cli.settings import Settings

DISC_PREFIX = "discriminator."
REFERENCE_KEY = "discriminator.ref_batch"


def model_differences(old: Settings, new: Settings, window: bool = True) -> list[str]:
    """Names of the model settings (and, with ``window``, ``data.window``) that differ
    between two runs."""
    changed = [k for k, v in old.model.model_dump().items() if getattr(new.model, k) != v]
    if window and old.data.window != new.data.window:
        changed.append("data.window")
    return changed


def source_defaults(source: Settings) -> dict[str, dict[str, Any]]:
    """Settings a run started from ``source`` takes when no config is given.

    The model (bar the arch, which ``--arch`` or the source gives) and the windowing;
    hop comes along because the default hop may not fit a smaller window.
    """
    model = source.model.model_dump(mode="json")
    model.pop("arch")
    return {"model": model, "data": {"window": source.data.window, "hop": source.data.hop}}


def read_same_model(path: Path, settings: Settings, label: str, arch_message: str,
                    arch_hint: str, settings_hint: str, any_window: bool = False
                    ) -> dict[str, Any]:
    """Checkpoint ``path``, refused unless it holds the model ``settings`` describe, with
    finite weights and corpus statistics (NaN would only train into NaN, and damaged
    statistics mean a damaged file). Shared by resume and
    ``--init-from``; ``label`` names the file, ``arch_message`` and ``arch_hint`` are
    formatted with ``old`` and ``new`` arch. ``any_window`` accepts another
    ``data.window`` (a warm start; a resumed run keeps its window)."""
    path = Path(path)
    ckpt = read_checkpoint(path)
    old = checkpoint_settings(ckpt, path)
    check_weights(ckpt["state_dict"], path)
    check_stats(ckpt["hyper_parameters"].get("stats"), old, path)
    if old.model.arch != settings.model.arch:
        names = {"old": old.model.arch, "new": settings.model.arch}
        raise CheckpointError(f"{label} {arch_message.format(**names)}",
                              arch_hint.format(**names))
    changed = model_differences(old, settings, window=not any_window)
    if changed:
        raise CheckpointError(
            f"{label} was trained with other model settings ({', '.join(changed)})",
            settings_hint)
    return ckpt


def read_init_source(path: Path, settings: Settings) -> dict[str, Any]:
    """The source checkpoint, refused unless it holds the model ``settings`` describe."""
    return read_same_model(
        path, settings, f"--init-from {path}", "holds an '{old}' model, but this run is '{new}'",
        "train with --arch {old}",
        "leave out --config to take the source's model settings, or make them match",
        any_window=True)


def _part(state: dict[str, torch.Tensor], prefix: str, skip: tuple[str, ...] = ()
          ) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state.items()
            if k.startswith(prefix) and k not in skip}


def _load(module: torch.nn.Module, state: dict[str, torch.Tensor], path: Path,
          allow_missing: tuple[str, ...] = ()) -> None:
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise CheckpointError(f"--init-from {path}: weights do not fit this model "
                              f"({str(exc).splitlines()[0]})") from exc
    missing = [k for k in result.missing_keys if k not in allow_missing]
    if missing or result.unexpected_keys:
        keys = ", ".join((missing + result.unexpected_keys)[:4])
        raise CheckpointError(f"--init-from {path}: weights do not fit this model ({keys})")


def _shapes_fit(module: torch.nn.Module, state: dict[str, torch.Tensor]) -> bool:
    """Whether every tensor of ``state`` has the shape of ``module``'s own (a
    discriminator trained on another window does not)."""
    own = module.state_dict()
    return all(k in own and own[k].shape == v.shape for k, v in state.items())


def load_init_weights(module: Any, ckpt: dict[str, Any], path: Path) -> list[str]:
    """Copy a source checkpoint's weights into a fresh SeganGAN; returns what was loaded.

    The VBN reference batch is left to the new run (it is data of the source's corpus),
    and so is the residual head's skip affine (it follows the new corpus statistics).
    """
    state = ckpt["state_dict"]
    loaded = ["generator"]
    with torch.no_grad():
        _load(module.generator, _part(state, GENERATOR_PREFIX), path)
        disc = _part(state, DISC_PREFIX, skip=(REFERENCE_KEY,))
        if disc and _shapes_fit(module.discriminator, disc):
            _load(module.discriminator, disc, path, allow_missing=("ref_batch",))
            loaded.append("discriminator")
        if module.generator_ema is not None:
            ema = _part(state, EMA_PREFIX)
            if ema:
                _load(module.generator_ema, ema, path)
                loaded.append("generator_ema")
            else:
                module.generator_ema.load_state_dict(module.generator.state_dict())
        if module.settings.model.head == "residual":
            affine = module.transform.identity_affine()
            for gen in (module.generator, module.generator_ema):
                if gen is not None:
                    gen.set_skip_affine(*affine)
    return loaded
