"""SEGAN generator (Pascual et al. 2017): a 1-D conv encoder-decoder with skips.

The encoder halves the length at every layer; the latent ``z`` is concatenated on
the channel axis at the bottleneck; the decoder doubles the length back, and every
decoder layer but the last is concatenated with the mirrored encoder feature.

``z`` is N(0, I) in training and zeros in eval mode unless given, so enhancing the
same file twice gives the same output; :meth:`GeneratorBase.latent` draws seeded or
zero latents explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def same_padding(kernel_size: int) -> int:
    """Padding that makes a strided conv map length L to L/stride (any kernel size)."""
    return (kernel_size - 1) // 2


def transpose_output_padding(kernel_size: int, stride: int) -> int:
    """Output padding that makes a transposed conv map length L to L*stride exactly.

    With padding ``(k-1)//2`` this is ``stride-1`` for odd kernels (the paper's 1 for
    stride 2, 3 for stride 4) and ``stride-2`` for even ones.
    """
    return stride + 2 * same_padding(kernel_size) - kernel_size


def down_conv(c_in: int, c_out: int, kernel_size: int, stride: int = 2) -> nn.Conv1d:
    """Strided Conv1d that divides the length by ``stride``."""
    return nn.Conv1d(c_in, c_out, kernel_size, stride=stride, padding=same_padding(kernel_size))


def up_conv(c_in: int, c_out: int, kernel_size: int, stride: int = 2) -> nn.ConvTranspose1d:
    """ConvTranspose1d that multiplies the length by ``stride``."""
    return nn.ConvTranspose1d(
        c_in, c_out, kernel_size, stride=stride, padding=same_padding(kernel_size),
        output_padding=transpose_output_padding(kernel_size, stride))


def decoder_channels(channels: Sequence[int], z_channels: int) -> tuple[list[int], list[int]]:
    """(input, output) channels of the decoder layers mirroring ``channels``.

    Input of the first layer is bottleneck + z; later inputs are the previous output
    concatenated with the mirrored encoder feature (twice its width).
    """
    outs = list(reversed(channels[:-1])) + [1]
    ins = [channels[-1] + z_channels] + [2 * c for c in reversed(channels[:-1])]
    return ins, outs


class GeneratorBase(nn.Module):
    """What both generators share: depth, latent shape and how ``z`` is chosen."""

    def __init__(self, channels: Sequence[int], kernel_size: int, window: int,
                 z_channels: int | None = None) -> None:
        super().__init__()
        self.channels = list(channels)
        self.kernel_size = kernel_size
        self.window = window
        self.num_layers = len(self.channels)
        self.z_channels = z_channels or self.channels[-1]

    @property
    def reduction(self) -> int:
        """Input length must be a multiple of this (2 ** number of encoder layers)."""
        return 2 ** self.num_layers

    def latent(self, batch: int, device: torch.device | str | None = None,
               generator: torch.Generator | None = None, zeros: bool = False,
               length: int | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
        """A latent for ``batch`` inputs of ``length`` samples (default: the window).

        ``zeros=True`` gives the deterministic inference latent; ``generator`` (a
        seeded ``torch.Generator`` on ``device``) gives a reproducible N(0, I) draw.
        """
        length = self.window if length is None else length
        shape = (batch, self.z_channels, length // self.reduction)
        if zeros:
            return torch.zeros(shape, device=device, dtype=dtype)
        return torch.randn(shape, device=device, dtype=dtype, generator=generator)

    def check_input(self, x: Tensor) -> None:
        """Reject shapes the encoder cannot halve cleanly, naming the rule."""
        if x.dim() != 3 or x.shape[1] != 1:
            raise ValueError(f"expected input of shape (batch, 1, time), got {tuple(x.shape)}")
        if x.shape[-1] % self.reduction:
            raise ValueError(
                f"input length {x.shape[-1]} is not a multiple of {self.reduction} "
                f"(2 ** {self.num_layers} encoder layers)")

    def resolve_latent(self, x: Tensor, z: Tensor | None) -> Tensor:
        """``z`` as given, else N(0, I) in training mode and zeros in eval mode."""
        if z is None:
            z = self.latent(x.shape[0], x.device, zeros=not self.training,
                            length=x.shape[-1], dtype=x.dtype)
        expected = (x.shape[0], self.z_channels, x.shape[-1] // self.reduction)
        if tuple(z.shape) != expected:
            raise ValueError(f"latent of shape {tuple(z.shape)}, expected {expected}")
        return z.to(device=x.device, dtype=x.dtype)


class SeganGenerator(GeneratorBase):
    """The paper's generator: Conv1d+PReLU encoder, ConvTranspose1d+PReLU decoder, tanh.

    Example:
        >>> g = SeganGenerator([4, 8], kernel_size=5, window=64).eval()
        >>> g(torch.randn(2, 1, 64)).shape
        torch.Size([2, 1, 64])
    """

    def __init__(self, channels: Sequence[int], kernel_size: int, window: int,
                 z_channels: int | None = None) -> None:
        super().__init__(channels, kernel_size, window, z_channels)
        enc_in = [1] + self.channels[:-1]
        self.encoder = nn.ModuleList(
            down_conv(ci, co, kernel_size) for ci, co in zip(enc_in, self.channels, strict=True))
        self.encoder_act = nn.ModuleList(nn.PReLU(co) for co in self.channels)
        dec_in, dec_out = decoder_channels(self.channels, self.z_channels)
        self.decoder = nn.ModuleList(
            up_conv(ci, co, kernel_size) for ci, co in zip(dec_in, dec_out, strict=True))
        self.decoder_act = nn.ModuleList(nn.PReLU(co) for co in dec_out[:-1])

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        """Enhance ``x`` (batch, 1, time) in model space; see :meth:`resolve_latent`."""
        self.check_input(x)
        skips = []
        h = x
        for conv, act in zip(self.encoder, self.encoder_act, strict=True):
            h = act(conv(h))
            skips.append(h)
        h = torch.cat([h, self.resolve_latent(x, z)], dim=1)
        last = self.num_layers - 1
        for j, conv in enumerate(self.decoder):
            h = conv(h)
            if j < last:
                h = torch.cat([self.decoder_act[j](h), skips[last - 1 - j]], dim=1)
        return torch.tanh(h)
