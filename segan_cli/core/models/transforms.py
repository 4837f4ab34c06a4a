"""The signal transform between raw windows and model space, shared by training and inference.

Per settings: FIR pre-emphasis ``x[n] - a*x[n-1]`` when ``model.preemphasis > 0``
(arch ``segan``), and the corpus z-score when ``model.input_norm == "zscore"`` (arch
``adv``: noisy mean/std on the input, clean mean/std on the target and output).
If both are enabled, pre-emphasis comes first.

:meth:`SignalTransform.from_model_output` undoes the z-score only. The IIR
de-emphasis that inverts pre-emphasis must run once over a whole stitched file (see
``segan_cli.core.io.audio.deemphasis``), never per window, so it is the caller's job.
All methods take and return torch tensors of shape ``(batch, 1, time)``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from segan_cli.errors import CorpusError
from segan_cli.settings import ModelSettings

STAT_KEYS = ("noisy_mean", "noisy_std", "clean_mean", "clean_std")


def preemphasize(x: Tensor, coef: float, prev: Tensor | None = None) -> Tensor:
    """FIR pre-emphasis along the last axis; ``prev`` is each row's preceding sample.

    With ``prev`` (shape ``(batch, 1)`` or broadcastable), a window's result equals
    the matching slice of the whole-file pre-emphasis; without it, zero is assumed.
    """
    if coef == 0:
        return x
    if prev is None:
        first = torch.zeros_like(x[..., :1])
    else:
        first = prev.to(device=x.device, dtype=x.dtype).reshape(*x.shape[:-1], 1)
    return x - coef * torch.cat([first, x[..., :-1]], dim=-1)


class SignalTransform:
    """Raw <-> model-space mapping of one model; plain floats, no trainable state.

    Example:
        >>> t = SignalTransform(preemphasis=0.95)
        >>> t.to_model_input(torch.ones(1, 1, 3))
        tensor([[[1.0000, 0.0500, 0.0500]]])
    """

    def __init__(self, preemphasis: float = 0.0,
                 stats: Mapping[str, float] | None = None) -> None:
        self.preemphasis = float(preemphasis)
        self.stats = None if stats is None else {k: float(stats[k]) for k in STAT_KEYS}
        if self.stats is not None and (self.stats["noisy_std"] <= 0
                                       or self.stats["clean_std"] <= 0):
            raise CorpusError("corpus statistics have a non-positive standard deviation",
                              "recompute them with `segan stats`")

    @classmethod
    def from_settings(cls, model: ModelSettings,
                      stats: Mapping[str, float] | None = None) -> SignalTransform:
        """The transform ``model`` asks for; z-score needs the corpus ``stats``."""
        zscore = model.input_norm == "zscore"
        if zscore:
            missing = [k for k in STAT_KEYS if stats is None or k not in stats]
            if missing:
                raise CorpusError(
                    f"model.input_norm is 'zscore' but corpus statistics lack "
                    f"{', '.join(missing)}",
                    "prepare the corpus again or run `segan stats` to compute them")
        return cls(model.preemphasis, stats if zscore else None)

    def identity_affine(self) -> tuple[float, float]:
        """(scale, shift) mapping a model input onto the output that leaves it unchanged.

        The residual head adds ``scale * x + shift`` to its correction, so that a zero
        correction returns the noisy input itself in signal units.
        """
        if self.stats is None:
            return 1.0, 0.0
        s = self.stats
        return (s["noisy_std"] / s["clean_std"],
                (s["noisy_mean"] - s["clean_mean"]) / s["clean_std"])

    def to_model_input(self, noisy: Tensor, prev: Tensor | None = None) -> Tensor:
        """Noisy raw window -> generator/discriminator input."""
        x = preemphasize(noisy, self.preemphasis, prev)
        if self.stats is not None:
            x = (x - self.stats["noisy_mean"]) / self.stats["noisy_std"]
        return x

    def to_model_target(self, clean: Tensor, prev: Tensor | None = None) -> Tensor:
        """Clean raw window -> the space the generator's output lives in."""
        x = self.to_output_signal(clean, prev)
        if self.stats is not None:
            x = (x - self.stats["clean_mean"]) / self.stats["clean_std"]
        return x

    def from_model_output(self, y: Tensor) -> Tensor:
        """Generator output -> signal units (still pre-emphasised if pre-emphasis is on)."""
        if self.stats is not None:
            y = y * self.stats["clean_std"] + self.stats["clean_mean"]
        return y

    def to_output_signal(self, clean: Tensor, prev: Tensor | None = None) -> Tensor:
        """Clean raw window in the space :meth:`from_model_output` returns (for L1)."""
        return preemphasize(clean, self.preemphasis, prev)
