#!/usr/bin/env python
"""Score a model the way the model card reports it: every set, Noisy and Wiener beside it.

Sets (each skipped with a note when absent):
- ``valid``: the validation split of the training corpus (unseen voices and noises);
- ``test``: the test split of the same corpus (the unseen male voice, unseen noises);
- ``demo-test``: the test split of the small demo corpus (what the quickstart shows);
- ``voicebank-sample``: 25 real VoiceBank-DEMAND test pairs in ../shared/data;
- ``valid-clean-in``, ``test-clean-in``, ``demo-clean-in``, ``voicebank-clean-in``: the
  clean side of each of those sets fed through each system and scored against itself
  (does the model leave clean speech alone?). ``valid`` and ``valid-clean-in`` are the
  only sets a choice between models may look at.

    .venv/bin/python scripts/score_default.py --ckpt default --corpus data/demo-full \\
        --demo data/demo-small --out runs/default/scores

Writes ``OUT/scores.json`` and ``OUT/scores.md`` (means with 95% intervals).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from segan_cli.core.data.pipeline.manifest import load_manifest  # noqa: E402
from segan_cli.core.data.sources.pairs import list_audio  # noqa: E402
from segan_cli.core.enhancement.batch_enhance import own_settings_enhancer  # noqa: E402
from segan_cli.core.enhancement.inference import (  # noqa: E402
    OPTIMIZER_STEPS_PER_BATCH,
    load_bundle,
)
from segan_cli.core.enhancement.whole_file import WienerFileEnhancer  # noqa: E402
from segan_cli.core.evaluation.plans import (  # noqa: E402
    System,
    corpus_pairs,
    enhanced_system,
    score_systems,
    spread_evenly,
)
from segan_cli.core.io.files import write_text_atomic  # noqa: E402
from segan_cli.weights import resolve_checkpoint  # noqa: E402

SHOWN = ("pesq", "csig", "cbak", "covl", "ssnr", "stoi")
SETS = ("valid", "valid-clean-in", "test", "test-clean-in", "demo-test", "demo-clean-in",
        "voicebank-sample", "voicebank-clean-in")
VOICEBANK_SAMPLE = REPO.parent / "shared" / "data" / "voicebank-sample"


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ckpt", default="default", help="checkpoint or 'default'")
    ap.add_argument("--corpus", type=Path, help="the training corpus (valid and test splits)")
    ap.add_argument("--demo", type=Path, help="the small demo corpus (its test split)")
    ap.add_argument("--voicebank-sample", type=Path, default=VOICEBANK_SAMPLE)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sets", default=",".join(SETS),
                    help=f"comma-separated subset of {', '.join(SETS)}")
    ap.add_argument("--limit", type=int, default=0,
                    help="score at most this many evenly spread files per set (0: all)")
    return ap.parse_args()


def rows_for(items: list[tuple[str, Path, Path]], sr: int, model_enhance, label: str,
             input_label: str = "Noisy") -> list[System]:
    return [System(input_label, [(n, c, x) for n, c, x in items]),
            enhanced_system("Wiener", items, sr, WienerFileEnhancer().enhance),
            enhanced_system(label, items, sr, model_enhance)]


def corpus_items(root: Path, split: str, limit: int) -> list[tuple[str, Path, Path]]:
    return spread_evenly(corpus_pairs(root, load_manifest(root), split), limit)


def sample_items(root: Path) -> list[tuple[str, Path, Path]]:
    clean, noisy = list_audio(root / "clean"), list_audio(root / "noisy")
    return [(k, clean[k], noisy[k]) for k in sorted(set(clean) & set(noisy))]


def main() -> int:
    args = parse_args()
    wanted = {w.strip() for w in args.sets.split(",") if w.strip()}
    if wanted - set(SETS):
        raise SystemExit(f"unknown set(s) {', '.join(sorted(wanted - set(SETS)))}")
    bundle = load_bundle(resolve_checkpoint(args.ckpt))
    enhancer = own_settings_enhancer(bundle)
    label = "model"
    sets: dict[str, list[System]] = {}
    corpus = args.corpus if args.corpus and (args.corpus / "manifest.json").is_file() else None
    demo = args.demo if args.demo and (args.demo / "manifest.json").is_file() else None
    vb = args.voicebank_sample if args.voicebank_sample.is_dir() else None
    sources = {"valid": (corpus and corpus_items(corpus, "valid", args.limit)),
               "test": (corpus and corpus_items(corpus, "test", args.limit)),
               "demo-test": (demo and corpus_items(demo, "test", args.limit)),
               "voicebank-sample": (vb and sample_items(vb))}
    for name, items in sources.items():
        clean_name = name.replace("-test", "").replace("-sample", "") + "-clean-in"
        if items and name in wanted:
            sets[name] = rows_for(items, 16000, enhancer.enhance, label)
        if items and clean_name in wanted:
            sets[clean_name] = rows_for([(n, c, c) for n, c, _ in items], 16000,
                                        enhancer.enhance, label, "Clean input")
    steps = None if bundle.step is None else bundle.step // OPTIMIZER_STEPS_PER_BATCH
    out: dict[str, dict] = {"checkpoint": str(args.ckpt), "step": steps, "sets": {}}
    lines = [f"Model `{args.ckpt}` (step {steps}); means with 95% intervals.", ""]
    for name, systems in sets.items():
        score_systems(systems, args.workers, "default")
        out["sets"][name] = {sys_.label: sys_.result.to_dict() for sys_ in systems}
        lines += [f"### {name} ({systems[0].result.n_scored} files)", "",
                  "| system | " + " | ".join(m.upper() for m in SHOWN) + " |",
                  "|---|" + "---|" * len(SHOWN)]
        for sys_ in systems:
            cells = []
            for m in SHOWN:
                summ = sys_.result.summary[m]
                cells.append(f"{summ.mean:.3f} ±{summ.ci95_half_width:.3f}")
            lines.append(f"| {sys_.label} | " + " | ".join(cells) + " |")
        lines.append("")
        print("\n".join(lines[-(len(systems) + 4):]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out / "scores.json", json.dumps(out, indent=2))  # own reports
    write_text_atomic(args.out / "scores.md", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
