#!/usr/bin/env python
"""Recipe ablation at equal wall-clock: which training choices pay off on a CPU budget.

Each variant is the base settings (default ``configs/default.yaml``) plus overrides,
trained from scratch for the same budget on the same threads, then scored
on a fixed set of whole validation utterances (never test): the metric suite on the
noisy side, and "clean in" (the clean side fed through the model, scored against
itself), which shows whether a model leaves clean speech alone.

The budget is CPU time of the training process by default (``--clock cpu``: all its
threads, so 2 threads spend it twice as fast as wall time), which keeps the
comparison fair when something else shares the machine; ``--clock wall`` uses
wall-clock minutes instead.

    .venv/bin/python scripts/ablate.py --data data/demo-full --minutes 8 --out runs/ablate
    .venv/bin/python scripts/ablate.py --data D --minutes 2 --variants residual,default

Writes ``OUT/ablation.md`` (the table) and ``OUT/ablation.json``; a variant already
scored in ``OUT/ablation.json`` is not re-run, so an interrupted ablation resumes.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

REGRESSION = "train.adversarial_from_step=100000000"
NO_AUG = "data.augment.enabled=false"
#: the ``default*`` rows were measured when configs/default.yaml had the linear head,
#: the STFT loss and clean share 0.2 over SNR -5..40 dB; these keep their meaning
EARLIER_DEFAULT = ["model.head=linear", "train.stft_weight=1", "data.augment.clean_share=0.2",
                   "data.augment.snr_db=[-5,40]"]
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "gan-seed-head": ("the Advanced SEGAN recipe: LSGAN + L1, seed head, no extras",
                      ["model.head=seed", "train.stft_weight=0", "train.adversarial_from_step=0",
                       "train.ema_decay=null", "train.lr_g=1e-4", "train.betas=[0.5,0.999]",
                       NO_AUG]),
    "seed-head": ("regression only (L1 + STFT), the seed's BN-ReLU-conv head",
                  ["model.head=seed", REGRESSION, "train.ema_decay=null", NO_AUG]),
    "linear-head": ("as seed-head, BN-conv head", ["model.head=linear", REGRESSION,
                                                    "train.ema_decay=null", NO_AUG]),
    "residual": ("as linear-head, output = input + correction",
                 ["model.head=residual", REGRESSION, "train.ema_decay=null", NO_AUG]),
    "residual-aug": ("residual + on-the-fly augmentation",
                     ["model.head=residual", REGRESSION, "train.ema_decay=null"]),
    "default": ("the earlier configs/default.yaml: linear head, L1 + STFT, window "
                "normalisation, augmentation, EMA, z = 0", []),
    "default-residual": ("default with the residual head", ["model.head=residual"]),
    "default-residual-harder": ("default-residual with fewer clean windows, lower SNRs",
                                ["model.head=residual", "data.augment.clean_share=0.05",
                                 "data.augment.snr_db=[-5,20]"]),
    "default-residual-no-stft": ("default-residual without the STFT loss",
                                 ["model.head=residual", "train.stft_weight=0"]),
    "default-signed": ("default with a plain conv ending the decoder (signed output)",
                       ["model.decoder_last=conv"]),
    "default-signed-residual": ("default-signed with the residual head",
                                ["model.decoder_last=conv", "model.head=residual"]),
    "default-no-stft": ("default without the STFT loss", ["train.stft_weight=0"]),
    "default-harder": ("default with fewer clean windows and lower SNRs",
                       ["data.augment.clean_share=0.1", "data.augment.snr_db=[-5,25]"]),
    # issue 18's round, on configs/default.yaml as it is (no EARLIER_DEFAULT)
    "r18-base": ("configs/default.yaml: residual head without BatchNorm, L1 + STFT with "
                 "the relative floor, broad recorded noise", []),
    "r18-wiener": ("r18-base with the Wiener-conditioned input (model.condition=wiener)",
                   ["model.condition=wiener"]),
    "r18-no-stft": ("r18-base without the STFT loss", ["train.stft_weight=0"]),
    "r18-wiener-no-stft": ("r18-wiener without the STFT loss",
                           ["model.condition=wiener", "train.stft_weight=0"]),
    "r18-wiener-stft5": ("r18-wiener with the STFT loss weighted 5",
                         ["model.condition=wiener", "train.stft_weight=5"]),
    "r18-wiener-clean04": ("r18-wiener with 40% clean windows (0.2 in r18-base)",
                           ["model.condition=wiener", "data.augment.clean_share=0.4"]),
    "r18-stft5": ("r18-base with the STFT loss weighted 5", ["train.stft_weight=5"]),
    "r18-k31": ("r18-base with kernel 31 (fewer steps per CPU-hour)",
                ["model.kernel_size=31"]),
    "r18-w32k": ("r18-base with windows of 32768 samples (batch 8: same samples a step)",
                 ["data.window=32768", "data.hop=16384", "train.batch_size=8"]),
    "r18-metric-finetune": ("configs/default.yaml with model.condition=wiener, the metric "
                            "discriminator from the start, metric_weight 1",
                            ["model.condition=wiener", "train.adversarial=metric",
                             "train.adversarial_from_step=0", "train.metric_weight=1"]),
}


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="prepared corpus")
    ap.add_argument("--config", type=Path, default=REPO / "configs" / "default.yaml")
    ap.add_argument("--minutes", type=float, default=8.0, help="training budget per variant")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                    help="budget in process CPU time (default) or wall-clock time")
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help=f"comma-separated, from: {', '.join(VARIANTS)}")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "ablate")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--utterances", type=int, default=16, help="validation utterances scored")
    ap.add_argument("--keep-runs", action="store_true", help="keep each variant's run folder")
    return ap.parse_args()


class BudgetStop:
    """Lightning callback factory: stop training after ``seconds`` on ``clock``."""

    @staticmethod
    def make(seconds: float, clock: str):
        from lightning.pytorch.callbacks import Callback

        now = time.process_time if clock == "cpu" else time.perf_counter

        class _Stop(Callback):
            def __init__(self) -> None:
                self.start = 0.0

            def on_train_start(self, trainer, pl_module) -> None:
                self.start = now()

            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
                if now() - self.start >= seconds:
                    trainer.should_stop = True

        return _Stop()


def score_model(ckpt: Path, utterances, settings) -> dict[str, float]:
    """Mean suite scores with noisy input, and PESQ/STOI with clean input."""
    from segan_cli.core.enhancement.inference import GeneratorModel, load_bundle
    from segan_cli.core.enhancement.whole_file import Enhancer

    bundle = load_bundle(ckpt)
    enhancer = Enhancer(GeneratorModel.from_bundle(bundle), settings.enhance.chunking,
                        settings.enhance.batch_size, dc_block_hz=settings.enhance.dc_block_hz)
    return score_system(lambda x: enhancer.enhance(x, settings.data.sample_rate),
                        utterances, settings.data.sample_rate)


def score_system(enhance, utterances, sr: int) -> dict[str, float]:
    from segan_cli.core.metrics import MetricInputError, score_utterance

    rows, clean_rows = [], []
    for _, clean, noisy in utterances:
        try:
            rows.append(score_utterance(clean, enhance(noisy), sr))
            clean_rows.append(score_utterance(clean, enhance(clean), sr))
        except MetricInputError:
            continue
    out = {k: float(np.mean([r[k] for r in rows])) for k in
           ("pesq", "csig", "cbak", "covl", "ssnr", "stoi")}
    out["clean_pesq"] = float(np.mean([r["pesq"] for r in clean_rows]))
    out["clean_stoi"] = float(np.mean([r["stoi"] for r in clean_rows]))
    out["scored"] = len(rows)
    return out


def run_variant(name: str, overrides: list[str], args, log) -> dict:
    import torch

    from segan_cli.core.data.pipeline.datamodule import SeganDataModule
    from segan_cli.core.training.run import fit
    from segan_cli.settings import load_settings

    settings = load_settings(args.config, overrides + [
        "train.max_epochs=-1", "train.max_steps=-1", "train.val_check_interval=null",
        "train.val_every_n_epochs=1000000"])
    run_dir = args.out / "runs" / name
    shutil.rmtree(run_dir, ignore_errors=True)
    torch.set_num_threads(args.threads)
    log(f"[{name}] training {args.minutes:g} {args.clock} min")
    result = fit(args.data, settings, run_dir,
                 callbacks=[BudgetStop.make(args.minutes * 60, args.clock)],
                 enable_progress_bar=False, logger=False)
    dm = SeganDataModule(args.data, settings)
    utts = dm.validation_utterances(args.utterances)
    scores = score_model(result.last, utts, settings)
    if not args.keep_runs:
        shutil.rmtree(run_dir, ignore_errors=True)
    return {"variant": name, "steps": result.steps,
            "steps_per_second": result.steps_per_second, **scores}


def wiener_row(args) -> dict:
    """The classic baseline the default model has to beat, on the same utterances."""
    from segan_cli.core.data.pipeline.datamodule import SeganDataModule
    from segan_cli.core.dsp.wiener import wiener_enhance
    from segan_cli.settings import load_settings

    settings = load_settings(args.config)
    sr = settings.data.sample_rate
    utts = SeganDataModule(args.data, settings).validation_utterances(args.utterances)
    return {"variant": "wiener (baseline)", "steps": 0, "steps_per_second": math.nan,
            **score_system(lambda x: wiener_enhance(x, sr), utts, sr)}


def noisy_row(args) -> dict:
    from segan_cli.core.data.pipeline.datamodule import SeganDataModule
    from segan_cli.settings import load_settings

    settings = load_settings(args.config)
    dm = SeganDataModule(args.data, settings)
    utts = dm.validation_utterances(args.utterances)
    return {"variant": "noisy (input)", "steps": 0, "steps_per_second": math.nan,
            **score_system(lambda x: x, utts, settings.data.sample_rate)}


def table(rows: list[dict], args) -> str:
    head = ("| variant | steps | steps/s | PESQ | CSIG | CBAK | COVL | SSNR | STOI "
            "| clean-in PESQ | clean-in STOI |")
    lines = [f"Budget {args.minutes:g} {args.clock}-time minutes per variant, "
             f"{args.threads} threads; "
             f"{rows[0]['scored']} validation utterances of `{args.data}`.", "", head,
             "|" + "---|" * 11]
    for r in rows:
        rate = "" if math.isnan(r["steps_per_second"]) else f"{r['steps_per_second']:.2f}"
        lines.append(
            f"| {r['variant']} | {r['steps'] or ''} | {rate} | {r['pesq']:.3f} | "
            f"{r['csig']:.3f} | {r['cbak']:.3f} | {r['covl']:.3f} | {r['ssnr']:.2f} | "
            f"{r['stoi']:.3f} | {r['clean_pesq']:.3f} | {r['clean_stoi']:.3f} |")
    lines += ["", "Variants:"] + [f"- `{n}`: {VARIANTS[n][0]}" for n in
                                   (r["variant"] for r in rows[2:])]
    return "\n".join(lines) + "\n"


def main() -> int:
    args = parse_args()
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        print(f"unknown variant(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    from segan_cli.core.io.files import write_text_atomic

    args.out.mkdir(parents=True, exist_ok=True)
    store = args.out / "ablation.json"
    done = json.loads(store.read_text()) if store.is_file() else {}

    def log(msg: str) -> None:
        print(msg, flush=True)

    def save() -> None:  # the script's own report: rewritten, atomically
        write_text_atomic(store, json.dumps(done, indent=2))

    if "noisy (input)" not in done:
        done["noisy (input)"] = noisy_row(args)
        save()
    if "wiener (baseline)" not in done:
        done["wiener (baseline)"] = wiener_row(args)
        save()
    for name in names:
        if name in done and done[name].get("budget") == [args.minutes, args.clock]:
            log(f"[{name}] already scored; skipped")
            continue
        base = EARLIER_DEFAULT if name.startswith("default") else []
        done[name] = {**run_variant(name, base + VARIANTS[name][1], args, log),
                      "budget": [args.minutes, args.clock]}
        save()
        log(f"[{name}] {done[name]}")
    rows = [done["noisy (input)"], done["wiener (baseline)"]] + [done[n] for n in names]
    text = table(rows, args)
    write_text_atomic(args.out / "ablation.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
