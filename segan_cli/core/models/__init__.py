"""Model builders: every width, kernel and depth comes from :class:`ModelSettings`.

Full-size parameter counts (paper widths, kernel 31, window 16384):
SEGAN generator 73,100,049; Advanced SEGAN generator 117,726,726;
discriminator 24,373,082.
"""

from __future__ import annotations

from torch import nn

from segan_cli.core.models.adv_generator import AdvancedGenerator
from segan_cli.core.models.discriminator import Discriminator
from segan_cli.core.models.generator import GeneratorBase, SeganGenerator
from segan_cli.core.models.transforms import SignalTransform
from segan_cli.core.models.vbn import VirtualBatchNorm1d
from segan_cli.errors import SettingsError
from segan_cli.settings import ModelSettings

__all__ = [
    "AdvancedGenerator",
    "Discriminator",
    "GeneratorBase",
    "SeganGenerator",
    "SignalTransform",
    "VirtualBatchNorm1d",
    "build_discriminator",
    "build_generator",
    "count_parameters",
]


def _check_window(window: int, layers: int, key: str) -> None:
    reduction = 2 ** layers
    if window % reduction:
        raise SettingsError(
            f"data.window ({window}) must be a multiple of {reduction} "
            f"(2 ** {layers} layers of model.{key})",
            f"use a window such as {max(1, round(window / reduction)) * reduction} "
            f"or fewer layers")


def build_generator(model: ModelSettings, window: int) -> GeneratorBase:
    """The generator of ``model.arch`` (``segan`` or ``adv``) for ``window``-sample inputs."""
    _check_window(window, len(model.encoder_channels), "encoder_channels")
    if model.arch == "adv":
        return AdvancedGenerator(model.encoder_channels, model.kernel_size, window,
                                 model.z_channels, head=model.head,
                                 window_norm=model.window_norm,
                                 decoder_last=model.decoder_last,
                                 head_norm=model.head_norm, condition=model.condition,
                                 upsample=model.upsample,
                                 correction_gate=model.correction_gate)
    return SeganGenerator(model.encoder_channels, model.kernel_size, window, model.z_channels)


def build_discriminator(model: ModelSettings, window: int) -> Discriminator:
    """The VBN discriminator over (candidate, noisy) pairs of ``window`` samples."""
    _check_window(window, len(model.disc_channels), "disc_channels")
    return Discriminator(model.disc_channels, model.disc_kernel_size, window,
                         leaky_slope=model.leaky_slope)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (buffers such as the VBN reference batch excluded)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
