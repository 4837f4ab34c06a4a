"""SEGAN discriminator: (candidate, noisy) pairs -> one least-squares score each.

Blocks of Conv1d (stride 2) -> virtual batch norm -> LeakyReLU, then a 1x1 conv to
one channel and a linear layer over the remaining time steps. The VBN reference batch
is a registered buffer (``ref_batch``, shape ``(B_ref, 2, window)``, channel order
(clean, noisy), model units) so it travels with the checkpoint; its batch size is
only known once set, so loading resizes the buffer to the saved shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from segan_cli.core.models.generator import down_conv
from segan_cli.core.models.vbn import VirtualBatchNorm1d


class Discriminator(nn.Module):
    """About 24.4 M parameters at the paper's widths; output shape ``(batch, 1)``.

    Example:
        >>> d = Discriminator([4, 8], kernel_size=5, window=64)
        >>> d.set_reference(torch.randn(6, 2, 64))
        >>> d(torch.randn(3, 2, 64)).shape
        torch.Size([3, 1])
    """

    def __init__(self, channels: Sequence[int], kernel_size: int, window: int,
                 leaky_slope: float = 0.3, in_channels: int = 2) -> None:
        super().__init__()
        self.channels = list(channels)
        self.window = window
        self.in_channels = in_channels
        reduction = 2 ** len(self.channels)
        if window % reduction:
            raise ValueError(f"window {window} is not a multiple of {reduction} "
                             f"(2 ** {len(self.channels)} discriminator layers)")
        c_in = [in_channels] + self.channels[:-1]
        self.convs = nn.ModuleList(
            down_conv(ci, co, kernel_size) for ci, co in zip(c_in, self.channels, strict=True))
        self.norms = nn.ModuleList(VirtualBatchNorm1d(co) for co in self.channels)
        self.act = nn.LeakyReLU(leaky_slope)
        self.reduce = nn.Conv1d(self.channels[-1], 1, kernel_size=1)
        self.linear = nn.Linear(window // reduction, 1)
        self.register_buffer("ref_batch", torch.zeros(0, in_channels, window))

    @property
    def has_reference(self) -> bool:
        """Whether a reference batch has been set (or loaded)."""
        return self.ref_batch.shape[0] > 0

    def set_reference(self, pair: Tensor) -> None:
        """Store ``pair`` (B_ref, 2, window), model units, (clean, noisy) order."""
        expected = (self.in_channels, self.window)
        if pair.dim() != 3 or tuple(pair.shape[1:]) != expected or pair.shape[0] < 1:
            raise ValueError(f"reference batch of shape {tuple(pair.shape)}, "
                             f"expected (B_ref >= 1, {expected[0]}, {expected[1]})")
        self.ref_batch = pair.detach().to(device=self.ref_batch.device,
                                          dtype=torch.float32).clone()

    def forward(self, pair: Tensor) -> Tensor:
        """Score ``pair`` (batch, 2, window); every sample is normalised independently."""
        if not self.has_reference:
            raise RuntimeError("the discriminator has no VBN reference batch; "
                               "call set_reference() first")
        n_ref = self.ref_batch.shape[0]
        h = torch.cat([self.ref_batch.to(pair.dtype), pair])
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = self.act(norm(conv(h), n_ref))
        h = self.reduce(h[n_ref:])
        return self.linear(h.flatten(1))

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str,
                              *args: Any, **kwargs: Any) -> None:
        saved = state_dict.get(prefix + "ref_batch")
        if isinstance(saved, Tensor) and saved.shape != self.ref_batch.shape:
            self.ref_batch = torch.empty_like(saved, device=self.ref_batch.device,
                                              dtype=self.ref_batch.dtype)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
