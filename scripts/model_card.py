#!/usr/bin/env python
"""Write the default model's card from what was measured, never from typed-in numbers.

Reads the packaged model (settings, statistics, provenance), the training corpus's
manifest (voices, roles, licences), the scores of ``scripts/score_default.py`` and a
small JSON record of the training run (steps, CPU seconds, threads), checks the
issue's quality targets against the scores, and renders ``MODEL_CARD.md``.

    .venv/bin/python scripts/model_card.py --model segan_cli/weights/default.pt \\
        --corpus data/demo-full --scores runs/default/scores/scores.json \\
        --training runs/default/training.json --out segan_cli/weights/MODEL_CARD.md
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHOWN = ("pesq", "csig", "cbak", "covl", "ssnr", "stoi")
SET_TITLES = {
    "valid": "Validation split (two unseen voices, unseen noises; used to choose)",
    "valid-clean-in": "Clean speech in: the validation voices' clean side (used to choose)",
    "test": "Test split of the training corpus (an unseen male voice, unseen noises)",
    "demo-test": "Demo test split (`segan prepare demo`; what the quickstart shows)",
    "voicebank-sample": "VoiceBank-DEMAND sample (25 real test pairs, never used to choose)",
    "test-clean-in": "Clean speech in: the test split's clean side",
    "demo-clean-in": "Clean speech in: the demo test split's clean side",
    "voicebank-clean-in": "Clean speech in: the VoiceBank sample's clean side",
}
CLEAN_PESQ, CLEAN_STOI = 4.0, 0.98
# the default-model issue's targets: (metric, reference system, allowance)
NOISY_SIDE = {
    "test": [("pesq", "Wiener", 0), ("cbak", "Wiener", 0), ("ssnr", "Wiener", 0),
             ("csig", "Noisy", 0), ("covl", "Noisy", 0), ("stoi", "Noisy", 0)],
    "voicebank-sample": [("pesq", "Wiener", 0), ("cbak", "Wiener", 0),
                         ("ssnr", "Wiener", 0), ("csig", "Noisy", 0), ("covl", "Noisy", 0),
                         ("stoi", "Noisy", 0.01)],
}
NOISY_SIDE["demo-test"] = NOISY_SIDE["test"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True, help="the packaged model file")
    ap.add_argument("--corpus", type=Path, required=True, help="the training corpus")
    ap.add_argument("--scores", type=Path, required=True, help="score_default.py's JSON")
    ap.add_argument("--training", type=Path, required=True,
                    help="JSON: steps, cpu_seconds, wall_seconds, threads, command")
    ap.add_argument("--tones", type=Path, default=None,
                    help="scripts/tone_check.py's JSON (the model alone on the sample)")
    ap.add_argument("--out", type=Path, required=True)
    return ap.parse_args(argv)


def mean(result: dict[str, Any], metric: str) -> float:
    return float(result["metrics"][metric]["mean"])


def cell(result: dict[str, Any], metric: str) -> str:
    m = result["metrics"][metric]
    half = (m["ci95"][1] - m["ci95"][0]) / 2
    return f"{m['mean']:.3f} ±{half:.3f}"


def score_table(systems: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["| system | files | " + " | ".join(m.upper() for m in SHOWN) + " |",
             "|---|---|" + "---|" * len(SHOWN)]
    for label, result in systems.items():
        name = "default model" if label == "model" else label
        lines.append(f"| {name} | {result['scored']} | "
                     + " | ".join(cell(result, m) for m in SHOWN) + " |")
    return lines


def targets(sets: dict[str, dict[str, dict[str, Any]]],
            tones: dict[str, Any] | None = None) -> list[tuple[str, bool, str]]:
    """(target, met, measured) for each quality target of the default-model issue: the
    noisy-side metrics against Wiener or Noisy, clean speech kept on every clean set,
    and no tone the model alone adds (``tones``: scripts/tone_check.py's result)."""
    out: list[tuple[str, bool, str]] = []
    for name, checks in NOISY_SIDE.items():
        if name not in sets:
            continue
        for metric, ref, allowance in checks:
            a, b = mean(sets[name]["model"], metric), mean(sets[name][ref], metric)
            rule = f">= {ref}" + (f" - {allowance:g}" if allowance else "")
            out.append((f"{name}: {metric.upper()} {rule}", a >= b - allowance,
                        f"{a:.3f} vs {b:.3f}"))
    for name in (n for n in sets if n.endswith("clean-in")):
        model = sets[name]["model"]
        p, s = mean(model, "pesq"), mean(model, "stoi")
        out.append((f"{name}: PESQ >= {CLEAN_PESQ:g}", p >= CLEAN_PESQ, f"{p:.3f}"))
        out.append((f"{name}: STOI >= {CLEAN_STOI:g}", s >= CLEAN_STOI, f"{s:.3f}"))
    if tones is not None:
        worst = tones["worst"][0]
        out.append((f"no added tone over {tones['target_db']:g} dB (model alone)",
                    tones["max_added_db"] <= tones["target_db"],
                    f"{tones['max_added_db']:+.2f} dB at {worst['hz']:.0f} Hz"))
    return out


def data_section(manifest: dict[str, Any]) -> list[str]:
    source = manifest["source"]
    voices = source.get("voices", [])
    by_role: dict[str, Counter] = {}
    for v in voices:
        by_role.setdefault(v["role"], Counter())[v.get("sex_measured", v.get("sex", "?"))] += 1
    lines = ["## Training data", "",
             f"`segan prepare demo --size {source.get('size', '?')}`: real recorded speech from "
             "Debian packages, mixed with noise recordings and synthetic noises, and remixed "
             "on the fly during training (speed 0.8-1.25, spectral tilt, level, six noise "
             "families, a share of clean windows).", ""]
    for role in ("train", "valid", "test"):
        counts = by_role.get(role, Counter())
        hours = sum(v.get("minutes", 0) for v in voices if v["role"] == role) / 60
        desc = ", ".join(f"{n} {sex}" for sex, n in sorted(counts.items()))
        noises = source.get(f"{role}_noises", [])
        n = sum(counts.values())
        lines.append(f"- **{role}**: {n} voice{'' if n == 1 else 's'} ({desc}), "
                     f"{hours:.1f} h of source speech; noises: {', '.join(noises)}")
    lines += ["", "| package | version | licence |", "|---|---|---|"]
    for pkg in source.get("packages", []):
        lines.append(f"| {pkg['name']} | {pkg['version']} | {pkg['licence']} |")
    return lines + [""]


def recipe_section(settings: dict[str, Any], training: dict[str, Any],
                   record: dict[str, Any]) -> list[str]:
    model, train, data = settings["model"], settings["train"], settings["data"]
    aug = data.get("augment", {})
    cpu_h = training["cpu_seconds"] / 3600
    wiener = model.get("condition") == "wiener"
    base = "its Wiener estimate" if wiener else "the input"
    head = (f"output = {base} + a learned correction" if model["head"] == "residual"
            else "direct output")
    adversarial = train["adversarial_from_step"] < training["steps"]
    lines = [
        "## Recipe", "",
        f"- Generator: Advanced SEGAN (`arch {model['arch']}`), widths "
        f"{model['encoder_channels']}, kernel {model['kernel_size']}, window "
        f"{data['window']} samples at {data['sample_rate']} Hz, output head "
        f"`{model['head']}` ({head}), "
        + ("input: the noisy window and its Wiener estimate (`condition wiener`), "
           if wiener else "")
        + f"decoder upsampling `{model.get('upsample', 'transposed')}`, per-window level "
        f"normalisation {'on' if model.get('window_norm') else 'off'}, z-score input.",
        f"- Loss: L1 x{train['l1_weight']:g}"
        + (f" + multi-resolution STFT x{train['stft_weight']:g}" if train["stft_weight"]
           else "") + "; "
        + ("the discriminator joins at step "
           f"{train['adversarial_from_step']}." if adversarial else
           "the discriminator never joins within this budget "
           f"(`adversarial_from_step` {train['adversarial_from_step']})."),
        f"- Adam {train['lr_g']:g} {tuple(train['betas'])}, batch {train['batch_size']}, "
        f"EMA weights (decay {train['ema_decay']}), latent z = 0.",
        f"- Augmentation: clean share {aug.get('clean_share')}, SNR {aug.get('snr_db')} dB, "
        f"gain ±{aug.get('gain_db')} dB, speed {aug.get('speed')}, tilt "
        f"±{aug.get('tilt_db_per_octave')} dB/octave."]
    if "correction_share" in record:
        lines.append(f"- Correction share {record['correction_share']:g}: the weights hold "
                     f"exactly {base} + {record['correction_share']:g} x the correction the "
                     "run learned (chosen on validation).")
    gate = model.get("correction_gate")
    if gate:
        lines.append(f"- Correction gate [{gate[0]:g}, {gate[1]:g}]: each window's "
                     "correction fades in with the share of its energy the Wiener estimate "
                     f"removes, from none at {gate[0]:g} to all of it at {gate[1]:g}, so "
                     "clean speech keeps the Wiener estimate.")
    lines.append(
        f"- Inference: `enhance.dry` {settings['enhance']['dry']:g} (that share of the input "
        "is mixed back into the output; `--dry` changes it), z = 0, overlap-add of "
        "half-overlapping windows.")
    for stage in training.get("stages", []):
        lines.append(f"- {stage['name']}: {stage['steps']} steps, "
                     f"{stage['cpu_seconds'] / 3600:.2f} CPU-hours; {stage['what']}.")
    lines += [
        f"- Trained {training['steps']} steps (batches) in {training['wall_seconds'] / 3600:.1f} "
        f"h on {training['threads']} CPU thread(s): {cpu_h:.1f} CPU-hours. "
        f"Chosen among {training.get('candidates', 1)} candidate(s) on the validation split "
        "only.",
        f"- Reproduce: `{training['command']}`.", ""]
    return lines


def render(args: argparse.Namespace) -> str:
    import torch

    from segan_cli.core.packaging.model_file import PACKAGE_KEY, TOLERANCE

    blob = torch.load(args.model, map_location="cpu", weights_only=True)
    settings = blob["hyper_parameters"]["settings"]
    provenance = blob.get(PACKAGE_KEY, {})
    manifest = json.loads((args.corpus / "manifest.json").read_text())
    scores = json.loads(args.scores.read_text())
    training = json.loads(args.training.read_text())
    size_mb = args.model.stat().st_size / 1e6
    lines = ["# segan default model", "",
             "What `segan enhance in.wav out.wav` uses when no `--ckpt` is given "
             "(also `--ckpt default` in `enhance`, `evaluate`, `export`, `info` and "
             "`train --init-from`). Every number below was measured; this card is written "
             "by `scripts/model_card.py` from the score files.", "",
             f"- File: `segan_cli/weights/default.pt`, {size_mb:.1f} MB, float16 weights "
             f"(checked when packaged to enhance within {TOLERANCE:g} of the float32 "
             "checkpoint), loaded with `weights_only=True`.",
             f"- Weights sha256: `{provenance.get('weights_sha256', '?')}`", ""]
    lines += data_section(manifest)
    lines += recipe_section(settings, training, provenance)
    tones = json.loads(args.tones.read_text()) if args.tones else None
    met = targets(scores["sets"], tones)
    lines += ["## Quality targets", "",
              f"{sum(ok for _, ok, _ in met)} of {len(met)} targets met.", "",
              "| target | met | measured |", "|---|---|---|"]
    lines += [f"| {name} | {'yes' if ok else '**no**'} | {value} |" for name, ok, value in met]
    lines += ["", "## Scores", "",
              "`segan evaluate` default mode (PESQ wide-band, STOI, composite measures, "
              "segmental SNR); means with 95% intervals. Reproduce with "
              "`scripts/score_default.py --ckpt default --corpus data/demo-full "
              "--demo data/demo-small --out OUT`.", ""]
    for name, systems in scores["sets"].items():
        lines += [f"### {SET_TITLES.get(name, name)}", ""] + score_table(systems) + [""]
    if "valid" in scores["sets"] and "test" in scores["sets"]:
        gain = {s: mean(scores["sets"][s]["model"], "pesq") - mean(scores["sets"][s]["Noisy"],
                                                                   "pesq")
                for s in ("valid", "test")}
        lines += ["### Validation against test", "",
                  f"PESQ gain over Noisy: validation {gain['valid']:+.3f}, test "
                  f"{gain['test']:+.3f} (difference {gain['test'] - gain['valid']:+.3f}).", ""]
    lines += ["## Limits", ""] + [f"- {t}" for t in training.get("limits", [])] + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from segan_cli.core.io.files import write_text_atomic

    write_text_atomic(args.out, render(args))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
