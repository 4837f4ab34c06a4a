"""`--dry` that means what it says, and `segan export` that keeps the model's dry share
and says what it holds (issue 19, item 4), on real recordings and the shipped model."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from segan_cli.core.enhancement.inference import GeneratorModel, load_bundle
from segan_cli.core.enhancement.whole_file import Enhancer
from segan_cli.core.packaging.export import META_KEY, OnnxModel, ScriptedModel
from segan_cli.weights import ENV_VAR, packaged_default


@pytest.fixture
def shipped(monkeypatch) -> Path:
    """The model that ships in the package (skips in a checkout without it)."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    path = packaged_default()
    if not path.is_file():
        pytest.skip("no default model in this checkout")
    return path


@pytest.fixture
def mixing_default(shipped: Path, tmp_path: Path, monkeypatch) -> Path:
    """The shipped model saved again with a dry share of its own (0.4) and made the
    default: the packaged default mixes none of the input back (``enhance.dry`` 0), and
    what an export carries only shows with a share that is not 0."""
    blob = torch.load(shipped, map_location="cpu", weights_only=True)
    blob["hyper_parameters"]["settings"]["enhance"]["dry"] = 0.4
    path = tmp_path / "mixing.pt"
    torch.save(blob, path)
    monkeypatch.setenv(ENV_VAR, str(path))
    return path


@pytest.fixture
def model_never_runs(monkeypatch) -> None:
    def refuse(self, batch):
        raise AssertionError("the model ran although --dry 1 asks for the input")

    monkeypatch.setattr(GeneratorModel, "__call__", refuse)


def _as(src: Path, dst: Path, subtype: str) -> Path:
    x, sr = sf.read(src, dtype="float64")
    sf.write(dst, x, sr, subtype=subtype)
    return dst


def test_dry_one_returns_the_input_bit_for_bit(cli, shipped: Path, model_never_runs,
                                               voicebank_sample: Path, tmp_path: Path) -> None:
    """On p232_005 the DC blocker alone once left a -10.8 dB error; now the samples are
    copied, in every sample format, and the model does not run."""
    src = voicebank_sample / "noisy" / "p232_005.wav"
    cli("enhance", src, tmp_path / "out.wav", "--dry", "1")
    assert np.array_equal(sf.read(src, dtype="int16")[0],
                          sf.read(tmp_path / "out.wav", dtype="int16")[0])
    for subtype, ext, dtype in (("PCM_24", ".flac", "int32"), ("FLOAT", ".wav", "float32"),
                                ("PCM_32", ".wav", "int32"), ("DOUBLE", ".wav", "float64")):
        made = _as(src, tmp_path / f"in_{subtype}{ext}", subtype)
        out = tmp_path / f"out_{subtype}{ext}"
        cli("enhance", made, out, "--dry", "1")
        assert sf.info(out).subtype == subtype
        assert np.array_equal(sf.read(made, dtype=dtype)[0], sf.read(out, dtype=dtype)[0])
    # the Wiener filter too, and the API
    cli("enhance", src, tmp_path / "w.wav", "--method", "wiener", "--dry", "1")
    assert (sf.read(tmp_path / "w.wav", dtype="int16")[0] ==
            sf.read(src, dtype="int16")[0]).all()
    import segan_cli

    x = sf.read(src, dtype="float32")[0]
    assert np.array_equal(segan_cli.load("default", dry=1.0).enhance(x, 16000), x)


def test_wiener_applies_dry(cli, voicebank_sample: Path, tmp_path: Path) -> None:
    """`--method wiener --dry 0.5` was accepted and ignored; now it mixes like a model."""
    src = _as(voicebank_sample / "noisy" / "p232_014.wav", tmp_path / "in.wav", "FLOAT")
    cli("enhance", src, tmp_path / "wet.wav", "--method", "wiener")
    cli("enhance", src, tmp_path / "half.wav", "--method", "wiener", "--dry", "0.5")
    x, wet, half = (sf.read(p, dtype="float32")[0]
                    for p in (src, tmp_path / "wet.wav", tmp_path / "half.wav"))
    assert np.max(np.abs(wet - x)) > 0.01  # the filter did something
    np.testing.assert_allclose(half, 0.5 * wet + 0.5 * x, atol=1e-6)
    res = cli("enhance", src, tmp_path / "bad.wav", "--method", "wiener", "--dry", "2",
              code=2)
    assert "enhance.dry" in res.stderr and not (tmp_path / "bad.wav").exists()


def test_export_default_carries_its_dry_share_and_metadata(cli, mixing_default: Path,
                                                           voicebank_sample: Path,
                                                           tmp_path: Path) -> None:
    shipped = mixing_default
    own_dry = load_bundle(shipped).settings.enhance.dry
    assert own_dry == 0.4  # the model's own share of input mixed back
    src = voicebank_sample / "noisy" / "p232_005.wav"
    x = sf.read(src, dtype="float32")[0][:24000]
    sf.write(tmp_path / "in.wav", x, 16000, subtype="FLOAT")
    cli("enhance", tmp_path / "in.wav", tmp_path / "ref.wav")
    cli("enhance", tmp_path / "in.wav", tmp_path / "wet.wav", "--dry", "0")
    ref, wet = (sf.read(tmp_path / f"{n}.wav", dtype="float32")[0] for n in ("ref", "wet"))
    res = cli("export", "--ckpt", "default", "--out", tmp_path / "g.pt", "--onnx",
              tmp_path / "g.onnx")
    assert f"dry {own_dry:g}" in res.stdout
    extra = {META_KEY: ""}
    torch.jit.load(str(tmp_path / "g.pt"), _extra_files=extra)
    meta = json.loads(extra[META_KEY])
    assert meta["dry"] == own_dry and meta["sample_rate"] == 16000
    assert meta["window"] == load_bundle(shipped).settings.data.window
    assert meta["model_sha256"] == hashlib.sha256(shipped.read_bytes()).hexdigest()
    scripted = ScriptedModel(tmp_path / "g.pt")
    assert np.max(np.abs(Enhancer(scripted).enhance(x, 16000) - ref)) < 1e-4
    pytest.importorskip("onnxruntime", reason="optional dependency onnxruntime")
    onnx_model = OnnxModel(tmp_path / "g.onnx")
    assert onnx_model.meta == meta
    assert np.max(np.abs(Enhancer(onnx_model).enhance(x, 16000) - ref)) < 1e-4
    # --dry chooses another share; 0 is the model alone
    cli("export", "--ckpt", "default", "--out", tmp_path / "wet.pt", "--dry", "0")
    got = Enhancer(ScriptedModel(tmp_path / "wet.pt")).enhance(x, 16000)
    assert np.max(np.abs(got - wet)) < 1e-4 and np.max(np.abs(wet - ref)) > 1e-3
    res = cli("export", "--ckpt", "default", "--out", tmp_path / "bad.pt", "--dry", "1.5",
              code=2)
    assert "outside 0..1" in res.stderr and not (tmp_path / "bad.pt").exists()
