"""`segan export`: the TorchScript file reproduces `enhance` output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from segan_cli.core.enhancement.whole_file import Enhancer
from segan_cli.core.packaging.export import ScriptedModel
from segan_cli.core.training.module import SeganGAN
from segan_cli.errors import CheckpointError
from segan_cli.settings import load_settings

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("arch", ["segan", "adv"])
def test_torchscript_reproduces_enhance(cli, tmp_path: Path, arch: str) -> None:
    settings = load_settings(CONFIGS / "tiny.yaml", ["data.window=1024", "data.hop=512"],
                             arch=arch)
    stats = {"noisy_mean": 0.001, "noisy_std": 0.1, "clean_mean": -0.001, "clean_std": 0.08}
    torch.manual_seed(1)
    module = SeganGAN(settings, stats)
    module.set_reference_batch(torch.randn(2, 1, 1024) * 0.1, torch.randn(2, 1, 1024) * 0.1)
    ckpt = tmp_path / "m.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)},
               ckpt)
    cli("export", "--ckpt", ckpt, "--out", tmp_path / "m.pt")
    res = cli("export", "--ckpt", ckpt, "--out", tmp_path / "m.pt", code=2)
    assert "exists" in res.stderr
    rng = np.random.default_rng(0)
    x = (0.2 * np.sin(np.arange(22050) / 7.0) + 0.05 * rng.standard_normal(22050)).astype(
        np.float32)
    sf.write(tmp_path / "in.wav", x, 22050, subtype="FLOAT")
    cli("enhance", tmp_path / "in.wav", tmp_path / "ref.wav", "--ckpt", ckpt)
    ref, _ = sf.read(tmp_path / "ref.wav", dtype="float32")
    scripted = ScriptedModel(tmp_path / "m.pt")
    assert scripted.arch == arch and scripted.window == 1024
    got = Enhancer(scripted).enhance(x, 22050)
    assert np.max(np.abs(got - ref)) < 1e-4


def test_scripted_model_rejects_foreign_files(tmp_path: Path) -> None:
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(tmp_path / "x.pt"))
    with pytest.raises(CheckpointError, match="segan export"):
        ScriptedModel(tmp_path / "x.pt")


def test_onnx_export_matches_torchscript(cli, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime", reason="optional dependency onnxruntime")
    pytest.importorskip("onnx", reason="optional dependency onnx")
    settings = load_settings(CONFIGS / "tiny.yaml", ["data.window=1024", "data.hop=512"])
    torch.manual_seed(2)
    module = SeganGAN(settings, None)
    ckpt = tmp_path / "m.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)},
               ckpt)
    cli("export", "--ckpt", ckpt, "--out", tmp_path / "m.pt", "--onnx", tmp_path / "m.onnx")
    x = (np.random.default_rng(0).standard_normal((3, 1, 1024)) * 0.1).astype(np.float32)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    got = session.run(None, {"noisy": x})[0]
    want = ScriptedModel(tmp_path / "m.pt")(x[:, 0, :])
    assert got.shape == (3, 1, 1024)
    assert np.max(np.abs(got[:, 0, :] - want)) < 1e-4
