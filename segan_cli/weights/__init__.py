"""The packaged default model: where it is, and the word ``default`` for ``--ckpt``.

The trained generator ships inside the package (``segan_cli/weights/default.pt``,
written by ``scripts/package_default.py``) so that ``segan enhance in.wav out.wav``
works without training. ``SEGAN_DEFAULT_MODEL`` (a path) replaces it, e.g. in tests
or to make one's own fine-tuned model the default.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from segan_cli.errors import CheckpointError, special_kind

if TYPE_CHECKING:
    from segan_cli.core.enhancement.inference import GeneratorBundle

DEFAULT_WORD = "default"
DEFAULT_FILE = "default.pt"
MODEL_CARD = "MODEL_CARD.md"
ENV_VAR = "SEGAN_DEFAULT_MODEL"

_REBUILD = ("pass --ckpt RUN_DIR/best.ckpt (or --method wiener to enhance), or build "
            "the default with scripts/train_default.sh and scripts/package_default.py")


def _package_file(name: str) -> Path:
    """A file of this package as a real path (torch.load needs one)."""
    res = resources.files(__name__) / name
    return Path(str(res))


def packaged_default() -> Path:
    """Where the shipped default model lives (it may not exist in a source checkout)."""
    return _package_file(DEFAULT_FILE)


def model_card() -> Path:
    """The shipped model card: data, recipe, scores and limits of the default model."""
    return _package_file(MODEL_CARD)


def is_default(value: str | Path | None) -> bool:
    """Whether ``value`` asks for the default model (None or the word, any case)."""
    return value is None or str(value).strip().lower() == DEFAULT_WORD


def default_model_path() -> Path:
    """The default model file: ``$SEGAN_DEFAULT_MODEL`` if set, else the packaged one."""
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        path = Path(override).expanduser()
        if kind := special_kind(path):
            raise CheckpointError(f"{ENV_VAR} points at {path}, which is {kind}, not a "
                                  "model file", f"unset {ENV_VAR} or point it at a model file")
        if not path.is_file():
            raise CheckpointError(f"{ENV_VAR} points at {path}, which does not exist",
                                  f"unset {ENV_VAR} or point it at a model file")
        return path
    path = packaged_default()
    if not path.is_file():
        raise CheckpointError("no default model is shipped with this installation "
                              f"({display_path(path)} is missing)", _REBUILD)
    return path


def resolve_checkpoint(value: str | Path | None) -> Path:
    """``default`` (or None) -> the default model's file; anything else -> that path.

    The word wins over a file called ``default`` in the working directory; pass
    ``./default`` for that file.
    """
    if is_default(value):
        return default_model_path()
    return Path(value)  # type: ignore[arg-type]


def display_path(path: Path) -> str:
    """A short name for messages: relative to the installation for packaged files."""
    root = Path(__file__).resolve().parents[2]
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return str(path)


def default_model_note(bundle: GeneratorBundle) -> str:
    """The one line telling the user which default model runs, and where its card is."""
    package = bundle.package or {}
    step = package.get("step")
    if step is None and bundle.step is not None:
        step = bundle.step // 2  # Lightning counts both optimisers' steps
    where = display_path(bundle.path) if bundle.path is not None else DEFAULT_FILE
    parts = [where] + ([f"step {step}"] if step is not None else [])
    dry = bundle.settings.enhance.dry
    if dry:
        parts.append(f"{dry:.0%} of the input mixed back; --dry to change")
    card = model_card()
    see = f"; see {display_path(card)}" if card.is_file() else ""
    return f"using the default model ({', '.join(parts)}{see})"
