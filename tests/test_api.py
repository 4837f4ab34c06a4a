"""The public Python API (`segan_cli.load`, `.enhance`, `.enhance_file`, `evaluate`) on real
VoiceBank audio with a tiny really-trained checkpoint, checked against the real CLI."""

from __future__ import annotations

import csv
import io
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

import segan_cli
from segan_cli.core.io.output_guard import OutputExistsError
from segan_cli.core.metrics import METRICS
from segan_cli.core.packaging.model_file import package_checkpoint
from segan_cli.errors import CheckpointError, SeganError
from segan_cli.weights import ENV_VAR, packaged_default
from tests.conftest import Cli

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "tiny.yaml"
RUN = ["--config", TINY, "--batch-size", "4", "--set", "data.window=2048",
       "--set", "data.hop=1024", "--set", "train.val_utterances=1",
       "--set", "train.num_workers=0", "--set", "train.pin_memory=false",
       "--accelerator", "cpu", "--devices", "1"]
NAME = "p232_170"  # the shortest sample pairs (about 2 s each)
OTHER = "p232_052"
PCM16_STEP = 1 / 32768


@pytest.fixture(scope="module")
def ckpt(short_train_corpus: Path, tmp_path_factory) -> Path:
    """A tiny SEGAN trained for 3 steps on real speech (tests/conftest.py's corpus)."""
    run = tmp_path_factory.mktemp("api") / "run"
    Cli()("train", "--data", short_train_corpus, "--out", run, "--max-steps", "3", *RUN)
    return run / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def packaged(ckpt: Path, tmp_path_factory) -> Path:
    """That checkpoint as a packaged model file, as the shipped default is made."""
    return package_checkpoint(ckpt, tmp_path_factory.mktemp("pkg") / "default.pt").out


@pytest.fixture(scope="module")
def denoiser(ckpt: Path) -> segan_cli.Denoiser:
    return segan_cli.load(ckpt)


def _read(path: Path) -> tuple[np.ndarray, int]:
    x, sr = sf.read(path, dtype="float32")
    return x, int(sr)


def _pcm16(x: np.ndarray, sr: int) -> np.ndarray:
    """``x`` as `segan enhance` writes it to a PCM_16 file, read back."""
    buf = io.BytesIO()
    sf.write(buf, np.clip(x, -1, 1), sr, subtype="PCM_16", format="WAV")
    buf.seek(0)
    return sf.read(buf, dtype="float32")[0]


def _stereo(voicebank_sample: Path) -> tuple[np.ndarray, int]:
    """Two real noisy recordings as the channels of one (time, 2) array."""
    a, sr = _read(voicebank_sample / "noisy" / f"{NAME}.wav")
    b, _ = _read(voicebank_sample / "noisy" / f"{OTHER}.wav")
    n = min(a.size, b.size)
    return np.stack([a[:n], b[:n]], axis=1), sr


