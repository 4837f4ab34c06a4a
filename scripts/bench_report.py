"""Cost of ``evaluate --report``: the same evaluation with and without the report page.

On the demo corpus's test split (40 files; rows Noisy, Wiener and the default model),
``segan evaluate`` runs as a fresh process each time, with and without ``--report``,
interleaved so that load changes hit both alike; each is the best of ``--repeats``
runs by wall time. Target: the report run takes under 1.5x the plain one. Prints the
report's size and exits 1 if the target is missed.

    .venv/bin/python scripts/bench_report.py [--data data/demo-small] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEGAN = ROOT / ".venv" / "bin" / "segan"
MAX_RATIO = 1.5


def run(args: list[str]) -> float:
    """Wall seconds of one ``segan`` process (which must succeed)."""
    t0 = time.perf_counter()
    proc = subprocess.run([str(SEGAN), *args], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"segan {' '.join(args)} failed:\n{proc.stderr}")
    return wall


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("data/demo-small"),
                    help="a corpus made by `segan prepare demo` (its test split is scored)")
    ap.add_argument("--ckpt", default="default", help="the model row")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    if not (args.data / "manifest.json").is_file():
        print(f"no corpus at {args.data}: segan prepare demo --out {args.data}",
              file=sys.stderr)
        return 2
    load = os.getloadavg()[0]
    base = ["evaluate", "--data", str(args.data), "--ckpt", args.ckpt,
            "--workers", str(args.workers)]
    work = Path(tempfile.mkdtemp(prefix="segan-bench-report-"))
    try:
        plain = with_report = float("inf")
        size = 0
        for i in range(args.repeats):
            plain = min(plain, run(base))
            report = work / f"report{i}"
            with_report = min(with_report, run([*base, "--report", str(report)]))
            size = folder_bytes(report)
        ratio = with_report / plain
        print(f"{os.cpu_count()} CPUs, load average {load:.2f} before the run")
        print(f"evaluate            : {plain:6.1f} s (best of {args.repeats})")
        print(f"evaluate --report   : {with_report:6.1f} s")
        print(f"report / plain = {ratio:.2f}x  (target < {MAX_RATIO}x); report size "
              f"{size / 1e6:.1f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if ratio >= MAX_RATIO:
        print("FAIL: the report costs too much", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
