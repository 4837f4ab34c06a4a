"""Training throughput with the real DataModule against tensors already in memory.

Both runs take the same number of real Lightning GAN steps (D then G update) with the
same model and batch size; the in-memory run draws batches from one preloaded tensor,
so the difference is what data loading costs (target: at most 5%). Measured for the
tiny config, the default model's recipe (``configs/default.yaml``: every window
remixed on the fly by the augmenter, which the in-memory run has precomputed) and
the full-size (paper) config, in one run; the first steps are warm-up and excluded.

    .venv/bin/python scripts/bench_train.py [--pairs DIR] [--steps 30] [--skip-full]
    .venv/bin/python scripts/bench_train.py --data data/demo-full --only-default

``--data`` measures the default recipe on a prepared corpus instead (the corpus the
default model trains on, whose noise family ``corpus`` reads its recorded noises).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, Dataset

from segan_cli.core.data.pipeline.datamodule import SeganDataModule
from segan_cli.core.data.sources.pairs import prepare_pairs
from segan_cli.core.training.module import SeganGAN
from segan_cli.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
WARMUP = 3


class Timer(Callback):
    """Wall time of the steps after the warm-up ones."""

    def __init__(self) -> None:
        self.t0 = 0.0
        self.t1 = 0.0
        self.count = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.count == WARMUP:
            self.t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.count += 1
        self.t1 = time.perf_counter()

    @property
    def rate(self) -> float:
        return (self.count - WARMUP) / (self.t1 - self.t0)


class InMemory(Dataset):
    """The same windows as the DataModule, but as one tensor already in memory."""

    def __init__(self, clean: torch.Tensor, noisy: torch.Tensor) -> None:
        self.clean, self.noisy = clean, noisy

    def __len__(self) -> int:
        return self.clean.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"clean": self.clean[i], "noisy": self.noisy[i]}


def run(settings: Settings, dm: SeganDataModule, loader: DataLoader | None, steps: int) -> float:
    torch.manual_seed(0)
    module = SeganGAN(settings, dm.stats)
    module.set_reference_batch(*dm.reference_batch())
    timer = Timer()
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=2 * steps, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, callbacks=[timer])
    if loader is None:
        trainer.fit(module, datamodule=dm)
    else:
        trainer.fit(module, train_dataloaders=loader)
    return timer.rate


def bench(label: str, settings: Settings, corpus: Path, steps: int) -> float:
    dm = SeganDataModule(corpus, settings)
    n = settings.train.batch_size * (steps + 1)
    items = [dm.train_set[i % len(dm.train_set)] for i in range(n)]
    memory = DataLoader(InMemory(torch.stack([it["clean"] for it in items]),
                                 torch.stack([it["noisy"] for it in items])),
                        batch_size=settings.train.batch_size, shuffle=True, drop_last=True)
    real = run(settings, dm, None, steps)
    mem = run(settings, dm, memory, steps)
    cost = (mem - real) / mem * 100
    print(f"{label:>7}: DataModule {real:6.3f} steps/s, in-memory {mem:6.3f} steps/s, "
          f"data loading costs {cost:+.1f}% (target <= 5%)  "
          f"[batch {settings.train.batch_size} x {settings.data.window} samples]")
    return cost


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=Path, default=ROOT.parent / "shared/data/voicebank-sample")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--default-steps", type=int, default=20)
    ap.add_argument("--full-steps", type=int, default=6)
    ap.add_argument("--skip-full", action="store_true")
    ap.add_argument("--data", type=Path, default=None,
                    help="prepared corpus for the default recipe (default: the pairs)")
    ap.add_argument("--only-default", action="store_true",
                    help="measure the default recipe only")
    args = ap.parse_args()
    import logging
    import warnings

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        prepare_pairs(args.pairs / "clean", args.pairs / "noisy", corpus)
        if not args.only_default:
            tiny = load_settings(ROOT / "configs" / "tiny.yaml")
            ok &= bench("tiny", tiny, corpus, args.steps) <= 5
        default = load_settings(ROOT / "configs" / "default.yaml", ["train.accelerator=cpu"])
        ok &= bench("default", default, args.data or corpus, args.default_steps) <= 5
        if not (args.skip_full or args.only_default):
            full = load_settings(ROOT / "configs" / "segan.yaml",
                                 ["train.batch_size=4", "train.num_workers=0",
                                  "train.accelerator=cpu"])
            ok &= bench("full", full, corpus, args.full_steps) <= 5
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
