"""Is `Denoiser.enhance_batch` (a loop over clips) as fast as batching windows across
clips? Real VoiceBank clips of different lengths, the shipped default model, CPU:

1. `enhance_batch(clips)`: one call per clip (each clip's windows batched);
2. the same audio joined into one signal: the most batching any scheme gets (not the
   same output: windows span clip boundaries), an upper bound on its speed.

Prints wall time and real-time factor of each (target: 1 within 1.2x of 2).

    .venv/bin/python scripts/bench_batch.py [--clips 25] [--threads 1]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

import segan_cli

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "voicebank-sample" / "noisy"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=25)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    files = sorted(SAMPLE.glob("*.wav"))[: args.clips]
    clips = [sf.read(f, dtype="float32")[0] for f in files]
    sr = sf.info(files[0]).samplerate
    seconds = sum(len(c) for c in clips) / sr
    denoiser = segan_cli.load("default")
    denoiser.enhance(clips[0], sr)  # warm-up
    joined = np.concatenate(clips)
    for label, run in (("enhance_batch (loop over clips)", lambda: denoiser.enhance_batch(
            clips, sr)), ("one joined signal (upper bound)", lambda: denoiser.enhance(
            joined, sr))):
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        best = min(times)
        print(f"{label:34s} {best:7.2f} s for {seconds:.1f} s of audio in {len(clips)} "
              f"clips, real-time factor {best / seconds:.3f}")


if __name__ == "__main__":
    main()
