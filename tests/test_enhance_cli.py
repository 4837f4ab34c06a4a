"""`segan enhance` through the real CLI: formats, safety, resume, errors, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch


@pytest.fixture(scope="module")
def ckpt(tiny_ckpt: Path) -> Path:
    """The tiny checkpoint of tests/conftest.py."""
    return tiny_ckpt


def _write(path: Path, sr: int, seconds: float, channels: int = 1, subtype: str = "PCM_16"
           ) -> np.ndarray:
    n = int(sr * seconds)
    t = np.arange(n) / sr
    rng = np.random.default_rng(n + channels)
    cols = [0.3 * np.sin(2 * np.pi * 220 * (c + 1) * t) + 0.05 * rng.standard_normal(n)
            for c in range(channels)]
    x = np.stack(cols, axis=1).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x if channels > 1 else x[:, 0], sr, subtype=subtype)
    return x


@pytest.mark.parametrize("sr,channels,subtype,seconds", [
    (8000, 1, "PCM_16", 1.0), (16000, 1, "FLOAT", 0.3), (44100, 2, "PCM_24", 0.7),
    (48000, 2, "PCM_16", 1024 / 48000 * 3)])
def test_output_matches_input_format(cli, ckpt: Path, tmp_path: Path, sr: int, channels: int,
                                     subtype: str, seconds: float) -> None:
    src = tmp_path / "in.wav"
    _write(src, sr, seconds, channels, subtype)
    cli("enhance", src, tmp_path / "out.wav", "--ckpt", ckpt)
    a, b = sf.info(src), sf.info(tmp_path / "out.wav")
    assert (b.samplerate, b.channels, b.frames, b.subtype) == \
           (a.samplerate, a.channels, a.frames, a.subtype)
    y, _ = sf.read(tmp_path / "out.wav")
    assert np.all(np.isfinite(y)) and np.std(y) > 0


def test_exact_window_length_file(cli, ckpt: Path, tmp_path: Path) -> None:
    src = tmp_path / "w.flac"
    _write(src, 16000, 1024 / 16000)
    cli("enhance", src, tmp_path / "o.flac", "--ckpt", ckpt, "--chunking", "paper")
    assert sf.info(tmp_path / "o.flac").frames == 1024


def test_repeated_runs_identical_and_seed(cli, ckpt: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.wav"
    _write(src, 16000, 1.3)
    cli("enhance", src, tmp_path / "a.wav", "--ckpt", ckpt)
    cli("enhance", src, tmp_path / "b.wav", "--ckpt", ckpt)
    cli("enhance", src, tmp_path / "c.wav", "--ckpt", ckpt, "--seed", "3")
    cli("enhance", src, tmp_path / "d.wav", "--ckpt", ckpt, "--seed", "3")
    a, b, c, d = (sf.read(tmp_path / f"{k}.wav")[0] for k in "abcd")
    assert np.array_equal(a, b) and np.array_equal(c, d) and not np.array_equal(a, c)


def test_never_overwrites_without_flag(cli, ckpt: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.wav"
    _write(src, 16000, 0.5)
    (tmp_path / "o.wav").write_bytes(b"keep me")
    res = cli("enhance", src, tmp_path / "o.wav", "--ckpt", ckpt, code=2)
    assert "exists" in res.stderr and (tmp_path / "o.wav").read_bytes() == b"keep me"
    res = cli("enhance", src, src, "--ckpt", ckpt, code=2)
    assert "is the input" in res.stderr
    cli("enhance", src, tmp_path / "o.wav", "--ckpt", ckpt, "--overwrite")
    assert sf.info(tmp_path / "o.wav").frames == 8000


def test_bad_inputs_each_have_their_message(cli, ckpt: Path, tmp_path: Path,
                                            monkeypatch) -> None:
    monkeypatch.setenv("SEGAN_DEFAULT_MODEL", str(tmp_path / "gone.pt"))
    src = tmp_path / "in.wav"
    _write(src, 16000, 0.5)
    cases = []
    cases.append((["enhance", tmp_path / "missing.wav", tmp_path / "o.wav", "--ckpt", ckpt],
                  "not found"))
    (tmp_path / "junk.wav").write_text("not audio at all")
    cases.append((["enhance", tmp_path / "junk.wav", tmp_path / "o.wav", "--ckpt", ckpt],
                  "cannot read"))
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    cases.append((["enhance", tmp_path / "empty.wav", tmp_path / "o.wav", "--ckpt", ckpt],
                  "empty"))
    nan = np.zeros(4000, dtype=np.float32)
    nan[7] = np.nan
    sf.write(tmp_path / "nan.wav", nan, 16000, subtype="FLOAT")
    cases.append((["enhance", tmp_path / "nan.wav", tmp_path / "o.wav", "--ckpt", ckpt],
                  "NaN"))
    cases.append((["enhance", src, tmp_path / "o.wav", "--ckpt", tmp_path / "none.ckpt"],
                  "checkpoint not found"))
    (tmp_path / "bad.ckpt").write_bytes(b"\x00garbage" * 100)
    cases.append((["enhance", src, tmp_path / "o.wav", "--ckpt", tmp_path / "bad.ckpt"],
                  "corrupted"))
    torch.save({"state_dict": {}, "hyper_parameters": {"lr": 1}}, tmp_path / "foreign.ckpt")
    cases.append((["enhance", src, tmp_path / "o.wav", "--ckpt", tmp_path / "foreign.ckpt"],
                  "no segan settings"))
    cases.append((["enhance", src, tmp_path / "o.m4a", "--ckpt", ckpt], "extension"))
    # without --ckpt the default model runs; here it points at a missing file
    cases.append((["enhance", src, tmp_path / "o.wav"], "SEGAN_DEFAULT_MODEL points at"))
    blocker = tmp_path / "file_not_dir"
    blocker.write_text("x")
    cases.append((["enhance", src, blocker / "o.wav", "--ckpt", ckpt], "cannot write"))
    for args, message in cases:
        res = cli(*args, code=2)
        assert message in res.stderr, (args, res.stderr)
        assert "Traceback" not in res.output
    assert not (tmp_path / "o.wav").exists()


def test_folder_run_mirrors_tree_and_resumes(cli, ckpt: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    for name in ("a.wav", "sub/b.wav", "sub/deeper/c.flac", "d.wav"):
        _write(src / name, 16000, 0.4)
    (src / "sub" / "broken.wav").write_text("garbage")
    res = cli("enhance", src, "--out", tmp_path / "out", "--ckpt", ckpt, code=1)
    assert "broken.wav" in res.output and "1 file(s) failed" in res.stderr
    for name in ("a.wav", "sub/b.wav", "sub/deeper/c.flac", "d.wav"):
        assert sf.info(tmp_path / "out" / name).frames == 6400
    # a re-run skips finished files (simulating a resumed interrupted run)
    (tmp_path / "out" / "d.wav").unlink()
    (src / "sub" / "broken.wav").unlink()
    stamp = (tmp_path / "out" / "a.wav").stat().st_mtime_ns
    res = cli("enhance", src, "--out", tmp_path / "out", "--ckpt", ckpt)
    assert "skipping 3" in res.stdout and (tmp_path / "out" / "d.wav").exists()
    assert (tmp_path / "out" / "a.wav").stat().st_mtime_ns == stamp
    assert not [p for p in (tmp_path / "out").rglob("*") if p.name.startswith(".")]


def test_folder_needs_folder_output(cli, ckpt: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    _write(src / "a.wav", 16000, 0.2)
    (tmp_path / "x.wav").write_text("x")
    res = cli("enhance", src, "--out", tmp_path / "x.wav", "--ckpt", ckpt, code=2)
    assert "must be a folder" in res.stderr
    res = cli("enhance", src, "--ckpt", ckpt, code=2)
    assert "--out" in res.stderr
    res = cli("enhance", src, "--out", tmp_path / "o", "--glob", "*.flac", "--ckpt", ckpt,
              code=2)
    assert "no audio files" in res.stderr


def test_file_into_existing_folder(cli, ckpt: Path, tmp_path: Path) -> None:
    _write(tmp_path / "in.wav", 16000, 0.2)
    (tmp_path / "dest").mkdir()
    cli("enhance", tmp_path / "in.wav", "--out", tmp_path / "dest", "--ckpt", ckpt)
    assert (tmp_path / "dest" / "in.wav").is_file()


def test_wiener_method_on_real_recording(cli, tmp_path: Path, voicebank_sample: Path) -> None:
    from segan_cli.core.metrics import ssnr

    src = voicebank_sample / "noisy" / "p232_014.wav"
    cli("enhance", src, tmp_path / "w.wav", "--method", "wiener")
    clean, sr = sf.read(voicebank_sample / "clean" / "p232_014.wav")
    noisy, _ = sf.read(src)
    out, sr_out = sf.read(tmp_path / "w.wav")
    assert sr_out == sr and out.shape == noisy.shape
    assert ssnr(clean, out, sr) > ssnr(clean, noisy, sr) + 1.0



def test_folder_run_with_two_worker_processes(cli, ckpt: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    for i in range(4):
        _write(src / f"f{i}.wav", 16000, 0.5)
    cli("enhance", src, "--out", tmp_path / "seq", "--ckpt", ckpt)
    cli("enhance", src, "--out", tmp_path / "par", "--ckpt", ckpt, "--workers", "2")
    for i in range(4):
        a, _ = sf.read(tmp_path / "seq" / f"f{i}.wav")
        b, _ = sf.read(tmp_path / "par" / f"f{i}.wav")
        # workers run torch on fewer threads: float sums may differ by a 16-bit step
        assert np.max(np.abs(a - b)) <= 2 / 32768


def test_wiener_refuses_a_rate_too_low_for_its_frames(cli, tmp_path: Path) -> None:
    """A 1 Hz 'recording' gave a ZeroDivisionError traceback; now one line, no output."""
    sf.write(tmp_path / "slow.wav", np.zeros(50, dtype=np.float32) + 0.1, 1)
    for out in (tmp_path / "o.wav", tmp_path / "folder"):
        src = tmp_path / "slow.wav" if out.suffix else tmp_path
        res = cli("enhance", src, out, "--method", "wiener", code=2 if out.suffix else 1)
        assert "1 Hz" in res.stderr and "Traceback" not in res.output
    assert not (tmp_path / "o.wav").exists() and not list((tmp_path / "folder").glob("*.wav"))
