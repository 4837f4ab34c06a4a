"""Full band in, full band out (issue 19, item 1): an input above the model's 16 kHz
keeps its band above 8 kHz, under the model's own gain near 8 kHz, with no seam; rate,
length and channels as before. On a real 44.1 kHz recording where one is at hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from scipy.signal import butter, sosfiltfilt

from segan_cli.core.enhancement.full_band import G_MIN
from segan_cli.core.enhancement.whole_file import Enhancer

#: a real 44.1 kHz speech recording (a volunteer's, Debian's tuxpaint-stamps-default,
#: GPL-2) in the cache `segan prepare demo --size full` fills; absent elsewhere
WIDE = Path.home() / ".cache/segan/demo/extracted/tuxpaint-stamps-default/usr/share/" \
    "tuxpaint/stamps/animals/birds/guineafowl_desc_be.ogg"


class Identity:
    """A 'model' returning its input: whatever the output differs by is the pipeline's."""

    sample_rate, window, preemphasis, dry = 16000, 1024, 0.0, 0.0

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return batch


def _power_db(x: np.ndarray, sr: int, low: float, high: float | None = None) -> float:
    sos = butter(8, [low, high] if high else low, "bandpass" if high else "highpass", fs=sr,
                 output="sos")
    return float(10 * np.log10(np.mean(sosfiltfilt(sos, x, axis=0) ** 2) + 1e-30))


def _wideband(voicebank_sample: Path, sr: int = 48000, channels: int = 1) -> np.ndarray:
    """Real VoiceBank noisy speech brought to ``sr`` plus real-shaped hiss above 8 kHz
    (the 16 kHz file has none): a wideband recording as a 48 kHz microphone gives it."""
    x, rate = sf.read(voicebank_sample / "noisy" / "p232_005.wav", dtype="float32")
    x = soxr.resample(x, rate, sr)
    rng = np.random.default_rng(5)
    hiss = sosfiltfilt(butter(4, 8000, "highpass", fs=sr, output="sos"),
                       rng.standard_normal((len(x), channels)), axis=0) * 0.01
    return (x[:, None] + hiss).astype(np.float32)


@pytest.mark.parametrize("sr,channels", [(48000, 1), (44100, 2), (22050, 1)])
def test_identity_model_gives_the_input_back_with_no_seam(voicebank_sample: Path, sr: int,
                                                          channels: int) -> None:
    x = _wideband(voicebank_sample, sr, channels)
    out = Enhancer(Identity(), dc_block_hz=0.0).enhance(x, sr)
    assert out.shape == x.shape
    err = 10 * np.log10(np.mean((out - x) ** 2) / np.mean(x ** 2))
    assert err < -80, err  # low band + the band above add up to the input
    seam = _power_db(out - x, sr, 6500, min(9500, sr / 2 - 500))
    assert seam < _power_db(x, sr, 6500, min(9500, sr / 2 - 500)) - 80
    # the old path (full_band off) loses everything above 8 kHz
    old = Enhancer(Identity(), dc_block_hz=0.0, full_band=False).enhance(x, sr)
    assert _power_db(old, sr, 8500) < _power_db(x, sr, 8500) - 30


def test_cli_keeps_the_band_above_8_khz(cli, tiny_ckpt: Path, voicebank_sample: Path,
                                        tmp_path: Path) -> None:
    x = _wideband(voicebank_sample, 48000, 2)
    sf.write(tmp_path / "wide48.wav", x, 48000, subtype="PCM_24")
    cli("enhance", tmp_path / "wide48.wav", tmp_path / "out.wav", "--ckpt", tiny_ckpt)
    y, sr = sf.read(tmp_path / "out.wav", dtype="float32")
    info = sf.info(tmp_path / "out.wav")
    assert (sr, info.channels, info.frames, info.subtype) == (48000, 2, len(x), "PCM_24")
    above_in, above_out = _power_db(x, sr, 8500), _power_db(y, sr, 8500)
    # kept, and only ever turned down, by at most the gain floor
    assert above_in + 20 * np.log10(G_MIN) - 1 <= above_out <= above_in + 0.5


def test_real_wideband_recording_with_the_default_model(cli, tmp_path: Path,
                                                        monkeypatch) -> None:
    """The issue's case: a 44.1 kHz recording through the default model took the power
    above 8.5 kHz from -50.7 dB to -161 dB; now it keeps it (the model alone, --dry 0,
    turns it down where it removes noise near 8 kHz, never below the floor)."""
    from segan_cli.weights import ENV_VAR, packaged_default

    if not WIDE.is_file():
        pytest.skip(f"no real wideband recording at {WIDE} (`segan prepare demo --size full` "
                    "fills that cache)")
    monkeypatch.delenv(ENV_VAR, raising=False)
    if not packaged_default().is_file():
        pytest.skip("no default model in this checkout")
    speech, sr = sf.read(WIDE, dtype="float32", always_2d=True)
    noisy = speech[:, 0] + 0.01 * np.random.default_rng(0).standard_normal(len(speech))
    sf.write(tmp_path / "wide44.wav", noisy.astype(np.float32), sr, subtype="PCM_24")
    for dry in ("0.6", "0"):
        out = tmp_path / f"out{dry}.wav"
        cli("enhance", tmp_path / "wide44.wav", out, "--dry", dry)
        y, rate = sf.read(out, dtype="float32")
        assert rate == 44100 and len(y) == len(noisy)
        above_in, above_out = _power_db(noisy, sr, 8500), _power_db(y, sr, 8500)
        assert above_in + 20 * np.log10(G_MIN) <= above_out <= above_in + 0.5, (dry, above_out)
    quiet = tmp_path / "out0.wav"  # the model alone: where speech is absent, hiss goes down
    y, _ = sf.read(quiet, dtype="float32")
    frames = np.arange(0, len(speech) - 2048, 2048)
    level = np.array([np.mean(speech[i:i + 2048, 0] ** 2) for i in frames])
    low = frames[np.argsort(level)[: max(3, len(frames) // 5)]]
    sos = butter(8, 8500, "highpass", fs=sr, output="sos")
    hx, hy = sosfiltfilt(sos, noisy), sosfiltfilt(sos, y)
    before = np.mean([np.mean(hx[i:i + 2048] ** 2) for i in low])
    after = np.mean([np.mean(hy[i:i + 2048] ** 2) for i in low])
    assert after < before  # the model's noise removal carried above 8 kHz
