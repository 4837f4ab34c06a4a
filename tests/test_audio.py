"""The audio core: reading any subtype/rate/channel count, atomic writes, emphasis."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from segan_cli.core.io.audio import (
    audio_info,
    deemphasis,
    load_mono,
    preemphasis,
    read_audio,
    resample,
    write_audio,
)
from segan_cli.core.io.output_guard import OutputError
from segan_cli.errors import AudioError


def _tone(sr: int, seconds: float = 0.5, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT"])
def test_reads_any_subtype_as_float32(tmp_path: Path, subtype: str) -> None:
    x = _tone(16000)
    path = tmp_path / f"x_{subtype}.wav"
    sf.write(path, x, 16000, subtype=subtype)
    y, sr = read_audio(path)
    assert y.dtype == np.float32 and y.shape == (x.size, 1) and sr == 16000
    assert np.max(np.abs(y[:, 0] - x)) < 1e-4


def test_flac_ogg_stereo_and_resampling(tmp_path: Path) -> None:
    x = _tone(48000, 1.0)
    stereo = np.stack([x, 0.5 * x], axis=1)
    sf.write(tmp_path / "s.flac", stereo, 48000, subtype="PCM_24")
    y, sr = read_audio(tmp_path / "s.flac")
    assert y.shape == (48000, 2) and sr == 48000
    mono = load_mono(tmp_path / "s.flac", 16000)
    assert mono.shape == (16000,)
    # the 440 Hz tone survives 48 -> 16 kHz at 0.75 of the stereo amplitude
    assert abs(np.max(np.abs(mono[1000:-1000])) - 0.375) < 0.01
    sf.write(tmp_path / "o.ogg", x, 48000)
    assert read_audio(tmp_path / "o.ogg")[1] == 48000


def test_resample_round_trip_preserves_band() -> None:
    x = _tone(16000, 1.0, 1000.0)
    y = resample(resample(x, 16000, 44100), 44100, 16000)
    assert y.shape == x.shape
    assert np.max(np.abs(y[500:-500] - x[500:-500])) < 1e-3


def test_bad_files_raise_audio_error(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="not found"):
        read_audio(tmp_path / "missing.wav")
    (tmp_path / "text.wav").write_text("this is not audio")
    with pytest.raises(AudioError, match="cannot read"):
        read_audio(tmp_path / "text.wav")
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="empty"):
        read_audio(tmp_path / "empty.wav")
    bad = _tone(16000)
    bad[10] = np.nan
    sf.write(tmp_path / "nan.wav", bad, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN/Inf"):
        read_audio(tmp_path / "nan.wav")
    with pytest.raises(AudioError, match="folder"):
        audio_info(tmp_path)


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "t.wav"
    sf.write(path, _tone(16000), 16000)
    data = path.read_bytes()
    path.write_bytes(data[:30])
    with pytest.raises(AudioError):
        read_audio(path)


def test_write_is_atomic_and_keeps_subtype(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "o.wav"
    write_audio(out, _tone(16000), 16000, "PCM_24")
    assert audio_info(out).subtype == "PCM_24"
    assert [p.name for p in out.parent.iterdir()] == ["o.wav"]
    bad = _tone(16000)
    bad[0] = np.inf
    with pytest.raises(AudioError):
        write_audio(tmp_path / "bad.wav", bad, 16000)
    assert not (tmp_path / "bad.wav").exists()
    with pytest.raises(AudioError, match="extension"):
        write_audio(tmp_path / "x.mp9", _tone(16000), 16000)


def test_failed_write_leaves_no_partial_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "o.wav"

    def boom(*args, **kwargs):
        args[0].write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sf, "write", boom)
    with pytest.raises(OutputError, match=f"{target}: no space"):
        write_audio(target, _tone(16000), 16000)
    assert list(tmp_path.iterdir()) == []


def test_emphasis_inverts_exactly_and_streams() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(5000).astype(np.float32) * 0.1
    y = preemphasis(x, 0.95)
    z, _ = deemphasis(y, 0.95)
    assert np.max(np.abs(z - x)) < 1e-5
    # block-wise with carried state equals one pass
    parts, state, prev = [], 0.0, 0.0
    for a in range(0, x.size, 777):
        block = x[a:a + 777]
        yb = preemphasis(block, 0.95, prev)
        prev = float(block[-1])
        zb, state = deemphasis(yb, 0.95, state)
        parts.append(zb)
    assert np.max(np.abs(np.concatenate(parts) - x)) < 1e-5
    assert np.array_equal(preemphasis(x, 0.0), x)


def test_written_files_get_the_usual_mode(tmp_path: Path) -> None:
    import os

    mask = os.umask(0)
    os.umask(mask)
    write_audio(tmp_path / "o.wav", _tone(16000), 16000)
    assert (tmp_path / "o.wav").stat().st_mode & 0o777 == 0o666 & ~mask


def test_unreadable_file_reason_does_not_repeat_the_path(tmp_path: Path) -> None:
    (tmp_path / "junk.wav").write_bytes(b"not audio\n" * 40)
    with pytest.raises(AudioError) as exc:
        audio_info(tmp_path / "junk.wav")
    assert str(exc.value).count("junk.wav") == 1 and "wav'" not in str(exc.value)