def test_import_is_light() -> None:
    code = ("import sys, segan_cli; segan_cli.load; segan_cli.evaluate; "
            "print(sorted(m for m in ('torch', 'typer', 'rich', 'lightning') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout
    assert out.strip() == "[]"
    assert segan_cli.__version__ and {"load", "evaluate", "Denoiser"} <= set(dir(segan_cli))


def test_properties(denoiser: segan_cli.Denoiser, ckpt: Path) -> None:
    assert (denoiser.sample_rate, denoiser.window, denoiser.arch) == (16000, 2048, "segan")
    assert denoiser.step == 3 and denoiser.path == ckpt
    assert str(denoiser.device) == "cpu" and "segan" in repr(denoiser)


def test_mono_array_equals_what_the_cli_writes(cli, denoiser: segan_cli.Denoiser, ckpt: Path,
                                               voicebank_sample: Path, tmp_path: Path,
                                               one_torch_thread) -> None:
    src = voicebank_sample / "noisy" / f"{NAME}.wav"
    x, sr = _read(src)
    y = denoiser.enhance(x, sr)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32 and y.shape == x.shape
    assert np.isfinite(y).all() and not np.allclose(y, x, atol=1e-3)  # the model did act
    cli("enhance", src, tmp_path / "cli.wav", "--ckpt", ckpt)
    written, rate = _read(tmp_path / "cli.wav")
    assert rate == sr and sf.info(tmp_path / "cli.wav").subtype == "PCM_16"
    # the file is the same signal, written as 16-bit PCM (libsndfile scales by 32767 and
    # reads back by 32768, so a sample may differ from y by more than half a step)
    assert np.max(np.abs(np.clip(y, -1, 1) - written)) <= 2 * PCM16_STEP
    assert np.array_equal(_pcm16(y, sr), written)  # bit-exact once quantised the same way
    report = denoiser.enhance_file(src, tmp_path / "api.wav")
    assert report.output == tmp_path / "api.wav" and report.seconds == pytest.approx(x.size / sr)
    assert np.array_equal(_read(tmp_path / "api.wav")[0], written)  # one path, one result


def test_stereo_other_rate_equals_the_cli(cli, denoiser: segan_cli.Denoiser, ckpt: Path,
                                          voicebank_sample: Path, tmp_path: Path,
                                          one_torch_thread) -> None:
    """(time, 2) at 22.05 kHz: resampled to the model's rate and back, as the file path."""
    x16, _ = _stereo(voicebank_sample)
    x = soxr.resample(x16, 16000, 22050).astype(np.float32)
    y = denoiser.enhance(x, 22050)
    assert y.shape == x.shape and y.dtype == np.float32
    src = tmp_path / "stereo.wav"
    sf.write(src, x, 22050, subtype="FLOAT")
    cli("enhance", src, tmp_path / "cli.wav", "--ckpt", ckpt)
    written, rate = _read(tmp_path / "cli.wav")
    assert rate == 22050 and written.shape == x.shape
    assert np.max(np.abs(y - written)) < 1e-6
    # channels are enhanced independently: each equals that channel enhanced alone
    assert np.max(np.abs(denoiser.enhance(x[:, 1], 22050) - y[:, 1])) < 1e-6


def test_channels_first_and_tensors(denoiser: segan_cli.Denoiser, voicebank_sample: Path,
                                    one_torch_thread) -> None:
    x, sr = _stereo(voicebank_sample)
    y = denoiser.enhance(x, sr)
    y_cf = denoiser.enhance(np.ascontiguousarray(x.T), sr, channels_first=True)
    assert y_cf.shape == (2, x.shape[0]) and np.max(np.abs(y_cf - y.T)) < 1e-6
    t = denoiser.enhance(torch.from_numpy(x), sr)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    assert tuple(t.shape) == x.shape and t.device == torch.device("cpu")
    assert np.max(np.abs(t.numpy() - y)) < 1e-6
    mono = torch.from_numpy(x[:, 0]).double()  # float64 tensor, 1-D, channels-first ignored
    t1 = denoiser.enhance(mono, sr, channels_first=True)
    assert t1.shape == mono.shape and t1.dtype == torch.float32
    assert np.max(np.abs(t1.numpy() - y[:, 0])) < 1e-6


@pytest.mark.parametrize("shape,channels_first,words", [
    ((2, 16000), False, ["16000 channels of 2 samples", "channels_first=True"]),
    ((16000, 2), True, ["16000 channels of 2 samples", "drop channels_first"]),
    ((3, 400), False, ["more channels than samples", "channels_first=True"]),
    ((40, 4000), True, ["40 channels", "at most 32"]),
    ((4000, 33), False, ["33 channels", "at most 32"]),
    ((2, 3, 400), False, ["(2, 3, 400)", "expected (time,)"]),
    ((0,), False, ["no samples"]),
    ((0, 2), False, ["no samples"]),
])
def test_implausible_shapes_raise(denoiser: segan_cli.Denoiser, shape: tuple[int, ...],
                                  channels_first: bool, words: list[str]) -> None:
    x = np.zeros(shape, np.float32)
    for signal in (x, torch.from_numpy(x)):
        with pytest.raises(segan_cli.SignalError) as info:
            denoiser.enhance(signal, 16000, channels_first=channels_first)
        assert isinstance(info.value, ValueError)
        for word in words:
            assert word in str(info.value)


def test_bad_samples_and_rates_raise(denoiser: segan_cli.Denoiser) -> None:
    x = np.zeros(4000, np.float32)
    x[10] = np.nan
    with pytest.raises(segan_cli.SignalError, match="1 NaN/Inf"):
        denoiser.enhance(x, 16000)
    with pytest.raises(segan_cli.SignalError, match="dtype int16"):
        denoiser.enhance(np.zeros(4000, np.int16), 16000)
    for rate in (0, -8000, 16000.5, True, "16000"):
        with pytest.raises(segan_cli.SignalError, match="sample rate"):
            denoiser.enhance(np.zeros(4000, np.float32), rate)  # type: ignore[arg-type]


def test_enhance_file_guards_like_the_cli(denoiser: segan_cli.Denoiser,
                                          voicebank_sample: Path, tmp_path: Path,
                                          one_torch_thread) -> None:
    src = voicebank_sample / "noisy" / f"{NAME}.wav"
    out = tmp_path / "out"
    out.mkdir()
    report = denoiser.enhance_file(src, out)  # a folder keeps the input's name
    assert report.output == out / f"{NAME}.wav" and sf.info(report.output).frames == \
        sf.info(src).frames
    before = report.output.read_bytes()
    with pytest.raises(OutputExistsError, match="output exists"):
        denoiser.enhance_file(src, out)
    assert report.output.read_bytes() == before
    denoiser.enhance_file(src, out, overwrite=True)
    assert report.output.read_bytes() == before  # deterministic: z = 0
    with pytest.raises(SeganError, match="is the input file"):
        denoiser.enhance_file(report.output, report.output, overwrite=True)
    with pytest.raises(SeganError, match="unsupported extension"):
        denoiser.enhance_file(src, tmp_path / "x.mp4")
    assert sorted(p.name for p in out.iterdir()) == [f"{NAME}.wav"]  # no temporaries left


def test_load_default_follows_the_environment(packaged: Path, ckpt: Path, monkeypatch,
                                              voicebank_sample: Path, one_torch_thread
                                              ) -> None:
    monkeypatch.setenv(ENV_VAR, str(packaged))
    d = segan_cli.load("default")
    assert d.path == packaged and d.step == 3 and d.arch == "segan"
    x, sr = _read(voicebank_sample / "noisy" / f"{NAME}.wav")
    # float16 weights: within the packaging tolerance of the checkpoint's output
    assert np.max(np.abs(d.enhance(x, sr) - segan_cli.load(ckpt).enhance(x, sr))) < 1e-2
    monkeypatch.setenv(ENV_VAR, str(packaged.with_name("missing.pt")))
    with pytest.raises(CheckpointError, match="does not exist"):
        segan_cli.load("default")
    monkeypatch.delenv(ENV_VAR)
    if packaged_default().is_file():
        assert segan_cli.load().path == packaged_default()
    else:  # the one-line message of `--ckpt default` without a shipped model
        with pytest.raises(CheckpointError, match="no default model is shipped"):
            segan_cli.load()
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        segan_cli.load(packaged.with_name("nope.ckpt"))


def test_evaluate_equals_segan_evaluate(cli, denoiser: segan_cli.Denoiser,
                                        voicebank_sample: Path, tmp_path: Path,
                                        one_torch_thread) -> None:
    clean = voicebank_sample / "clean" / f"{NAME}.wav"
    enhanced = tmp_path / "enhanced" / f"{NAME}.wav"
    enhanced.parent.mkdir()
    denoiser.enhance_file(voicebank_sample / "noisy" / f"{NAME}.wav", enhanced)
    scores = segan_cli.evaluate(clean, enhanced)
    assert tuple(scores) == METRICS and all(math.isfinite(v) for v in scores.values())
    c, sr = _read(clean)
    e, _ = _read(enhanced)
    assert segan_cli.evaluate(c, torch.from_numpy(e), sr) == scores  # arrays and tensors

    cli("evaluate", "--clean", voicebank_sample / "clean", "--enhanced", enhanced.parent,
        "--workers", "1", "--csv", tmp_path / "scores.csv")
    with open(tmp_path / "scores.csv") as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["file"] == NAME
    for key in METRICS:
        assert float(row[key]) == pytest.approx(scores[key], abs=1e-6), key

    result = segan_cli.evaluate_folder(voicebank_sample / "clean", enhanced.parent)
    assert result.n_scored == 1 and result.rows[0] == {"name": NAME, **scores}
    assert any("24 clean file(s) have no enhanced version" in w.message
               for w in result.warnings)
    with pytest.raises(ValueError, match="pass its sample_rate"):
        segan_cli.evaluate(c, e)
    with pytest.raises(ValueError, match="unknown metrics mode"):
        segan_cli.evaluate(c, e, sr, mode="matlab")


def _readme_example() -> str:
    text = (REPO / "README.md").read_text()
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "the README's Python API section has no python example"
    return blocks[0]


def test_readme_example_runs(packaged: Path, voicebank_sample: Path, tmp_path: Path) -> None:
    """The README's example, as written, in a fresh interpreter on a real pair."""
    os.symlink(voicebank_sample / "noisy" / f"{NAME}.wav", tmp_path / "noisy.wav")
    os.symlink(voicebank_sample / "clean" / f"{NAME}.wav", tmp_path / "clean.wav")
    env = {**os.environ, ENV_VAR: str(packaged), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", _readme_example()], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Denoiser(arch='segan'" in proc.stdout and "'pesq':" in proc.stdout
    assert sf.info(tmp_path / "enhanced.wav").frames == sf.info(tmp_path / "noisy.wav").frames
