"""Regression losses beside the paper's L1: a multi-resolution STFT loss.

Spectral convergence plus log-magnitude L1, averaged over several (fft, hop)
resolutions (Yamamoto et al. 2020, Parallel WaveGAN). L1 on samples alone lets a
generator trade noise removal for muffled speech; the log-magnitude term weighs the
quiet high bands that L1 barely sees.

The log-magnitude term compares magnitudes above a floor set relative to each
reference window's loudest bin (``FLOOR_DB``, -60 dB), applied to the estimate and
the reference alike. An absolute floor (1e-7, as before) let the bins of digital
silence and near-silence dominate the term: log(1e-7) against any small residual is a
huge error that no useful correction reduces, and it held the residual head at the
identity (measured: validation L1 flat at 0.0339 for 1,000 steps with the absolute
floor, falling to 0.0274 with the relative one; ../shared/notes/quality-probes.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

EPS = 1e-7
FLOOR_DB = -60.0  # log-magnitude floor below each reference window's loudest bin


def _magnitude(x: Tensor, fft: int, hop: int) -> Tensor:
    window = torch.hann_window(fft, device=x.device, dtype=x.dtype)
    # reflection needs a signal longer than half the FFT; shorter windows are zero-padded
    pad_mode = "reflect" if x.shape[-1] > fft // 2 else "constant"
    spec = torch.stft(x.reshape(-1, x.shape[-1]), fft, hop, window=window,
                      return_complex=True, center=True, pad_mode=pad_mode)
    return spec.abs()


def relative_floor(reference: Tensor, floor_db: float = FLOOR_DB) -> Tensor:
    """Per-window floor: ``floor_db`` below the window's loudest bin (never below EPS)."""
    peak = reference.amax(dim=(-2, -1), keepdim=True)
    return (peak * 10.0 ** (floor_db / 20.0)).clamp_min(EPS)


def stft_loss(estimate: Tensor, reference: Tensor,
              resolutions: Sequence[tuple[int, int]]) -> Tensor:
    """Mean over resolutions of spectral convergence + log-magnitude L1.

    ``estimate`` and ``reference`` are ``(batch, 1, time)`` signals in the same units.
    """
    total = estimate.new_zeros(())
    for fft, hop in resolutions:
        est = _magnitude(estimate.float(), int(fft), int(hop))
        ref = _magnitude(reference.float(), int(fft), int(hop))
        convergence = torch.linalg.vector_norm(ref - est) / torch.linalg.vector_norm(
            ref).clamp_min(EPS)
        floor = relative_floor(ref)
        log_mag = (torch.maximum(ref, floor).log() - torch.maximum(est, floor).log()
                   ).abs().mean()
        total = total + convergence + log_mag
    return total / max(1, len(resolutions))
