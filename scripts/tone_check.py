#!/usr/bin/env python
"""Does a model add tones? Narrow spectral peaks in its output that are in neither input.

For a folder of pairs (``clean/`` and ``noisy/``, e.g. ../shared/data/voicebank-sample),
the long-term spectrum (FFT 1024, Hann, 50% overlap, power averaged over every frame of
every file) of the noisy input, the clean speech and the model's output with no dry
share. A bin's prominence is its level above the median of its 16 neighbours (8 each
side, itself left out). What the model adds is, per bin between 1 and 7.8 kHz, its
output's prominence minus the larger of the noisy's and the clean's; the default
model's target is that no bin adds more than 1 dB.

    .venv/bin/python scripts/tone_check.py --ckpt default --pairs ../shared/data/voicebank-sample

Prints the worst bins and writes ``--out`` (JSON) when given.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from segan_cli.core.data.sources.pairs import list_audio  # noqa: E402
from segan_cli.core.enhancement.batch_enhance import own_settings_enhancer  # noqa: E402
from segan_cli.core.enhancement.inference import load_bundle  # noqa: E402
from segan_cli.core.io.audio import load_mono  # noqa: E402
from segan_cli.weights import resolve_checkpoint  # noqa: E402

FFT = 1024
NEIGHBOURS = 8
BAND_HZ = (1000.0, 7800.0)
TARGET_DB = 1.0


def long_term_db(signals: list[np.ndarray]) -> np.ndarray:
    """Mean power spectrum (dB) over every frame of every signal."""
    window = np.hanning(FFT)
    total, frames = np.zeros(FFT // 2 + 1), 0
    for x in signals:
        if x.size < FFT:
            continue
        view = np.lib.stride_tricks.sliding_window_view(x, FFT)[::FFT // 2]
        total += np.sum(np.abs(np.fft.rfft(view * window, axis=1)) ** 2, axis=0)
        frames += view.shape[0]
    return 10 * np.log10(total / max(frames, 1) + 1e-20)


def prominence(db: np.ndarray) -> np.ndarray:
    """Each bin's level above the median of its neighbours (NaN where they run out)."""
    out = np.full(db.size, np.nan)
    for i in range(NEIGHBOURS, db.size - NEIGHBOURS):
        around = np.concatenate([db[i - NEIGHBOURS:i], db[i + 1:i + 1 + NEIGHBOURS]])
        out[i] = db[i] - np.median(around)
    return out


def added_tones(noisy: list[np.ndarray], clean: list[np.ndarray],
                enhanced: list[np.ndarray], sr: int) -> dict:
    """Per-bin prominence the output adds over both inputs, within BAND_HZ."""
    freqs = np.fft.rfftfreq(FFT, 1.0 / sr)
    band = (freqs >= BAND_HZ[0]) & (freqs <= BAND_HZ[1])
    p_out = prominence(long_term_db(enhanced))
    p_ref = np.maximum(prominence(long_term_db(noisy)), prominence(long_term_db(clean)))
    added = np.where(band, p_out - p_ref, np.nan)
    order = np.argsort(-np.nan_to_num(added, nan=-np.inf))[:5]
    return {"max_added_db": float(np.nanmax(added)),
            "worst": [{"hz": float(freqs[i]), "added_db": float(added[i]),
                       "output_prominence_db": float(p_out[i])} for i in order],
            "target_db": TARGET_DB, "meets_target": bool(np.nanmax(added) <= TARGET_DB)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ckpt", default="default", help="checkpoint, run folder or 'default'")
    ap.add_argument("--pairs", type=Path, required=True, help="folder with clean/ and noisy/")
    ap.add_argument("--out", type=Path, default=None, help="write the result as JSON here")
    args = ap.parse_args()
    bundle = load_bundle(resolve_checkpoint(args.ckpt))
    s = bundle.settings
    sr = s.data.sample_rate
    enhancer = own_settings_enhancer(bundle, 0.0)
    clean_files, noisy_files = list_audio(args.pairs / "clean"), list_audio(args.pairs / "noisy")
    names = sorted(set(clean_files) & set(noisy_files))
    noisy = [load_mono(noisy_files[n], sr) for n in names]
    clean = [load_mono(clean_files[n], sr) for n in names]
    enhanced = [enhancer.enhance(x, sr) for x in noisy]
    result = {"ckpt": str(args.ckpt), "files": len(names), **added_tones(noisy, clean,
                                                                          enhanced, sr)}
    for w in result["worst"]:
        print(f"{w['hz']:7.1f} Hz: +{w['added_db']:.2f} dB over the inputs' prominence")
    print(f"most added: {result['max_added_db']:.2f} dB (target <= {TARGET_DB:g} dB): "
          f"{'met' if result['meets_target'] else 'missed'}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
