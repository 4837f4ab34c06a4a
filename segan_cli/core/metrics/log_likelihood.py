"""Log-likelihood ratio (LPC distance) as composite.m computes it, vectorised over frames."""

from __future__ import annotations

import numpy as np

from segan_cli.core.metrics.framing import Mode, framed_pair, lowest_mean


def lpc_order(sr: int) -> int:
    """composite.m's LPC order: 10 below 10 kHz, else 16."""
    return 10 if sr < 10000 else 16


def autocorrelation(frames: np.ndarray, order: int) -> np.ndarray:
    """Lags ``0..order`` of each frame, ``R[k] = sum x[n] x[n+k]`` (direct sums)."""
    length = frames.shape[1]
    out = np.empty((frames.shape[0], order + 1), dtype=np.float64)
    for k in range(order + 1):
        out[:, k] = np.einsum("ij,ij->i", frames[:, : length - k], frames[:, k:])
    return out


def levinson(r: np.ndarray) -> np.ndarray:
    """Levinson-Durbin on each row of ``r`` (lags 0..P): returns ``[1, -a_1 .. -a_P]``.

    The same recursion as composite.m's ``lpcoeff``, run on all frames at once; the
    only Python loop is over the model order.
    """
    frames, order = r.shape[0], r.shape[1] - 1
    a = np.zeros((frames, order), dtype=np.float64)
    err = r[:, 0].copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(order):  # 0-based: computes a[:, i] = reflection coefficient i+1
            acc = r[:, i + 1] - np.einsum("ij,ij->i", a[:, :i], r[:, i:0:-1])
            k = acc / err
            if i:
                a[:, :i] = a[:, :i] - k[:, None] * a[:, i - 1::-1]
            a[:, i] = k
            err = (1.0 - k * k) * err
    return np.concatenate([np.ones((frames, 1)), -a], axis=1)


def _toeplitz_quadratic(coeffs: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``A T(R) A'`` per frame, with ``T(R)`` the symmetric Toeplitz matrix of ``R``."""
    p1 = r.shape[1]
    idx = np.abs(np.subtract.outer(np.arange(p1), np.arange(p1)))
    return np.einsum("fi,fij,fj->f", coeffs, r[:, idx], coeffs)


def llr_per_frame(clean_frames: np.ndarray, enhanced_frames: np.ndarray, sr: int) -> np.ndarray:
    """Per-frame ``log(A_e R_c A_e' / A_c R_c A_c')`` with LPC from each signal's frame."""
    order = lpc_order(sr)
    r_clean = autocorrelation(clean_frames, order)
    a_clean = levinson(r_clean)
    a_enh = levinson(autocorrelation(enhanced_frames, order))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(_toeplitz_quadratic(a_enh, r_clean) / _toeplitz_quadratic(a_clean, r_clean))


def llr(clean: np.ndarray, enhanced: np.ndarray, sr: int, mode: Mode = "standard") -> float:
    """Log-likelihood ratio: mean of the lowest 95% of per-frame values (0 when equal)."""
    fc, fe = framed_pair(clean, enhanced, sr)
    return lowest_mean(llr_per_frame(fc, fe, sr), mode)
