"""Wiener baseline: exact resynthesis, real noise reduction, better scores on real audio."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from segan_cli.core.dsp.wiener import wiener_enhance
from segan_cli.core.metrics import pesq_score, ssnr
from tests.conftest import VOICEBANK_SAMPLE, need_shared

SR = 16000


@pytest.mark.parametrize("length", [1, 511, 16000, 16001, 40007])
def test_unit_gain_resynthesises_the_input_exactly(length: int) -> None:
    x = (0.1 * np.random.default_rng(length).standard_normal(length)).astype(np.float32)
    y = wiener_enhance(x, SR, gain_floor_db=0.0)  # gain floored at 1: a pure STFT round trip
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, x, atol=1e-6)


def test_stationary_noise_is_attenuated() -> None:
    rng = np.random.default_rng(0)
    noise = (0.05 * rng.standard_normal(3 * SR)).astype(np.float32)
    y = wiener_enhance(noise, SR)
    reduction_db = 10 * np.log10(np.sum(noise.astype(np.float64) ** 2) / np.sum(y**2.0))
    assert 8.0 < reduction_db < 16.0  # close to the -15 dB gain floor, never below it
    assert np.all(np.isfinite(y))


def test_rejects_multichannel_input() -> None:
    with pytest.raises(ValueError, match="1-D"):
        wiener_enhance(np.zeros((100, 2)), SR)


def test_wiener_improves_ssnr_and_pesq_on_real_voicebank_files() -> None:
    root = need_shared(VOICEBANK_SAMPLE)
    names = sorted(p.stem for p in (root / "clean").glob("*.wav"))
    assert len(names) >= 10
    gains_ssnr, gains_pesq = [], []
    for i, name in enumerate(names):
        clean, _ = sf.read(root / "clean" / f"{name}.wav", dtype="float32")
        noisy, _ = sf.read(root / "noisy" / f"{name}.wav", dtype="float32")
        enhanced = wiener_enhance(noisy, SR)
        assert enhanced.shape == noisy.shape
        gains_ssnr.append(ssnr(clean, enhanced, SR) - ssnr(clean, noisy, SR))
        if i % 3 == 0:  # PESQ on a third of the files keeps the test fast
            gains_pesq.append(pesq_score(clean, enhanced, SR) - pesq_score(clean, noisy, SR))
    assert np.mean(gains_ssnr) > 2.0  # dB; the paper's Wiener row gains 3.4 dB
    assert np.mean(np.array(gains_ssnr) > 0) >= 0.8
    assert np.mean(gains_pesq) > 0.1
