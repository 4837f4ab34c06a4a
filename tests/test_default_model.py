"""The packaged default model: packaging, `--ckpt default` everywhere, `train --init-from`."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from segan_cli.core.enhancement.inference import GeneratorModel, load_bundle
from segan_cli.core.enhancement.whole_file import Enhancer
from segan_cli.core.packaging.model_file import PACKAGE_KEY, check_signal, package_checkpoint
from segan_cli.errors import CheckpointError, SeganError
from segan_cli.weights import ENV_VAR, resolve_checkpoint

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "tiny.yaml"
MODEL = ["--arch", "adv", "--set", "model.head=residual", "--set", "data.window=2048",
         "--set", "data.hop=1024"]
RUN = ["--batch-size", "4", "--set", "train.val_utterances=1", "--set", "train.num_workers=0",
       "--set", "train.pin_memory=false", "--accelerator", "cpu", "--devices", "1"]
FROZEN = ["--set", "train.lr_g=1e-10", "--set", "train.lr_d=1e-10"]  # weights stay put
CONV = "encoder.0.0.weight"  # a generator tensor that only the optimiser changes
DISC = "discriminator.convs.0.weight"


@pytest.fixture(scope="module")
def corpus(short_train_corpus: Path) -> Path:
    """Real VoiceBank speech cut to 1 s (tests/conftest.py)."""
    return short_train_corpus


@pytest.fixture(scope="module")
def source(corpus: Path, tmp_path_factory) -> Path:
    """A tiny adv/residual run with EMA weights, 3 steps: its last checkpoint."""
    from tests.conftest import Cli

    run = tmp_path_factory.mktemp("src") / "run"
    Cli()("train", "--data", corpus, "--out", run, "--config", TINY, *MODEL, *RUN,
          "--max-steps", "3", "--set", "train.ema_decay=0.99")
    return run / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def packaged(source: Path, tmp_path_factory) -> Path:
    return package_checkpoint(source, tmp_path_factory.mktemp("pkg") / "default.pt").out


@pytest.fixture
def default_env(packaged: Path, monkeypatch) -> Path:
    monkeypatch.setenv(ENV_VAR, str(packaged))
    return packaged


def _noisy(tmp_path: Path) -> Path:
    x = check_signal(16000, seconds=1.5)
    sf.write(tmp_path / "in.wav", x, 16000, subtype="FLOAT")
    return tmp_path / "in.wav"


def _state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def test_package_keeps_ema_generator_in_float16(source: Path, packaged: Path,
                                                tmp_path: Path) -> None:
    pkg = torch.load(packaged, map_location="cpu", weights_only=True)
    src = _state(source)
    state = pkg["state_dict"]
    assert state and all(k.startswith("generator.") for k in state)
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}
    assert any(v.dtype == torch.int64 for v in state.values())  # BN num_batches_tracked
    # the EMA weights are the ones kept, renamed to generator.*
    assert torch.equal(state[f"generator.{CONV}"], src[f"generator_ema.{CONV}"].half())
    assert not torch.equal(src[f"generator_ema.{CONV}"], src[f"generator.{CONV}"])
    record = pkg[PACKAGE_KEY]
    assert record["source"] == "last.ckpt" and record["step"] == 3
    assert record["weights"] == "generator_ema" and len(record["weights_sha256"]) == 64
    assert pkg["hyper_parameters"]["arch"] == "adv" and pkg["global_step"] == 6
    assert packaged.stat().st_size < source.stat().st_size / 4

    # float16 weights enhance within 1e-3 of the float32 checkpoint
    x = check_signal(16000, seconds=2.0, seed=3)
    a, b = (Enhancer(GeneratorModel.from_bundle(load_bundle(p))).enhance(x, 16000)
            for p in (source, packaged))
    assert 0 < np.max(np.abs(a - b)) < 1e-3

    with pytest.raises(SeganError, match="output exists"):
        package_checkpoint(source, packaged)
    with pytest.raises(CheckpointError, match="nothing was written"):
        package_checkpoint(source, tmp_path / "x.pt", tolerance=-1.0)
    assert list(tmp_path.iterdir()) == []


def test_package_script(source: Path, tmp_path: Path, capsys) -> None:
    spec = importlib.util.spec_from_file_location("package_default",
                                                  REPO / "scripts" / "package_default.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "m.pt"
    sf.write(tmp_path / "a.wav", check_signal(22050, seconds=1.0), 22050)
    assert script.main([str(source), "--out", str(out), "--audio", str(tmp_path / "a.wav")]) == 0
    printed = capsys.readouterr().out
    assert "MB" in printed and "max abs difference" in printed and out.is_file()
    assert script.main([str(source), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert script.main([str(source), "--out", str(out), "--overwrite"]) == 0


def test_resolve_checkpoint(default_env: Path, monkeypatch, tmp_path: Path) -> None:
    assert resolve_checkpoint("Default") == resolve_checkpoint(None) == default_env
    assert resolve_checkpoint(tmp_path / "x.ckpt") == tmp_path / "x.ckpt"
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "gone.pt"))
    with pytest.raises(CheckpointError, match=ENV_VAR):
        resolve_checkpoint("default")


def test_enhance_without_ckpt_uses_default(cli, default_env: Path, tmp_path: Path) -> None:
    src = _noisy(tmp_path)
    res = cli("enhance", src, tmp_path / "a.wav")
    notes = [line for line in res.stderr.splitlines() if "using the default model" in line]
    assert len(notes) == 1 and "step 3" in notes[0] and str(default_env) in notes[0]
    cli("enhance", src, tmp_path / "b.wav", "--ckpt", "default")
    cli("enhance", src, tmp_path / "c.wav", "--ckpt", default_env)
    a, b, c = (sf.read(tmp_path / f"{n}.wav", dtype="float32")[0] for n in "abc")
    assert np.array_equal(a, b) and np.array_equal(a, c) and not np.allclose(a, 0)
    cli("enhance", src, tmp_path / "w.wav", "--method", "wiener")


def test_missing_default_is_one_line(cli, monkeypatch, tmp_path: Path) -> None:
    import segan_cli.weights as weights

    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(weights, "packaged_default", lambda: tmp_path / "default.pt")
    src = _noisy(tmp_path)
    for args in (("enhance", src, tmp_path / "o.wav"), ("info", "default"),
                 ("export", "--ckpt", "default", "--out", tmp_path / "m.pt")):
        res = cli(*args, code=2)
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert "no default model" in res.stderr and "--ckpt" in res.stderr
        assert "train_default.sh" in res.stderr
    assert not (tmp_path / "o.wav").exists()


def test_evaluate_export_info_take_default(cli, default_env: Path, sample_corpus: Path,
                                           tmp_path: Path) -> None:
    res = cli("evaluate", "--data", sample_corpus, "--ckpt", "default", "--no-wiener",
              "--workers", "2", "--json", tmp_path / "s.json")
    systems = json.loads((tmp_path / "s.json").read_text())["systems"]
    assert set(systems) == {"Noisy", "default"} and "default" in res.stdout

    cli("export", "--ckpt", "default", "--out", tmp_path / "g.pt")
    from segan_cli.core.packaging.export import ScriptedModel

    assert ScriptedModel(tmp_path / "g.pt").arch == "adv"

    data = json.loads(cli("info", "default", "--json").stdout)
    assert data["kind"] == "packaged model" and data["gan_steps"] == 3
    assert "gan_steps_in_all" not in data  # one stage; the shipped card is not its card
    assert data["package"]["sha256_verified"] is True and data["file_size_mb"] > 0
    text = cli("info", "DEFAULT").stdout
    assert "the default model" in text and "weights_sha256" in text


def test_init_from_default_takes_its_model_and_weights(cli, corpus: Path, default_env: Path,
                                                       tmp_path: Path) -> None:
    run = tmp_path / "ft"
    res = cli("train", "--data", corpus, "--out", run, "--init-from", "default", *RUN,
              *FROZEN, "--max-steps", "1", "--set", "train.ema_decay=0.9")
    assert "from default" in res.stdout
    last = run / "checkpoints" / "last.ckpt"
    new, pkg = _state(last), _state(default_env)
    ref = pkg[f"generator.{CONV}"].float()
    assert torch.allclose(new[f"generator.{CONV}"], ref, atol=1e-6)
    # no EMA in the source: the run's EMA copy starts from the loaded generator
    assert torch.allclose(new[f"generator_ema.{CONV}"], ref, atol=1e-6)
    bundle = load_bundle(last)
    assert bundle.settings.model == load_bundle(default_env).settings.model
    assert bundle.settings.data.window == 2048
    record = json.loads((run / "init_from.json").read_text())
    assert record["loaded"] == ["generator"] and record["package"]["step"] == 3
    # packaged, the fine-tuned model counts the default's 3 steps before its own 1
    pkg = package_checkpoint(last, tmp_path / "ft.pt").out
    data = json.loads(cli("info", pkg, "--json").stdout)
    assert data["package"]["earlier_steps"] == 3 and data["gan_steps"] == 1
    assert (data["gan_steps_in_all"], data["gan_steps_in_all_from"]) == (4, "package record")
    assert "1 in its last training stage, 4 in all (package record)" in \
        " ".join(cli("info", pkg).stdout.split())


def test_info_of_the_shipped_model_counts_every_stage(cli, monkeypatch) -> None:
    """`segan info default` said `gan steps 1897` where the card says 3397 (two stages)."""
    import re

    from segan_cli.weights import model_card, packaged_default

    monkeypatch.delenv(ENV_VAR, raising=False)
    if not packaged_default().is_file() or not model_card().is_file():
        pytest.skip("no default model in this checkout")
    card = int(re.search(r"Trained (\d+) steps", model_card().read_text()).group(1))
    data = json.loads(cli("info", "default", "--json").stdout)
    if data["gan_steps"] == card:
        pytest.skip("the shipped model was trained in one stage")
    source = data["gan_steps_in_all_from"]  # the package record, or for older files the card
    assert data["gan_steps_in_all"] == card and source in ("package record", "model card")
    text = " ".join(cli("info", "default").stdout.split())
    assert f"{data['gan_steps']} in its last training stage, {card} in all ({source})" in text


def test_init_from_checkpoint_loads_discriminator(cli, corpus: Path, source: Path,
                                                  tmp_path: Path) -> None:
    run = tmp_path / "ft"
    cli("train", "--data", corpus, "--out", run, "--init-from", source, "--config", TINY,
        *MODEL, *RUN, *FROZEN, "--max-steps", "1", "--set", "train.ema_decay=0.9")
    new, src = _state(run / "checkpoints" / "last.ckpt"), _state(source)
    for key in (f"generator.{CONV}", DISC):
        assert torch.allclose(new[key], src[key], atol=1e-6), key
    assert new["discriminator.ref_batch"].shape[-1] == 2048  # the new corpus' reference

    # the source's EMA weights seed the run's EMA copy (training then warms it up)
    from segan_cli.core.training.module import SeganGAN
    from segan_cli.core.training.warm_start import load_init_weights

    module = SeganGAN(load_bundle(source).settings, load_bundle(source).stats)
    ckpt = torch.load(source, map_location="cpu", weights_only=True)
    assert load_init_weights(module, ckpt, source) == ["generator", "discriminator",
                                                       "generator_ema"]
    assert torch.equal(module.generator_ema.state_dict()[CONV], src[f"generator_ema.{CONV}"])
    fresh = tmp_path / "fresh"
    cli("train", "--data", corpus, "--out", fresh, "--config", TINY, *MODEL, *RUN, *FROZEN,
        "--max-steps", "1")
    assert not torch.allclose(_state(fresh / "checkpoints" / "last.ckpt")[DISC], src[DISC])


def test_init_from_takes_the_generator_to_another_window(cli, corpus: Path, source: Path,
                                                        tmp_path: Path) -> None:
    """A generator trained on 2048-sample windows fine-tunes on 4096: its weights fit
    any window; the discriminator, sized by the window, starts fresh."""
    run = tmp_path / "w4k"
    cli("train", "--data", corpus, "--out", run, "--init-from", source, "--config", TINY,
        *MODEL[:-4], "--set", "data.window=4096", "--set", "data.hop=2048", *RUN, *FROZEN,
        "--max-steps", "1", "--set", "train.ema_decay=0.9")
    last = run / "checkpoints" / "last.ckpt"
    new, src = _state(last), _state(source)
    assert torch.allclose(new[f"generator.{CONV}"], src[f"generator.{CONV}"], atol=1e-6)
    assert not torch.allclose(new[DISC], src[DISC])
    assert json.loads((run / "init_from.json").read_text())["loaded"] == [
        "generator", "generator_ema"]
    assert load_bundle(last).settings.data.window == 4096
    # a resumed run keeps its window
    res = cli("train", "--data", corpus, "--out", run, "--resume", "--config", TINY,
              *MODEL, *RUN, "--max-steps", "2", code=2)
    assert "data.window" in res.stderr


def test_init_from_refusals(cli, corpus: Path, default_env: Path, tmp_path: Path) -> None:
    run = tmp_path / "r"
    res = cli("train", "--data", corpus, "--out", run, "--init-from", "default", "--config",
              TINY, *MODEL, "--set", "model.kernel_size=15", *RUN, code=2)
    assert "other model settings (kernel_size)" in res.stderr
    res = cli("train", "--data", corpus, "--out", run, "--init-from", "default", "--config",
              TINY, "--arch", "adv", "--set", "data.window=2048", "--set", "data.hop=1024",
              *RUN, code=2)
    assert "(head)" in res.stderr
    res = cli("train", "--data", corpus, "--out", run, "--init-from", "default",
              "--arch", "segan", *RUN, code=2)
    assert "'adv' model" in res.stderr and "--arch adv" in res.stderr
    res = cli("train", "--data", corpus, "--out", run, "--init-from", "default", "--resume",
              *RUN, code=2)
    assert "--resume" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (run / "checkpoints").exists()


def test_weights_are_package_data() -> None:
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(config["package-data"]["segan_cli.weights"]) >= {"*.pt", "MODEL_CARD.md"}


def _result(means: dict[str, float], n: int = 10) -> dict:
    return {"mode": "default", "scored": n, "total": n, "failures": [], "warnings": [],
            "metrics": {m: {"mean": v, "std": 0.1, "ci95": [v - 0.05, v + 0.05], "count": n}
                        for m, v in means.items()}}


def _means(pesq: float, stoi: float, other: float) -> dict[str, float]:
    return {"pesq": pesq, "csig": other, "cbak": other, "covl": other, "ssnr": other,
            "stoi": stoi}


def test_model_card_is_rendered_from_the_measurements(packaged: Path, corpus: Path,
                                                      tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("model_card", REPO / "scripts" /
                                                  "model_card.py")
    card = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(card)
    scores = {"checkpoint": "x", "step": 6, "sets": {
        "voicebank-clean-in": {"Clean input": _result(_means(4.64, 1.0, 5.0)),
                               "Wiener": _result(_means(4.2, 0.99, 4.5)),
                               "model": _result(_means(4.05, 0.975, 4.0))},
        "demo-test": {"Noisy": _result(_means(1.70, 0.95, 2.0)),
                      "Wiener": _result(_means(1.90, 0.94, 2.2)),
                      "model": _result(_means(1.95, 0.96, 2.1))},
        "voicebank-sample": {"Noisy": _result(_means(2.19, 0.932, 3.0)),
                             "Wiener": _result(_means(2.46, 0.918, 3.3)),
                             "model": _result(_means(2.40, 0.925, 3.2))},
    }}
    (tmp_path / "s.json").write_text(json.dumps(scores))
    (tmp_path / "t.json").write_text(json.dumps({
        "steps": 6, "cpu_seconds": 7200, "wall_seconds": 3600, "threads": 2,
        "command": "scripts/train_default.sh", "limits": ["a plain limit"],
        "stages": [{"name": "Stage 1", "steps": 6, "cpu_seconds": 7200,
                    "what": "1-s windows"}]}))
    (tmp_path / "tones.json").write_text(json.dumps({
        "max_added_db": 0.4, "target_db": 1.0, "meets_target": True,
        "worst": [{"hz": 4000.0, "added_db": 0.4, "output_prominence_db": 2.0}]}))
    out = tmp_path / "MODEL_CARD.md"
    assert card.main(["--model", str(packaged), "--corpus", str(corpus), "--scores",
                      str(tmp_path / "s.json"), "--training", str(tmp_path / "t.json"),
                      "--tones", str(tmp_path / "tones.json"), "--out", str(out)]) == 0
    text = out.read_text()
    rows = {ln.split(" | ")[0].strip("| "): ln for ln in text.splitlines()
            if ln.startswith("| ") and " | " in ln}
    assert "| yes | 4.050 |" in rows["voicebank-clean-in: PESQ >= 4"]
    assert "| **no** | 0.975 |" in rows["voicebank-clean-in: STOI >= 0.98"]
    assert "| yes |" in rows["demo-test: PESQ >= Wiener"]  # 1.95 against 1.90
    assert "| **no** |" in rows["demo-test: SSNR >= Wiener"]  # 2.1 against 2.2
    assert "| yes |" in rows["demo-test: STOI >= Noisy"]
    assert "| **no** | 2.400 vs 2.460 |" in rows["voicebank-sample: PESQ >= Wiener"]
    assert "| yes | 0.925 vs 0.932 |" in rows["voicebank-sample: STOI >= Noisy - 0.01"]
    assert "| yes | +0.40 dB at 4000 Hz |" in rows["no added tone over 1 dB (model alone)"]
    assert "targets met" in text and "- Stage 1: 6 steps, 2.00 CPU-hours; 1-s windows." in text
    assert "2.0 CPU-hours" in text and "- a plain limit" in text
    assert "| default model | 10 | 1.950 ±0.050 |" in text
    blob = torch.load(packaged, map_location="cpu", weights_only=True)
    assert blob[PACKAGE_KEY]["weights_sha256"] in text


def test_dry_mixes_the_input_back_sample_for_sample(source: Path, tmp_path: Path) -> None:
    """enhance.dry d gives (1 - d) * model + d * input for whole files: the chain after
    the model is linear, so mixing per window is mixing per sample."""
    x = check_signal(16000, seconds=1.5)
    bundle = load_bundle(source)

    def run(dry: float | None) -> np.ndarray:
        return Enhancer(GeneratorModel.from_bundle(bundle, dry=dry), "ola", 4,
                        dc_block_hz=0.0).enhance(x, 16000)

    wet, half, full = run(None), run(0.3), run(1.0)
    assert not np.allclose(wet, x, atol=1e-3)
    np.testing.assert_allclose(full, x, atol=1e-5)
    np.testing.assert_allclose(half, 0.7 * wet + 0.3 * x, atol=1e-5)
    with pytest.raises(ValueError, match="outside 0..1"):
        GeneratorModel.from_bundle(bundle, dry=1.5)


def test_packaged_dry_is_the_models_own_and_the_cli_can_override_it(
        cli, source: Path, tmp_path: Path, monkeypatch) -> None:
    pkg = package_checkpoint(source, tmp_path / "dry.pt", dry=0.25)
    blob = torch.load(pkg.out, map_location="cpu", weights_only=True)
    assert blob["hyper_parameters"]["settings"]["enhance"]["dry"] == 0.25
    assert blob[PACKAGE_KEY]["dry"] == 0.25
    assert pkg.max_abs_diff <= 1e-3  # checked against the checkpoint run at the same share
    monkeypatch.setenv(ENV_VAR, str(pkg.out))
    src = _noisy(tmp_path)
    x = sf.read(src, dtype="float32")[0]
    no_dc = ["--set", "enhance.dc_block_hz=0"]
    res = cli("enhance", src, tmp_path / "own.wav", *no_dc)
    assert "25% of the input mixed back; --dry to change" in res.stderr
    cli("enhance", src, tmp_path / "wet.wav", "--dry", "0", *no_dc)
    cli("enhance", src, tmp_path / "all.wav", "--dry", "1", *no_dc)
    own, wet, full = (sf.read(tmp_path / f"{n}.wav", dtype="float32")[0]
                      for n in ("own", "wet", "all"))
    np.testing.assert_allclose(full, x, atol=1e-4)
    np.testing.assert_allclose(own, 0.75 * wet + 0.25 * full, atol=1e-4)
    res = cli("enhance", src, tmp_path / "bad.wav", "--dry", "1.5", code=2)
    assert "enhance.dry" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    with pytest.raises(SeganError, match="outside 0..1"):
        package_checkpoint(source, tmp_path / "bad.pt", dry=2.0)
    assert not (tmp_path / "bad.pt").exists() and not (tmp_path / "bad.wav").exists()


def _tone_check():
    spec = importlib.util.spec_from_file_location("tone_check", REPO / "scripts" /
                                                  "tone_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tone_check_finds_a_tone_the_model_adds_and_nothing_else() -> None:
    """A 4 kHz tone in the output that neither input holds is reported near its level;
    an output equal to an input adds nothing."""
    tc = _tone_check()
    rng = np.random.default_rng(0)
    sr = 16000
    clean = [0.1 * rng.standard_normal(sr * 2) for _ in range(3)]
    noisy = [c + 0.05 * rng.standard_normal(c.size) for c in clean]
    t = np.arange(sr * 2) / sr
    toned = [n + 0.02 * np.sin(2 * np.pi * 4000 * t) for n in noisy]
    found = tc.added_tones(noisy, clean, toned, sr)
    assert found["worst"][0]["hz"] == 4000.0 and found["max_added_db"] > 3.0
    assert not found["meets_target"]
    same = tc.added_tones(noisy, clean, noisy, sr)
    assert same["max_added_db"] <= 0.0 and same["meets_target"]


def _scaled_outputs(source: Path, scaled: Path, share: float,
                    seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(base + share x (source's output - base), the scaled model's output) on noise."""
    full, other = load_bundle(source), load_bundle(scaled)
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal((2, 1, 2048))
                         .astype(np.float32) * 0.1)
    with torch.no_grad():
        base = x * full.generator.skip_scale + full.generator.skip_shift
        return base + share * (full.generator(x) - base), other.generator(x)


