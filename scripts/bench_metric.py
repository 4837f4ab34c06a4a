#!/usr/bin/env python
"""What ``train.adversarial=metric`` costs a step, beside regression-only and LSGAN steps.

Real Lightning steps of ``configs/default.yaml``'s model and batch (16 windows of
16384 samples) on real VoiceBank speech, one torch thread; the per-step CPU time of
the process, and within metric steps the CPU time spent in PESQ (2 x batch calls a
step: the generator's output and the noisy input, each against the clean window).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_metric.py [--steps 5] [--pairs DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import segan_cli.core.training.module as module_code  # noqa: E402
from segan_cli.core.training.module import SeganGAN  # noqa: E402
from segan_cli.settings import load_settings  # noqa: E402

WARMUP = 2
MODES = {"regression (default)": [],
         "lsgan": ["train.adversarial_from_step=0"],
         "metric": ["train.adversarial_from_step=0", "train.adversarial=metric"]}


class CpuTimer(Callback):
    """Process CPU seconds of each step after the warm-up ones."""

    def __init__(self) -> None:
        self.start, self.times = 0.0, []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.start = time.process_time()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.times.append(time.process_time() - self.start)


def windows(pairs: Path, n: int, length: int) -> list[dict[str, torch.Tensor]]:
    """``n`` (clean, noisy) windows of real speech, a few from each pair."""
    out = []
    for path in sorted((pairs / "clean").glob("*.wav")):
        c, _ = sf.read(path, dtype="float32")
        x, _ = sf.read(pairs / "noisy" / path.name, dtype="float32")
        for off in range(4000, len(c) - length, length):
            out.append({"clean": torch.from_numpy(c[off:off + length])[None],
                        "noisy": torch.from_numpy(x[off:off + length])[None]})
            if len(out) == n:
                return out
    raise SystemExit(f"{pairs} holds fewer than {n} windows of {length} samples")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=5, help="timed steps per mode")
    ap.add_argument("--pairs", type=Path, default=ROOT.parent / "shared" / "data"
                    / "voicebank-sample")
    args = ap.parse_args()
    torch.set_num_threads(1)
    pesq_seconds: list[float] = []
    real = module_code.pesq_targets

    def timed(*a):
        t = time.process_time()
        result = real(*a)
        pesq_seconds.append(time.process_time() - t)
        return result

    module_code.pesq_targets = timed
    for mode, overrides in MODES.items():
        settings = load_settings(ROOT / "configs" / "default.yaml", overrides)
        batch = settings.train.batch_size
        data = windows(args.pairs, batch, settings.data.window)
        clean = torch.stack([d["clean"] for d in data])
        noisy = torch.stack([d["noisy"] for d in data])
        stats = {"noisy_mean": float(noisy.mean()), "noisy_std": float(noisy.std()),
                 "clean_mean": float(clean.mean()), "clean_std": float(clean.std())}
        torch.manual_seed(0)
        module = SeganGAN(settings, stats)
        module.set_reference_batch(clean, noisy)
        timer = CpuTimer()
        steps = WARMUP + args.steps
        pesq_seconds.clear()
        Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                enable_progress_bar=False, enable_model_summary=False, callbacks=[timer],
                max_steps=steps * SeganGAN.optimizer_steps_per_batch).fit(
            module, DataLoader(data * steps, batch_size=batch))
        step = float(np.mean(timer.times[WARMUP:]))
        pesq = sum(pesq_seconds[2 * WARMUP:]) / args.steps if pesq_seconds else 0.0
        print(f"{mode}: {step:.2f} CPU-s a step (batch {batch}, window "
              f"{settings.data.window}); PESQ {pesq:.2f} s of it", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
