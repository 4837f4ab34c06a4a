"""The Wiener baseline in torch, per window: the second input channel of ``condition: wiener``.

A generator conditioned on the Wiener estimate starts where the classic filter already
is and learns what it gets wrong (musical noise, damaged onsets), instead of learning
noise reduction from nothing. The estimate is computed inside the model, on each input
window, so training, whole-file enhancement, streaming and export all see the same
thing: a port of :func:`segan_cli.core.dsp.wiener.wiener_enhance` (minimum-statistics
noise, decision-directed a-priori SNR, floored Wiener gain, same defaults), with the
two time recursions as loops over frames. It needs no gradient.

The estimate also exports: framing and overlap-add are written as a gather and
shifted sums (ONNX has no ``unfold``, and its ``Col2Im`` needs sizes the tracer loses),
and under ``torch.onnx.export`` the real FFT and its inverse become products with
fixed DFT matrices (ONNX export of ``fft_rfft`` is unsupported); the exported graph
then matches the eager model within 1e-6.

One difference from the whole-file baseline: frames that touch digital silence (a run
of more than ``SILENT_RUN`` equal samples, such as the zero padding of an utterance's
first and last window, which the model's input normalisation turns into a constant)
are left out of the noise minimum, which restarts after them.
Without that, the minimum of a padded window is zero, the filter passes everything,
and the per-window estimate over 16 validation utterances scored PESQ 1.431 against
the whole-file baseline's 1.554; with it, 1.498 (1.546 with windows of 32768).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

SAMPLE_RATE = 16000
FRAME_MS = 32.0
ALPHA = 0.98
GAIN_FLOOR_DB = -15.0
XI_MIN_DB = -25.0
PSD_SMOOTHING = 0.85
MIN_WINDOW_S = 1.5
BIAS = 2.0
NOISE_FLOOR = 1e-12
SILENT_RUN = 32  # equal samples in a row that mark digital silence, not a zero crossing
SILENT_LEVEL = 1e-7  # a step |x[n] - x[n-1]| at or below this counts as none


def frame_size(sr: int = SAMPLE_RATE, frame_ms: float = FRAME_MS) -> int:
    """Power of two closest to ``frame_ms`` (512 for 32 ms at 16 kHz), as the baseline."""
    return int(2 ** round(math.log2(frame_ms * sr / 1000.0)))


@torch.no_grad()
def wiener_estimate(x: Tensor, sr: int = SAMPLE_RATE) -> Tensor:
    """The Wiener-filtered ``x`` of shape (batch, 1, time), each row on its own."""
    if x.dim() != 3 or x.shape[1] != 1:
        raise ValueError(f"expected (batch, 1, time), got {tuple(x.shape)}")
    batch, _, length = x.shape
    work = x.float()
    n_fft = frame_size(sr)
    hop = n_fft // 4
    steps = torch.arange(n_fft, device=x.device, dtype=work.dtype)
    window = torch.sqrt(0.5 - 0.5 * torch.cos(2.0 * math.pi * steps / n_fft))
    pad_end = n_fft + (-(length + 2 * n_fft)) % hop
    # reflection keeps silent padding out of the noise minimum near the edges; it needs
    # a window longer than the padding (any training window is)
    mode = "reflect" if length > max(n_fft, pad_end) else "replicate"
    padded = F.pad(work, (n_fft, pad_end), mode=mode)[:, 0]
    real, imag = _rfft(_frames(padded, n_fft, hop) * window)  # (B, T, F) each
    power = real.square() + imag.square()
    silent = _silent_frames(padded, n_fft, hop)
    noise = _min_statistics(power, sr / hop, silent).clamp_min(NOISE_FLOOR)
    gains = _decision_directed(power, noise)
    frames = _irfft(real * gains, imag * gains, n_fft) * window  # (B, T, n_fft)
    total = padded.shape[-1]
    out = _overlap_add(frames, hop)
    norm = _overlap_add((window * window).expand(1, frames.shape[1], n_fft), hop)
    out = (out / norm.clamp_min(1e-8)).reshape(batch, 1, total)
    return out[..., n_fft:n_fft + length].to(x.dtype)


def _silent_frames(padded: Tensor, n_fft: int, hop: int) -> Tensor:
    """(B, T) True where a frame holds part of a run of more than SILENT_RUN equal
    samples (zeros in signal units; a constant once normalised)."""
    step = (padded[:, 1:] - padded[:, :-1]).abs()
    zero = F.pad((step <= SILENT_LEVEL).to(padded.dtype), (1, 0))[:, None]  # (B, 1, L)
    half = SILENT_RUN // 2
    # a sample sits inside a run when all SILENT_RUN + 1 samples around it are zero;
    # widening those centres by the same span covers the whole run
    inside = -F.max_pool1d(-F.pad(zero, (half, half)), 2 * half + 1, stride=1)
    run = F.max_pool1d(F.pad(inside, (half, half)), 2 * half + 1, stride=1)[:, 0]
    return _frames(run, n_fft, hop).amax(-1) > 0


def _frames(x: Tensor, size: int, hop: int) -> Tensor:
    """(B, L) -> (B, T, size): the frames ``unfold`` gives, by gathering with indices."""
    count = (x.shape[-1] - size) // hop + 1
    steps = torch.arange(count, device=x.device)[:, None] * hop
    return x[:, steps + torch.arange(size, device=x.device)[None, :]]


def _overlap_add(frames: Tensor, hop: int) -> Tensor:
    """(B, T, n) frames ``hop`` apart, ``hop`` dividing n -> (B, (T - 1) * hop + n):
    each frame cut into n / hop pieces, each piece summed in at its shift."""
    batch, count, size = frames.shape
    pieces = size // hop
    parts = frames.reshape(batch, count, pieces, hop)
    out = F.pad(parts[:, :, 0], (0, 0, 0, pieces - 1))
    for j in range(1, pieces):
        out = out + F.pad(parts[:, :, j], (0, 0, j, pieces - 1 - j))
    return out.reshape(batch, (count + pieces - 1) * hop)


def _dft_matrices(size: int, like: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Real DFT of ``size`` points as matrices: forward cos and -sin (size, F), and
    the inverse's (F, size), with the one-sided spectrum's weights folded in."""
    k = torch.arange(size // 2 + 1, dtype=torch.float64)
    angle = 2.0 * math.pi * torch.arange(size, dtype=torch.float64)[:, None] * k / size
    weight = torch.full_like(k, 2.0)
    weight[0] = 1.0
    if size % 2 == 0:
        weight[-1] = 1.0
    mats = (angle.cos(), -angle.sin(), weight[:, None] * angle.T.cos() / size,
            -weight[:, None] * angle.T.sin() / size)
    return tuple(m.to(dtype=like.dtype, device=like.device) for m in mats)


def _rfft(frames: Tensor) -> tuple[Tensor, Tensor]:
    """Real and imaginary parts of the real FFT over the last axis."""
    if torch.onnx.is_in_onnx_export():
        cos, sin, _, _ = _dft_matrices(frames.shape[-1], frames)
        return frames @ cos, frames @ sin
    spec = torch.fft.rfft(frames, dim=-1)
    return spec.real, spec.imag


def _irfft(real: Tensor, imag: Tensor, size: int) -> Tensor:
    """The inverse of :func:`_rfft` (``size`` points)."""
    if torch.onnx.is_in_onnx_export():
        _, _, cos, sin = _dft_matrices(size, real)
        return real @ cos + imag @ sin
    return torch.fft.irfft(torch.complex(real, imag), size, dim=-1)


def _min_statistics(power: Tensor, frames_per_s: float,
                    silent: Tensor | None = None) -> Tensor:
    """Noise power per (frame, bin): minimum of the recursively smoothed periodogram.

    Frames marked ``silent`` take no part: the smoothing restarts at the next frame
    with sound, and a frame whose whole minimum window is silent keeps its own power.
    """
    if silent is None:
        silent = torch.zeros(power.shape[:2], dtype=torch.bool, device=power.device)
    smoothed = torch.empty_like(power)
    state = power[:, 0]
    after_silence = torch.ones_like(silent[:, 0])
    for t in range(power.shape[1]):  # y[t] = p y[t-1] + (1-p) x[t], starting at x[0]
        now = power[:, t]
        step = PSD_SMOOTHING * state + (1.0 - PSD_SMOOTHING) * now
        quiet = silent[:, t, None]
        state = torch.where(quiet, state, torch.where(after_silence[:, None], now, step))
        after_silence = silent[:, t]
        smoothed[:, t] = torch.where(quiet, torch.full_like(state, float("inf")), state)
    size = max(1, int(round(MIN_WINDOW_S * frames_per_s)))
    flat = smoothed.transpose(1, 2).reshape(-1, 1, power.shape[1])  # (B*F, 1, T)
    # scipy's minimum_filter1d(mode="nearest"): a centred window, edges repeated
    left, right = size // 2, size - 1 - size // 2
    flat = F.pad(flat, (left, right), mode="replicate")
    minimum = -F.max_pool1d(-flat, size, stride=1)
    noise = BIAS * minimum.reshape(power.shape[0], power.shape[2], -1).transpose(1, 2)
    return torch.where(torch.isfinite(noise), noise, power)


def _decision_directed(power: Tensor, noise: Tensor) -> Tensor:
    """Floored Wiener gains from the decision-directed a-priori SNR (Ephraim & Malah)."""
    gamma = power / noise
    xi_min = 10.0 ** (XI_MIN_DB / 10.0)
    g_min = 10.0 ** (GAIN_FLOOR_DB / 20.0)
    gains = torch.empty_like(power)
    prev = torch.zeros_like(power[:, 0])
    for t in range(power.shape[1]):  # recursive in time
        xi = ALPHA * prev / noise[:, t] + (1.0 - ALPHA) * (gamma[:, t] - 1.0).clamp_min(0.0)
        g = (xi.clamp_min(xi_min) / (1.0 + xi.clamp_min(xi_min))).clamp_min(g_min)
        gains[:, t] = g
        prev = g * g * power[:, t]
    return gains