def test_shrink_correction_scales_exactly_the_learned_correction(source: Path,
                                                                  tmp_path: Path) -> None:
    """scripts/shrink_correction.py: the output becomes base + share x correction."""
    import subprocess
    import sys

    out = tmp_path / "half.ckpt"
    res = subprocess.run([sys.executable, str(REPO / "scripts" / "shrink_correction.py"),
                          str(source), "--share", "0.5", "--out", str(out)],
                         capture_output=True, text=True, check=True)
    assert "generator_ema.head" in res.stdout
    full, half = _scaled_outputs(source, out, 0.5, seed=0)
    assert torch.allclose(half, full, atol=1e-5)
    again = subprocess.run([sys.executable, str(REPO / "scripts" / "shrink_correction.py"),
                            str(source), "--share", "0.5", "--out", str(out)],
                           capture_output=True, text=True)
    assert again.returncode == 2 and "exists" in again.stderr


def test_package_bakes_in_a_share_of_the_learned_correction(source: Path,
                                                            tmp_path: Path) -> None:
    """``--share``: the shipped weights give exactly base + share x correction, and the
    record says which share; a model without a residual head has none to scale."""
    out = package_checkpoint(source, tmp_path / "half.pt", share=0.5).out
    record = load_bundle(out).package
    assert record is not None and record["correction_share"] == 0.5
    want, got = _scaled_outputs(source, out, 0.5, seed=1)
    assert torch.allclose(got, want, atol=2e-3)  # float16 weights
    unscaled, _ = _scaled_outputs(source, out, 1.0, seed=1)
    assert not torch.allclose(unscaled, got, atol=2e-3)
    with pytest.raises(SeganError, match="outside 0..1"):
        package_checkpoint(source, tmp_path / "bad.pt", share=1.5)
    assert not (tmp_path / "bad.pt").exists()


