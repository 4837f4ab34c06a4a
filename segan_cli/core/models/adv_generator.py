"""Advanced SEGAN generator (the seed's): residual batch-norm encoder-decoder.

Same channel and length schedule as the paper's generator, and the same wiring of
the latent (concatenated at the bottleneck) and the encoder skips (concatenated in
the decoder). Each block is ReLU(BN(conv, stride 2)); from the second block on, a
stride-4 projection of the *previous* block's input is added after the ReLU, a
residual path that skips one block. The output head (``model.head``):

- ``seed``: BN -> ReLU -> Conv1d(1->1), as the seed had it (the ReLU zeroes the
  negative half before the last conv, a measured brake on learning);
- ``linear``: BN -> Conv1d(1->1);
- ``residual``: the input plus a ``linear`` correction whose last conv starts at a
  tenth of its default initialisation, so an untrained model is close to the identity
  and leaving clean speech alone is easy to learn. (Starting that conv at exactly zero
  keeps the model stuck at the identity: measured, no learning in 2,000 steps.) The
  input is mapped into the output's space by a fixed affine (``skip_scale``,
  ``skip_shift``: buffers set from the corpus z-score statistics, 1 and 0 otherwise).

``model.decoder_last``: ``bn_relu`` (the seed's) ends the decoder in a one-channel
BN -> ReLU block, so the head sees a half-wave rectified signal; ``conv`` ends it in
the plain transposed conv, a signed signal.

``model.correction_gate`` (residual over ``wiener`` only) weighs the correction of each
window by the noise the Wiener estimate removes from it
(:func:`~segan_cli.core.models.correction.window_gate`): clean windows keep the base.

``model.head_norm``: ``batch`` (the seed's) starts the head with a one-channel
BatchNorm; ``none`` leaves it out. That BatchNorm makes the head blind to the scale of
the decoder's output, which then drifts without bound (nothing in the loss pins it);
its running variance, which eval mode divides by, followed the loudest training
windows: measured 6.9e5 after 1,000 steps of a residual run, whose eval-mode output was
then the input to six digits while the training loss still fell.

``model.condition``: ``none`` feeds the noisy window alone; ``wiener`` feeds it with
the Wiener baseline's estimate of the same window (:mod:`wiener_input`) as a second
channel, and the residual head adds its correction to that estimate instead of the
noisy input, so an untrained model starts at the classic filter (+0.22 to +0.32 PESQ
over Noisy on every set measured) and learns what the filter gets wrong.

``model.upsample``: ``transposed`` (the seed's) doubles the length in the decoder with
strided transposed convolutions; ``linear`` with linear interpolation followed by a
plain convolution of the same kernel and weight count. Strided transposed convolutions
leave a periodic "checkerboard" pattern whose spectrum holds peaks at multiples of
the rate divided by the upsampling period (4 and 6 kHz at 16 kHz were measured in the
shipped model's output); interpolation before the convolution has no such pattern.

``model.window_norm`` divides each input window by its RMS (floored at -60 dB) and
multiplies the head's output back: batch norm then sees one level whatever the
recording's, so its running statistics fit every input at inference. Without it,
training with random gains (+-15 dB) left the running statistics to the loudest
windows and the eval-mode model near the identity (measured).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from segan_cli.core.models.correction import set_correction_gate, window_gate
from segan_cli.core.models.generator import (
    GeneratorBase,
    decoder_channels,
    down_conv,
    same_padding,
    up_conv,
)
from segan_cli.core.models.wiener_input import wiener_estimate

HEADS = ("seed", "linear", "residual")
CONDITIONS = ("none", "wiener")
UPSAMPLES = ("transposed", "linear")
RESIDUAL_INIT_SCALE = 0.1  # of the default init of the residual head's last conv
WINDOW_NORM_FLOOR = 1e-3  # RMS floor (model units) of window normalisation: -60 dB


class AdvancedGenerator(GeneratorBase):
    """Residual BN/ReLU generator; about 117.7 M parameters at the paper's widths.

    Example:
        >>> g = AdvancedGenerator([4, 8], kernel_size=5, window=64).eval()
        >>> g(torch.randn(2, 1, 64)).shape
        torch.Size([2, 1, 64])
    """

    def __init__(self, channels: Sequence[int], kernel_size: int, window: int,
                 z_channels: int | None = None, head: str = "seed",
                 window_norm: bool = False, decoder_last: str = "bn_relu",
                 head_norm: str = "batch", condition: str = "none",
                 upsample: str = "transposed",
                 correction_gate: Sequence[float] | None = None) -> None:
        super().__init__(channels, kernel_size, window, z_channels)
        if condition not in CONDITIONS:
            raise ValueError(f"unknown condition {condition!r}; use none or wiener")
        self.condition = condition
        if upsample not in UPSAMPLES:
            raise ValueError(f"unknown upsample {upsample!r}; use transposed or linear")
        up = up_conv if upsample == "transposed" else interp_conv
        self.window_norm = bool(window_norm)
        if decoder_last not in ("bn_relu", "conv"):
            raise ValueError(f"unknown decoder_last {decoder_last!r}; use bn_relu or conv")
        if head_norm not in ("batch", "none"):
            raise ValueError(f"unknown head_norm {head_norm!r}; use batch or none")
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r}; choose one of {', '.join(HEADS)}")
        self.head_kind = head
        enc_in = [2 if condition == "wiener" else 1] + self.channels[:-1]
        self.encoder = nn.ModuleList(
            _block(down_conv(ci, co, kernel_size), co)
            for ci, co in zip(enc_in, self.channels, strict=True))
        # Projection for block i reads block i-1's input: enc_in[i-1] -> channels[i].
        self.encoder_res = nn.ModuleList(
            down_conv(enc_in[i - 1], self.channels[i], kernel_size, stride=4)
            for i in range(1, self.num_layers))
        dec_in, dec_out = decoder_channels(self.channels, self.z_channels)
        last = len(dec_out) - 1
        self.decoder = nn.ModuleList(
            nn.Sequential(up(ci, co, kernel_size))
            if j == last and decoder_last == "conv" else _block(up(ci, co, kernel_size), co)
            for j, (ci, co) in enumerate(zip(dec_in, dec_out, strict=True)))
        self.decoder_res = nn.ModuleList(
            up(dec_in[j - 1], dec_out[j], kernel_size, stride=4)
            for j in range(1, self.num_layers))
        out_conv = nn.Conv1d(1, 1, kernel_size, padding="same")
        relu = [nn.ReLU()] if head == "seed" else []
        norm = [nn.BatchNorm1d(1)] if head_norm == "batch" else []
        self.head = nn.Sequential(*norm, *relu, out_conv)
        if head == "residual":
            # near the identity, not at it: a zero conv leaves every layer behind it
            # without a consistent gradient, and the model stays the identity (measured)
            with torch.no_grad():
                out_conv.weight.mul_(RESIDUAL_INIT_SCALE)
            nn.init.zeros_(out_conv.bias)
            self.register_buffer("skip_scale", torch.ones(1))
            self.register_buffer("skip_shift", torch.zeros(1))
        self.correction_gate: tuple[float, float] | None = None
        set_correction_gate(self, correction_gate)

    def set_skip_affine(self, scale: float, shift: float) -> None:
        """Map the model-space input onto the output's space for the residual head."""
        if self.head_kind != "residual":
            raise ValueError("only the residual head has a skip path")
        self.skip_scale.fill_(float(scale))
        self.skip_shift.fill_(float(shift))

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        """Enhance ``x`` (batch, 1, time) in model space; see :meth:`resolve_latent`."""
        self.check_input(x)
        skips = []
        scale = None
        base = wiener_estimate(x) if self.condition == "wiener" else x
        h, prev = (x if base is x else torch.cat([x, base], dim=1)), None
        if self.window_norm:
            scale = (x.square().mean(dim=-1, keepdim=True) + WINDOW_NORM_FLOOR ** 2).sqrt()
            h = h / scale
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
        out = self.head(h)
        if scale is not None:
            out = out * scale
        if self.correction_gate is not None:
            out = out * window_gate(x, base, *self.correction_gate)
        if self.head_kind == "residual":
            return out + base * self.skip_scale + self.skip_shift
        return out


def interp_conv(c_in: int, c_out: int, kernel_size: int, stride: int = 2) -> nn.Sequential:
    """Linear interpolation by ``stride``, then a same-length Conv1d: an upsampling layer
    without the periodic pattern of a strided transposed convolution."""
    return nn.Sequential(nn.Upsample(scale_factor=stride, mode="linear", align_corners=False),
                         nn.Conv1d(c_in, c_out, kernel_size, padding=same_padding(kernel_size)))


def _block(conv: nn.Module, channels: int) -> nn.Sequential:
    return nn.Sequential(conv, nn.BatchNorm1d(channels), nn.ReLU())
