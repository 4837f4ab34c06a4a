"""Cost of the metric suite, and its scaling over processes, on the VoiceBank sample.

In one run: (1) per-file time of the full suite (PESQ, STOI, SSNR, LLR, WSS,
composites) against PESQ + STOI alone, on signals already in memory (target: at
most 1.25x); (2) batch scoring of the files with ``workers=2`` against ``workers=1``,
reading included (target: at least 1.7x). Each timing is the best of ``--repeats``
runs; the first ratio uses this process's CPU time, the second wall time, which
other jobs on a busy machine do inflate (the load average is printed). Prints the
noisy-row means in both modes and exits 1 if a target is missed.

    .venv/bin/python scripts/bench_metrics.py [--data DIR] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import soundfile as sf

from segan_cli.core.metrics import (
    BatchResult,
    pesq_score,
    score_pairs,
    score_utterance,
    stoi_score,
)
from segan_cli.core.metrics.threads import single_threaded_blas

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("pesq", "stoi", "csig", "cbak", "covl", "ssnr")
MAX_SUITE_RATIO = 1.25
MIN_SPEEDUP = 1.7


def best_of(repeats: int, fn: Callable[[], object],
            clock: Callable[[], float] = time.perf_counter) -> float:
    """Shortest time of ``repeats`` calls by ``clock``, in seconds."""
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return min(times)


def row(label: str, result: BatchResult) -> str:
    means = result.means()
    cells = "  ".join(f"{k.upper()} {means[k]:6.3f}" for k in COLUMNS)
    return f"{label:<16} {cells}  ({result.n_scored}/{result.n_total} files)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/voicebank-sample",
                    help="folder with clean/ and noisy/ wav pairs")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    names = sorted(p.stem for p in (args.data / "clean").glob("*.wav"))
    if not names:
        print(f"no clean/*.wav under {args.data}", file=sys.stderr)
        return 2
    pairs = [(n, args.data / "clean" / f"{n}.wav", args.data / "noisy" / f"{n}.wav")
             for n in names]
    signals = []
    for _, c, e in pairs:
        clean, sr = sf.read(c, dtype="float32")
        noisy, sr_n = sf.read(e, dtype="float32")
        assert sr == sr_n == 16000, f"{c}: expected 16 kHz pairs"
        signals.append((clean, noisy))
    seconds = sum(c.size for c, _ in signals) / 16000

    def base() -> None:
        for c, e in signals:
            pesq_score(c, e, 16000)
            stoi_score(c, e, 16000)

    def suite() -> None:
        for c, e in signals:
            score_utterance(c, e, 16000)

    t_base = t_suite = float("inf")
    with single_threaded_blas():  # as batch scoring runs (see segan_cli.core.metrics.threads)
        suite()  # warm caches (filter tables, windows) before timing
        for _ in range(args.repeats):  # interleaved, so load changes hit both alike
            # CPU time of this process: other jobs on the machine do not count
            t_base = min(t_base, best_of(1, base, time.process_time))
            t_suite = min(t_suite, best_of(1, suite, time.process_time))
    ratio = t_suite / t_base

    results: dict[int, BatchResult] = {}

    def batch(workers: int) -> Callable[[], object]:
        def run() -> None:
            results[workers] = score_pairs(pairs, workers=workers)
        return run

    t1 = t2 = float("inf")
    for _ in range(args.repeats):
        t1 = min(t1, best_of(1, batch(1)))
        t2 = min(t2, best_of(1, batch(2)))
    speedup = t1 / t2
    paper = score_pairs(pairs, workers=2, mode="paper")
    same = results[1].rows == results[2].rows

    n = len(signals)
    print(f"{os.cpu_count()} CPUs, load average {load:.2f} before the run")
    print(f"{n} files, {seconds:.1f} s of audio ({seconds / n:.2f} s per file)")
    print(f"PESQ+STOI alone : {1000 * t_base / n:7.1f} ms/file")
    print(f"full suite      : {1000 * t_suite / n:7.1f} ms/file")
    print(f"suite / PESQ+STOI = {ratio:.3f}x  (target <= {MAX_SUITE_RATIO}x)")
    print(f"batch workers=1 : {t1:6.2f} s   workers=2 : {t2:6.2f} s")
    print(f"speed-up workers=2 over 1 = {speedup:.2f}x  (target >= {MIN_SPEEDUP}x); "
          f"identical numbers: {same}")
    print(row("Noisy (default)", results[1]))
    print(row("Noisy (paper)", paper))
    for r in (results[1], paper):
        for f in r.failures:
            print(f"  failed: {f.name}: {f.message}")
    ok = ratio <= MAX_SUITE_RATIO and speedup >= MIN_SPEEDUP and same
    if not ok:
        print("FAIL: a target was missed", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
