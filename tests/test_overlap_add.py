"""Streaming window stitching: exact length, identity, block independence, seams."""

from __future__ import annotations

import numpy as np
import pytest

from segan_cli.core.dsp.overlap_add import process_signal, synthesis_weights


def identity(batch: np.ndarray) -> np.ndarray:
    return batch


@pytest.mark.parametrize("chunking", ["ola", "paper"])
@pytest.mark.parametrize("length", [1, 100, 255, 256, 257, 1000, 4097])
def test_identity_reconstructs_exactly(chunking: str, length: int) -> None:
    x = np.random.default_rng(length).standard_normal(length).astype(np.float32)
    y = process_signal(x, identity, 256, chunking, batch_size=3)
    assert y.shape == x.shape
    assert np.max(np.abs(y - x)) < 1e-5


@pytest.mark.parametrize("block", [1, 97, 256, 1000])
def test_blocks_do_not_change_the_result(block: int) -> None:
    x = np.random.default_rng(1).standard_normal(3000).astype(np.float32)

    def fn(b: np.ndarray) -> np.ndarray:
        return np.tanh(3 * b) * np.linspace(0.5, 1.5, b.shape[1])  # window-dependent

    whole = process_signal(x, fn, 256, "ola", batch_size=4)
    streamed = process_signal(x, fn, 256, "ola", batch_size=2, block=block)
    assert streamed.shape == x.shape
    assert np.max(np.abs(whole - streamed)) < 1e-6


def test_ola_weights_sum_to_one_inside() -> None:
    w = synthesis_weights(256, 128)
    s = w[:128] + w[128:]
    assert np.max(np.abs(s - 1)) < 2e-3


def test_ola_has_no_seam_where_paper_mode_has_one() -> None:
    # a window-dependent gain (like a generator that scales each window differently)
    # makes steps at window boundaries in paper mode; OLA blends them away
    x = np.full(256 * 8, 0.5, dtype=np.float32)
    gains = iter(np.tile([1.0, 0.6], 64))

    def fn(b: np.ndarray) -> np.ndarray:
        return np.stack([row * next(gains) for row in b])

    paper = process_signal(x, fn, 256, "paper", batch_size=1)
    gains = iter(np.tile([1.0, 0.6], 64))
    ola = process_signal(x, fn, 256, "ola", batch_size=1)
    assert np.max(np.abs(np.diff(paper))) > 0.15
    assert np.max(np.abs(np.diff(ola))) < 0.02
