"""`segan train` through the real CLI: real Lightning steps, resume, DDP, errors."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from segan_cli.core.enhancement.inference import load_bundle

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "tiny.yaml"
FAST = ["--config", TINY, "--batch-size", "8", "--set", "data.window=2048",
        "--set", "data.hop=1024", "--set", "train.val_utterances=1",
        "--set", "train.num_workers=0"]


@pytest.fixture(scope="module")
def corpus(short_train_corpus: Path) -> Path:
    """Real VoiceBank speech cut to 1 s (tests/conftest.py)."""
    return short_train_corpus


def _metrics(run: Path) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in sorted((run / "logs").glob("version_*/metrics.csv")):
        with open(path) as fh:
            rows += list(csv.DictReader(fh))
    return rows


def _generator_state(ckpt: Path) -> dict[str, torch.Tensor]:
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith(("generator.", "discriminator."))}


def test_train_resume_matches_uninterrupted(cli, corpus: Path, tmp_path: Path) -> None:
    full = tmp_path / "full"
    res = cli("train", "--data", corpus, "--out", full, "--max-epochs", "2", *FAST)
    assert "best checkpoint" in res.stdout and (full / "best.ckpt").is_file()
    rows = _metrics(full)
    losses = [float(r["g_l1"]) for r in rows if r.get("g_l1")]
    assert losses and all(np.isfinite(losses))
    assert any(r.get("val_pesq") for r in rows) and any(r.get("val_l1") for r in rows)

    part = tmp_path / "part"
    cli("train", "--data", corpus, "--out", part, "--max-epochs", "1", *FAST)
    steps_one = torch.load(part / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    res = cli("train", "--data", corpus, "--out", part, "--max-epochs", "1", *FAST, code=2)
    assert "--resume" in res.stderr
    cli("train", "--data", corpus, "--out", part, "--max-epochs", "2", "--resume", *FAST)
    assert len(list((part / "logs").glob("version_*/metrics.csv"))) == 2
    a = torch.load(full / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(part / "checkpoints" / "last.ckpt", weights_only=True)
    assert b["global_step"] == a["global_step"] == 2 * steps_one
    sa, sb = _generator_state(full / "checkpoints" / "last.ckpt"), \
        _generator_state(part / "checkpoints" / "last.ckpt")
    assert torch.equal(sa["discriminator.ref_batch"], sb["discriminator.ref_batch"])
    for key in sa:
        assert torch.allclose(sa[key], sb[key], atol=1e-5), key

    # a checkpoint reloads into an identical generator output
    x = torch.randn(2, 1, 2048) * 0.1
    g1, g2 = load_bundle(full / "best.ckpt").generator, load_bundle(full / "best.ckpt").generator
    assert torch.equal(g1(x), g2(x))


def test_adv_arch_trains(cli, corpus: Path, tmp_path: Path) -> None:
    cli("train", "--arch", "adv", "--data", corpus, "--out", tmp_path / "adv",
        "--max-steps", "3", *FAST)
    last = tmp_path / "adv" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 6  # 3 GAN steps
    bundle = load_bundle(last)
    assert bundle.arch == "adv" and bundle.stats["clean_std"] > 0
    assert bundle.settings.train.optimizer == "adam"
    res = cli("enhance", corpus / "valid" / "noisy" / "p257_008.wav", tmp_path / "o.wav",
              "--ckpt", tmp_path / "adv" / "checkpoints" / "last.ckpt")
    assert sf.info(tmp_path / "o.wav").frames == 16000, res.stdout


def test_train_errors(cli, corpus: Path, tmp_path: Path) -> None:
    res = cli("train", "--data", tmp_path / "nope", "--out", tmp_path / "r", *FAST, code=2)
    assert "not found" in res.stderr
    res = cli("train", "--data", corpus, "--out", tmp_path / "r", "--resume", *FAST, code=2)
    assert "nothing to resume" in res.stderr
    res = cli("train", "--data", corpus, "--out", tmp_path / "r", "--arch", "gan", *FAST,
              code=2)
    assert "arch" in res.stderr
    res = cli("train", "--data", corpus, "--config", TINY, "--set", "data.window=1000",
              "--set", "data.hop=500", code=2)
    assert "multiple of" in res.stderr


def test_ddp_two_cpu_processes(corpus: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "segan_cli", "train", "--data", str(corpus), "--out",
         str(tmp_path / "ddp"), "--max-steps", "2", "--accelerator", "cpu", "--devices", "2",
         "--strategy", "ddp", *map(str, FAST)],
        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpts = sorted(p.name for p in (tmp_path / "ddp" / "checkpoints").iterdir())
    assert "last.ckpt" in ckpts
    state = torch.load(tmp_path / "ddp" / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["global_step"] == 4  # 2 GAN steps x (D + G updates)


def test_resume_with_other_arch_or_corrupt_checkpoint(cli, corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    cli("train", "--data", corpus, "--out", run, "--max-steps", "1", *FAST)
    res = cli("train", "--data", corpus, "--out", run, "--resume", "--arch", "adv",
              "--max-steps", "2", *FAST, code=2)
    assert "'segan' run" in res.stderr and "--arch segan" in res.stderr
    res = cli("train", "--data", corpus, "--out", run, "--resume", "--max-steps", "2",
              *FAST, "--set", "model.kernel_size=15", code=2)
    assert "other model settings (kernel_size)" in res.stderr
    (run / "checkpoints" / "last.ckpt").write_bytes(b"truncated")
    res = cli("train", "--data", corpus, "--out", run, "--resume", "--max-steps", "2", *FAST,
              code=2)
    assert "corrupted" in res.stderr and "Traceback" not in res.output


def test_info_shows_checkpoint_contents(cli, corpus: Path, tmp_path: Path) -> None:
    import json

    cli("train", "--data", corpus, "--out", tmp_path / "r", "--max-epochs", "1", *FAST)
    data = json.loads(cli("info", tmp_path / "r", "--json").stdout)
    assert data["arch"] == "segan" and data["window"] == 2048 and data["gan_steps"] > 0
    assert data["generator_parameters"] > 0 and data["reference_batch"][1:] == [2, 2048]
    assert "val_pesq (best)" in data["scores"]
    assert "generator parameters" in cli("info", tmp_path / "r" / "best.ckpt").stdout
    res = cli("info", tmp_path / "nope.ckpt", code=2)
    assert "checkpoint not found" in res.stderr
