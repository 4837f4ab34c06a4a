"""The streaming enhancer on a known model: exact lengths, rates, channels, blocks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from segan_cli.core.enhancement.whole_file import Enhancer


class Identity:
    """A model that returns its input: the pipeline must then return the input."""

    sample_rate = 16000
    window = 1024
    preemphasis = 0.95

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return batch


class Halve(Identity):
    preemphasis = 0.0

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return 0.5 * batch


def _signal(sr: int, n: int, channels: int) -> np.ndarray:
    t = np.arange(n) / sr
    cols = [0.3 * np.sin(2 * np.pi * (300 + 100 * c) * t) for c in range(channels)]
    return np.stack(cols, axis=1).astype(np.float32)


@pytest.mark.parametrize("sr", [8000, 16000, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("seconds", [0.3, 2.1])
def test_identity_model_round_trips(sr: int, channels: int, seconds: float) -> None:
    x = _signal(sr, int(sr * seconds), channels)
    y = Enhancer(Identity(), "ola", batch_size=3, block_seconds=0.45, dc_block_hz=0).enhance(x, sr)
    assert y.shape == x.shape
    edge = int(0.01 * sr)
    assert np.max(np.abs(y[edge:-edge] - x[edge:-edge])) < 2e-3


@pytest.mark.parametrize("chunking", ["ola", "paper"])
def test_exact_window_length_and_short_input(chunking: str) -> None:
    e = Enhancer(Halve(), chunking, batch_size=2, dc_block_hz=0)
    for n in (1024, 100, 1):
        x = _signal(16000, n, 1)[:, 0]
        y = e.enhance(x, 16000)
        assert y.shape == x.shape and np.allclose(y, 0.5 * x, atol=1e-6)


def test_block_size_does_not_change_output() -> None:
    x = _signal(16000, 40000, 1)[:, 0]

    class Nonlinear(Identity):
        def __call__(self, batch: np.ndarray) -> np.ndarray:
            return np.tanh(4 * batch) * np.hanning(batch.shape[1] + 2)[1:-1]

    a = Enhancer(Nonlinear(), "ola", 4, block_seconds=10).enhance(x, 16000)
    b = Enhancer(Nonlinear(), "ola", 1, block_seconds=0.07).enhance(x, 16000)
    assert np.max(np.abs(a - b)) < 1e-5


def test_enhance_file_keeps_format(tmp_path: Path) -> None:
    x = _signal(44100, 30000, 2)
    src = tmp_path / "in.wav"
    sf.write(src, x, 44100, subtype="PCM_24")
    enhancer = Enhancer(Halve(), "ola", 4, block_seconds=0.2, dc_block_hz=0)
    report = enhancer.enhance_file(src, tmp_path / "o.wav")
    info = sf.info(tmp_path / "o.wav")
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (44100, 2, 30000,
                                                                           "PCM_24")
    y, _ = sf.read(tmp_path / "o.wav", dtype="float32")
    assert np.max(np.abs(y[500:-500] - 0.5 * x[500:-500])) < 2e-3
    assert report.seconds == pytest.approx(30000 / 44100) and report.rtf > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav", "o.wav"]


def test_dc_blocker_removes_the_offset_de_emphasis_makes_of_a_bias() -> None:
    """A generator with a tiny output bias: de-emphasis turns it into a 20x DC offset."""

    class Biased(Identity):
        def __call__(self, batch: np.ndarray) -> np.ndarray:
            return batch + 0.004

    x = _signal(16000, 48000, 1)[:, 0]
    raw = Enhancer(Biased(), "ola", 4, dc_block_hz=0).enhance(x, 16000)
    blocked = Enhancer(Biased(), "ola", 4).enhance(x, 16000)
    assert abs(float(np.mean(raw[8000:] - x[8000:])) - 0.08) < 0.005
    assert abs(float(np.mean(blocked[8000:]))) < 0.002
    # speech-band content passes: the 300 Hz tone keeps its level
    assert abs(np.std(blocked[8000:]) / np.std(x[8000:]) - 1) < 0.01
