#!/usr/bin/env python
"""Choose the default model among checkpoints, dry shares, correction shares and
correction gates, on the validation split only.

A candidate is a (checkpoint, dry share, correction share, gate) tuple: ``--dry`` is
the share of input mixed back (``enhance.dry``), ``--shares`` a residual model's share
of its learned correction (``base + share x correction``, see
:mod:`segan_cli.core.models.correction`; 1 is the model as trained), ``--gates`` the
correction gates of a residual model over the Wiener estimate (``none`` or
``LOW:HIGH``, ``model.correction_gate``; ``none`` keeps the checkpoint's own, no gate
unless it was trained with one). Each candidate enhances the validation
split's noisy files and its clean files ("clean-in"). Every checkpoint is first scored
as trained (dry 0, share 1, no gate); the ``--finalists`` with the highest gain then go
through the whole grid. The rule,
fixed before looking: among the candidates that keep clean speech (validation clean-in
PESQ >= 4.0 and STOI >= 0.98, the default model's clean-in targets), the highest mean
of validation PESQ and CBAK gains over Noisy; if none keeps clean speech, the one with
the highest clean-in PESQ. The test splits and the VoiceBank sample are never read here.

    .venv/bin/python scripts/choose_default.py --corpus data/demo-full \\
        --ckpts runs/a/best.ckpt runs/b/best.ckpt --dry 0 0.3 --shares 0.5 1 \\
        --gates none 0.005:0.03 --out runs/choice

Writes ``OUT/choice.json`` and ``OUT/choice.md`` and prints the table.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from segan_cli.core.data.pipeline.manifest import load_manifest  # noqa: E402
from segan_cli.core.enhancement.batch_enhance import own_settings_enhancer  # noqa: E402
from segan_cli.core.enhancement.inference import (  # noqa: E402
    OPTIMIZER_STEPS_PER_BATCH,
    load_bundle,
)
from segan_cli.core.evaluation.plans import (  # noqa: E402
    System,
    corpus_pairs,
    enhanced_system,
    score_systems,
    spread_evenly,
)
from segan_cli.core.io.files import write_text_atomic  # noqa: E402
from segan_cli.core.models.correction import (  # noqa: E402
    has_residual_head,
    scale_generator,
    set_correction_gate,
)

CLEAN_PESQ, CLEAN_STOI = 4.0, 0.98


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--ckpts", type=Path, nargs="+", required=True)
    ap.add_argument("--dry", type=float, nargs="+", default=[0.0])
    ap.add_argument("--shares", type=float, nargs="+", default=[1.0],
                    help="correction shares of a residual model (1: as trained)")
    ap.add_argument("--gates", type=parse_gate, nargs="+", default=[None],
                    help="correction gates of a residual model over the Wiener estimate: "
                         "none or LOW:HIGH (model.correction_gate)")
    ap.add_argument("--finalists", type=int, default=3,
                    help="checkpoints that go through the whole grid (0: all)")
    ap.add_argument("--limit", type=int, default=0, help="at most this many files (0: all)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    return ap.parse_args(argv)


def parse_gate(text: str) -> tuple[float, float] | None:
    """``none`` or ``LOW:HIGH`` with 0 <= LOW < HIGH <= 1."""
    if text.lower() == "none":
        return None
    try:
        low, high = (float(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not none or LOW:HIGH") from None
    if not 0.0 <= low < high <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} needs 0 <= LOW < HIGH <= 1")
    return low, high


def gate_text(gate: tuple[float, float] | list[float] | None) -> str:
    return "none" if gate is None else f"{gate[0]:g}:{gate[1]:g}"


def gan_steps(bundle) -> int | None:
    """Batches trained (Lightning's step counts both optimisers' steps)."""
    return None if bundle.step is None else bundle.step // OPTIMIZER_STEPS_PER_BATCH


def means(system: System) -> dict[str, float]:
    return {k: float(v.mean) for k, v in system.result.summary.items()}


def choose(rows: list[dict]) -> dict:
    """The rule in the module docstring."""
    keep = [r for r in rows if r["clean_pesq"] >= CLEAN_PESQ and r["clean_stoi"] >= CLEAN_STOI]
    if keep:
        return max(keep, key=lambda r: r["gain"])
    return max(rows, key=lambda r: r["clean_pesq"])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    manifest = load_manifest(args.corpus)
    items = spread_evenly(corpus_pairs(args.corpus, manifest, "valid"), args.limit)
    clean_items = [(n, c, c) for n, c, _ in items]
    sr = manifest.sample_rate
    noisy = System("Noisy", list(items))
    score_systems([noisy], args.workers, "default")
    base = means(noisy)
    rows: list[dict] = []

    def score(ckpt: Path, bundle, dry: float, share: float,
              gate: tuple[float, float] | None = None) -> dict:
        if share != 1.0 or gate is not None:
            bundle = dataclasses.replace(bundle, generator=copy.deepcopy(bundle.generator))
            if share != 1.0:
                scale_generator(bundle.generator, share)
            if gate is not None:
                set_correction_gate(bundle.generator, gate)
        enhancer = own_settings_enhancer(bundle, dry)
        den = enhanced_system("model", items, sr, enhancer.enhance)
        cin = enhanced_system("clean-in", clean_items, sr, enhancer.enhance)
        score_systems([den, cin], args.workers, "default")
        m, c = means(den), means(cin)
        gain = ((m["pesq"] - base["pesq"]) + (m["cbak"] - base["cbak"])) / 2
        row = {"ckpt": str(ckpt), "step": gan_steps(bundle), "dry": dry, "share": share,
               "gate": None if gate is None else list(gate), "gain": gain, "valid": m,
               "clean_pesq": c["pesq"], "clean_stoi": c["stoi"]}
        print(f"{ckpt} dry {dry:g} share {share:g} gate {gate_text(gate)}: valid PESQ "
              f"{m['pesq']:.3f} CBAK "
              f"{m['cbak']:.3f} SSNR {m['ssnr']:.2f} STOI {m['stoi']:.3f} (gain {gain:+.3f}); "
              f"clean-in PESQ {c['pesq']:.3f} STOI {c['stoi']:.3f}", flush=True)
        rows.append(row)
        return row

    first: dict[Path, dict] = {}
    seen: dict[tuple[Path, int | None], Path] = {}
    for ckpt in args.ckpts:
        bundle = load_bundle(ckpt)
        same = seen.setdefault((ckpt.resolve().parent, bundle.step), ckpt)
        if same != ckpt:  # a run's last.ckpt at the step of a kept one: the same weights
            print(f"{ckpt}: step {bundle.step}, as {same}; scored once", flush=True)
            continue
        first[ckpt] = score(ckpt, bundle, 0.0, 1.0)
    ranked = sorted(first, key=lambda c: first[c]["gain"], reverse=True)
    for ckpt in ranked[:args.finalists or None]:
        bundle = load_bundle(ckpt)
        residual = has_residual_head(bundle.settings)
        gated = residual and bundle.settings.model.condition == "wiener"
        for dry in args.dry:
            for share in (args.shares if residual else [1.0]):
                for gate in (args.gates if gated else [None]):
                    if (dry, share, gate) != (0.0, 1.0, None):
                        score(ckpt, bundle, dry, share, gate)
    best = choose(rows)
    lines = [f"Validation split of `{args.corpus}`, {len(items)} files. Noisy: PESQ "
             f"{base['pesq']:.3f} CBAK {base['cbak']:.3f} SSNR {base['ssnr']:.2f} STOI "
             f"{base['stoi']:.3f}.", "",
             "| checkpoint | step | dry | share | gate | PESQ | CBAK | SSNR | STOI | gain "
             "| clean-in PESQ | clean-in STOI |", "|---" * 12 + "|"]
    for r in rows:
        mark = " **chosen**" if r is best else ""
        v = r["valid"]
        lines.append(f"| {r['ckpt']}{mark} | {r['step']} | {r['dry']:g} | {r['share']:g} "
                     f"| {gate_text(r['gate'])} | {v['pesq']:.3f} | "
                     f"{v['cbak']:.3f} | {v['ssnr']:.2f} | {v['stoi']:.3f} | {r['gain']:+.3f} "
                     f"| {r['clean_pesq']:.3f} | {r['clean_stoi']:.3f} |")
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out / "choice.json", json.dumps(
        {"noisy": base, "rows": rows, "chosen": best, "files": len(items)}, indent=2))
    write_text_atomic(args.out / "choice.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"chosen: {best['ckpt']} at dry {best['dry']:g}, correction share {best['share']:g}, "
          f"gate {gate_text(best['gate'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
