"""Where the training windows of an utterance start.

Windows of ``window`` samples every ``hop`` samples, inside one utterance only
(never across files). A tail that the regular grid misses gets one more window
aligned to the utterance end; an utterance shorter than a window gives one window
that is zero-padded when read.
"""

from __future__ import annotations

import numpy as np


def window_offsets(frames: int, window: int, hop: int) -> np.ndarray:
    """Start offsets of the windows of an utterance of ``frames`` samples."""
    if frames <= 0:
        return np.zeros(0, dtype=np.int64)
    if frames <= window:
        return np.zeros(1, dtype=np.int64)
    offsets = np.arange(0, frames - window + 1, hop, dtype=np.int64)
    if offsets[-1] + window < frames:
        offsets = np.append(offsets, frames - window)
    return offsets


def count_windows(frames: int, window: int, hop: int) -> int:
    """Number of windows :func:`window_offsets` yields."""
    return int(window_offsets(frames, window, hop).size)
