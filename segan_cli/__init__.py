"""segan: speech denoising with SEGAN-family generative adversarial networks.

The Python API (see :mod:`segan_cli.core.api`)::

    import segan_cli
    denoiser = segan_cli.load("default")          # or a checkpoint path
    y = denoiser.enhance(x, sr)                    # (time,) or (time, channels)
    scores = segan_cli.evaluate(clean, y, sr)

Importing the package stays light: the API module loads on first use, and torch only
when a model is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Denoiser", "SignalError", "__version__", "evaluate", "evaluate_folder", "load"]
_API = frozenset(__all__) - {"__version__"}

if TYPE_CHECKING:
    from segan_cli.core.api import Denoiser, SignalError, evaluate, evaluate_folder, load


def __getattr__(name: str) -> Any:
    if name in _API:
        from segan_cli.core import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _API)
