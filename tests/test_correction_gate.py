"""The correction gate: a residual model over the Wiener estimate leaves the windows in
which Wiener finds no noise to that estimate (``model.correction_gate``), in training,
in the packaged model and in the choice of the default."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from segan_cli.core.enhancement.inference import load_bundle
from segan_cli.core.models import build_generator
from segan_cli.core.models.correction import set_correction_gate, window_gate
from segan_cli.core.models.wiener_input import wiener_estimate
from segan_cli.core.packaging.export import InferenceGenerator, export_torchscript
from segan_cli.core.packaging.model_file import package_checkpoint
from segan_cli.errors import SeganError
from segan_cli.settings import ModelSettings

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "tiny.yaml"
WIENER = ["--arch", "adv", "--set", "model.head=residual", "--set", "model.condition=wiener",
          "--set", "data.window=2048", "--set", "data.hop=1024"]
RUN = ["--batch-size", "4", "--set", "train.val_utterances=1", "--set", "train.num_workers=0",
       "--set", "train.pin_memory=false", "--accelerator", "cpu", "--devices", "1"]
TINY_MODEL = dict(arch="adv", head="residual", condition="wiener", encoder_channels=[4, 8],
                  disc_channels=[4, 8], kernel_size=5, disc_kernel_size=5)


@pytest.fixture(scope="module")
def wiener_source(short_train_corpus: Path, tmp_path_factory) -> Path:
    """A tiny residual model over the Wiener estimate, trained 2 steps with a gate on."""
    from tests.conftest import Cli

    run = tmp_path_factory.mktemp("gate") / "run"
    Cli()("train", "--data", short_train_corpus, "--out", run, "--config", TINY, *WIENER,
          *RUN, "--max-steps", "2", "--set", "model.correction_gate=[0.01, 0.2]")
    return run / "checkpoints" / "last.ckpt"


def _windows(n: int = 16384) -> torch.Tensor:
    """Two 1-s windows: syllables of a gliding voice over a faint floor (Wiener removes
    a few thousandths of it) and white noise (Wiener removes most of it)."""
    rng = np.random.default_rng(3)
    t = np.arange(n) / 16000
    phase = 2 * np.pi * np.cumsum(140 + 40 * np.sin(2 * np.pi * 0.7 * t)) / 16000
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    speechy = (0.1 * voice * np.clip(np.sin(2 * np.pi * 3 * t), 0, None) ** 2
               + 1e-3 * rng.standard_normal(n)).astype(np.float32)
    noise = rng.standard_normal(n).astype(np.float32) * 0.1
    return torch.from_numpy(np.stack([speechy, noise]))[:, None]


def test_gate_settings_are_checked() -> None:
    assert ModelSettings(**TINY_MODEL, correction_gate=[0.005, 0.03]).correction_gate == [
        0.005, 0.03]
    for bad in ([0.03, 0.005], [0.1], [0.0, 1.5], [-0.1, 0.2]):
        with pytest.raises(ValidationError, match="correction_gate"):
            ModelSettings(**TINY_MODEL, correction_gate=bad)
    for other in (dict(condition="none"), dict(head="linear")):
        with pytest.raises(ValidationError, match="needs model.head 'residual'"):
            ModelSettings(**{**TINY_MODEL, **other}, correction_gate=[0.005, 0.03])


def test_gate_weighs_each_windows_correction_by_the_noise_wiener_removes() -> None:
    """A window under ``low`` keeps the Wiener base exactly, one over ``high`` gets the
    whole correction, and in between the correction is scaled by the ramp."""
    torch.manual_seed(0)
    gen = build_generator(ModelSettings(**TINY_MODEL), 16384).eval()
    x = _windows()
    with torch.no_grad():
        base = wiener_estimate(x)
        removed = window_gate(x, base, 0.0, 1.0).flatten()
        assert removed[0] < 0.01 < 0.5 < removed[1]  # the measure tells the two apart
        full = gen(x)  # eval mode: a zero latent
        low, high = float(removed[0]) + 0.01, float(removed[1]) - 0.01
        set_correction_gate(gen, (low, high))
        gated = gen(x)
        assert torch.equal(gated[0], base[0])  # skip affine is the identity here
        assert torch.allclose(gated[1], full[1], atol=1e-6)
        assert not torch.allclose(full[0], base[0], atol=1e-4)  # it had a correction
        r = float(removed[1])
        set_correction_gate(gen, (r - 0.05, r + 0.05))  # the noise sits mid-ramp
        half = gen(x)
        assert torch.allclose(half[1], base[1] + 0.5 * (full[1] - base[1]), atol=1e-5)
        set_correction_gate(gen, None)
        assert torch.equal(gen(x), full)
    with pytest.raises(ValueError, match="low < high"):
        set_correction_gate(gen, (0.2, 0.1))


def test_training_keeps_the_gate_and_packaging_sets_another(wiener_source: Path,
                                                            tmp_path: Path) -> None:
    """The trained gate travels in the checkpoint; ``gate=`` gives the packaged model its
    own, recorded, and the float16 check compares it with the gated checkpoint."""
    trained = load_bundle(wiener_source)
    assert trained.generator.correction_gate == (0.01, 0.2)
    report = package_checkpoint(wiener_source, tmp_path / "gated.pt", gate=[0.005, 0.03],
                                share=0.5)
    assert report.max_abs_diff <= 1e-3
    pkg = load_bundle(report.out)
    assert pkg.package is not None and pkg.package["correction_gate"] == [0.005, 0.03]
    assert pkg.settings.model.correction_gate == [0.005, 0.03]
    assert pkg.generator.correction_gate == (0.005, 0.03)
    x = _windows()
    with torch.no_grad():
        gated = pkg.generator(x)
        set_correction_gate(pkg.generator, None)
        open_ = pkg.generator(x)
    assert torch.allclose(gated[1], open_[1], atol=1e-5)  # noise: the whole correction
    # an export traces the gate along: the same output as the gated model in eager mode
    set_correction_gate(pkg.generator, (0.005, 0.03))
    traced = torch.jit.load(str(export_torchscript(pkg, tmp_path / "gated.ts")))
    eager = InferenceGenerator(pkg, 0.0).eval()
    window = x[..., :pkg.settings.data.window]  # a trace holds its window's length
    with torch.no_grad():
        assert torch.allclose(traced(window), eager(window), atol=1e-5)
    with pytest.raises(SeganError, match="not \\[low, high\\]"):
        package_checkpoint(wiener_source, tmp_path / "bad.pt", gate=[0.3, 0.1])
    assert not (tmp_path / "bad.pt").exists()


def test_package_refuses_a_gate_without_a_wiener_base(short_train_corpus: Path,
                                                      tmp_path: Path) -> None:
    from tests.conftest import Cli

    run = tmp_path / "plain"
    Cli()("train", "--data", short_train_corpus, "--out", run, "--config", TINY, "--arch",
          "adv", "--set", "model.head=residual", "--set", "data.window=2048", "--set",
          "data.hop=1024", *RUN, "--max-steps", "1")
    with pytest.raises(SeganError, match="no correction to gate"):
        package_checkpoint(run / "checkpoints" / "last.ckpt", tmp_path / "m.pt",
                           gate=[0.005, 0.03])
    assert not (tmp_path / "m.pt").exists()


def _choose_script():
    spec = importlib.util.spec_from_file_location("choose_default",
                                                  REPO / "scripts" / "choose_default.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_choose_default_goes_through_the_gates(short_train_corpus: Path,
                                               wiener_source: Path, tmp_path: Path) -> None:
    script = _choose_script()
    out = tmp_path / "choice"
    assert script.main(["--corpus", str(short_train_corpus), "--ckpts", str(wiener_source),
                        "--shares", "1", "--gates", "none", "0.005:0.03", "--limit", "2",
                        "--out", str(out)]) == 0
    data = json.loads((out / "choice.json").read_text())
    # as trained (with the gate it was trained with), then the grid's other point
    assert [r["gate"] for r in data["rows"]] == [None, [0.005, 0.03]]
    assert "gate" in data["chosen"]
    assert "| 0.005:0.03 |" in (out / "choice.md").read_text()
    assert script.parse_gate("none") is None
    assert script.parse_gate("0.01:0.05") == (0.01, 0.05)
    for bad in ("0.05:0.01", "x", "0.1:0.2:0.3"):
        with pytest.raises(Exception, match="LOW"):
            script.parse_gate(bad)