def test_package_refuses_a_share_without_a_residual_head(corpus: Path,
                                                         tmp_path: Path) -> None:
    from tests.conftest import Cli

    run = tmp_path / "seed"
    Cli()("train", "--data", corpus, "--out", run, "--config", TINY, "--arch", "adv",
          "--set", "data.window=2048", "--set", "data.hop=1024", *RUN, "--max-steps", "1")
    with pytest.raises(SeganError, match="no residual head"):
        package_checkpoint(run / "checkpoints" / "last.ckpt", tmp_path / "m.pt", share=0.5)
    assert not (tmp_path / "m.pt").exists()


def test_choose_default_scores_the_finalists_over_the_grid(corpus: Path, source: Path,
                                                           tmp_path: Path) -> None:
    """Every checkpoint as trained, then the finalist over dry x correction shares; the
    choice names its share, and the packaged choice is what was scored."""
    spec = importlib.util.spec_from_file_location("choose_default",
                                                  REPO / "scripts" / "choose_default.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    other = tmp_path / "copy.ckpt"
    other.write_bytes(source.read_bytes())
    out = tmp_path / "choice"
    assert script.main(["--corpus", str(corpus), "--ckpts", str(source), str(other),
                        "--dry", "0", "0.3", "--shares", "0", "1", "--finalists", "1",
                        "--limit", "2", "--out", str(out)]) == 0
    data = json.loads((out / "choice.json").read_text())
    combos = [(r["ckpt"], r["dry"], r["share"]) for r in data["rows"]]
    # two as trained, then the finalist's three other grid points
    assert len(combos) == 5 and len(set(combos)) == 5
    assert combos[0][1:] == combos[1][1:] == (0.0, 1.0)
    finalist = combos[2][0]
    assert {c[1:] for c in combos[2:]} == {(0.0, 0.0), (0.3, 0.0), (0.3, 1.0)}
    assert all(c[0] == finalist for c in combos[2:])
    rows = {c[1:]: r for c, r in zip(combos, data["rows"], strict=True) if c[0] == finalist}
    # share 0 is the base alone: with a tiny barely-trained model, another output
    assert rows[(0.0, 0.0)]["valid"] != rows[(0.0, 1.0)]["valid"]
    chosen = data["chosen"]
    assert {"ckpt", "dry", "share"} <= set(chosen)
    assert "| share |" in (out / "choice.md").read_text()
