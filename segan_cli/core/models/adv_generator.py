"""Advanced SEGAN generator (the seed's): residual batch-norm encoder-decoder.

Same channel and length schedule as the paper's generator, and the same wiring of
the latent (concatenated at the bottleneck) and the encoder skips (concatenated in
the decoder). Each block is ReLU(BN(conv, stride 2)); from the second block on, a
stride-4 projection of the *previous* block's input is added after the ReLU, a
residual path that skips one block. A BN -> ReLU -> Conv1d(1->1) head gives a linear
output (the targets are z-scored, so no tanh).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from segan_cli.core.models.generator import GeneratorBase, decoder_channels, down_conv, up_conv


class AdvancedGenerator(GeneratorBase):
    """Residual BN/ReLU generator; about 117.7 M parameters at the paper's widths.

    Example:
        >>> g = AdvancedGenerator([4, 8], kernel_size=5, window=64).eval()
        >>> g(torch.randn(2, 1, 64)).shape
        torch.Size([2, 1, 64])
    """

    def __init__(self, channels: Sequence[int], kernel_size: int, window: int,
                 z_channels: int | None = None) -> None:
        super().__init__(channels, kernel_size, window, z_channels)
        enc_in = [1] + self.channels[:-1]
        self.encoder = nn.ModuleList(
            _block(down_conv(ci, co, kernel_size), co)
            for ci, co in zip(enc_in, self.channels, strict=True))
        # Projection for block i reads block i-1's input: enc_in[i-1] -> channels[i].
        self.encoder_res = nn.ModuleList(
            down_conv(enc_in[i - 1], self.channels[i], kernel_size, stride=4)
            for i in range(1, self.num_layers))
        dec_in, dec_out = decoder_channels(self.channels, self.z_channels)
        self.decoder = nn.ModuleList(
            _block(up_conv(ci, co, kernel_size), co)
            for ci, co in zip(dec_in, dec_out, strict=True))
        self.decoder_res = nn.ModuleList(
            up_conv(dec_in[j - 1], dec_out[j], kernel_size, stride=4)
            for j in range(1, self.num_layers))
        self.head = nn.Sequential(
            nn.BatchNorm1d(1), nn.ReLU(), nn.Conv1d(1, 1, kernel_size, padding="same"))

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        """Enhance ``x`` (batch, 1, time) in model space; see :meth:`resolve_latent`."""
        self.check_input(x)
        skips = []
        h, prev = x, None
        for i, block in enumerate(self.encoder):
            out = block(h)
            if i > 0:
                out = out + self.encoder_res[i - 1](prev)
            prev, h = h, out
            skips.append(out)
        h, prev = torch.cat([h, self.resolve_latent(x, z)], dim=1), None
        last = self.num_layers - 1
        for j, block in enumerate(self.decoder):
            out = block(h)
            if j > 0:
                out = out + self.decoder_res[j - 1](prev)
            prev = h
            h = torch.cat([out, skips[last - 1 - j]], dim=1) if j < last else out
        return self.head(h)


def _block(conv: nn.Module, channels: int) -> nn.Sequential:
    return nn.Sequential(conv, nn.BatchNorm1d(channels), nn.ReLU())
