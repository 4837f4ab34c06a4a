"""How long `segan` takes to answer before any work: `--help` and an argument error,
each in a fresh process, median of N runs (target: under 1 s on a laptop core; it was
3.8 s when importing core/io/audio.py pulled in scipy.signal). tests/test_startup.py checks
the cause (no torch, scipy or lightning imported); this measures the effect.

    .venv/bin/python scripts/bench_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "segan --help": ["--help"],
    "segan enhance --help": ["enhance", "--help"],
    "segan enhance x.wav --method nope": ["enhance", "x.wav", "--method", "nope"],
    "python -c 'import segan_cli.cli.app' (floor)": None,
}


def once(args: list[str] | None) -> float:
    cmd = ([sys.executable, "-c", "import segan_cli.cli.app"] if args is None
           else [sys.executable, "-m", "segan_cli", *args])
    t0 = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=False)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    runs = ap.parse_args().runs
    bare = statistics.median(_python_floor() for _ in range(runs))
    print(f"{'python -c pass (interpreter floor)':48s} {bare:6.2f} s")
    for label, args in CASES.items():
        times = [once(args) for _ in range(runs)]
        print(f"{label:48s} {statistics.median(times):6.2f} s  (min {min(times):.2f})")


def _python_floor() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=False)
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
