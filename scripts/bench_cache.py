"""Window-cache read throughput against reading the same windows from wav files.

Builds a corpus from a folder of pairs (default: ../shared/data/voicebank-sample),
then reads the same random (clean, noisy) training windows twice in one run: from
the memory-mapped cache, and by opening the two wav files of each window with
soundfile. Prints windows/s for both and their ratio.

    .venv/bin/python scripts/bench_cache.py [--pairs DIR] [--windows 3000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from segan_cli.core.data.pipeline.cache import SplitCache
from segan_cli.core.data.pipeline.manifest import load_manifest
from segan_cli.core.data.sources.pairs import prepare_pairs

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=Path, default=ROOT.parent / "shared/data/voicebank-sample")
    ap.add_argument("--windows", type=int, default=3000)
    ap.add_argument("--window", type=int, default=16384)
    ap.add_argument("--hop", type=int, default=8192)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "corpus"
        prepare_pairs(args.pairs / "clean", args.pairs / "noisy", out)
        manifest = load_manifest(out)
        cache = SplitCache(out, "train", args.window, args.hop)
        rng = np.random.default_rng(0)
        picks = rng.integers(0, len(cache), args.windows)
        utts = manifest.splits["train"]

        t0 = time.perf_counter()
        acc = 0.0
        for i in picks:
            c, n = cache.window_at(int(i))
            acc += float(c[0]) + float(n[0])
        t_cache = time.perf_counter() - t0

        t0 = time.perf_counter()
        for i in picks:
            u, off = cache.index[int(i)]
            utt = utts[int(u)]
            frames = int(min(args.window, utt.frames - off))
            c, _ = sf.read(out / utt.clean, start=int(off), frames=frames, dtype="float32")
            n, _ = sf.read(out / utt.noisy, start=int(off), frames=frames, dtype="float32")
            acc -= float(c[0]) + float(n[0])
        t_wav = time.perf_counter() - t0
    rate_cache = args.windows / t_cache
    rate_wav = args.windows / t_wav
    print(f"train windows: {len(cache)} from {cache.num_utterances} utterances; "
          f"read {args.windows} random windows of {args.window} samples (clean + noisy)")
    print(f"window cache : {rate_cache:10.0f} windows/s")
    print(f"wav files    : {rate_wav:10.0f} windows/s")
    print(f"cache speed-up: {rate_cache / rate_wav:.1f}x  (checksum {acc:+.3f}, expected 0)")


if __name__ == "__main__":
    main()
