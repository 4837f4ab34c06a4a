"""Memory of `segan enhance - -` against the length of what is piped in: a writer
process streams N minutes of a real VoiceBank recording (looped) as a live WAV (length
unknown, as arecord writes it) into `segan enhance - -`, whose output is read and
counted; the peak resident memory of the segan process is reported for each N (target:
flat, within 50 MB from 1 to 60 minutes). Also the delay from the first input to the
first output.

    .venv/bin/python scripts/bench_pipe.py [--minutes 1,60] [--method wiener|model]
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import soundfile as sf

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "voicebank-sample" / \
    "noisy" / "p232_005.wav"


def header(rate: int) -> bytes:
    return (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" + struct.pack("<I", 0xFFFFFFFF))


def run(minutes: float, method: list[str]) -> tuple[float, float, int]:
    """(peak RSS of segan in MB, seconds to first output, bytes out) for one length."""
    x, rate = sf.read(SAMPLE, dtype="int16")
    chunk = x.tobytes()
    total = int(minutes * 60 * rate) * 2
    proc = subprocess.Popen([sys.executable, "-m", "segan_cli", "enhance", "-", "-", *method],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env={**os.environ})
    count = [0]
    first: list[float] = []

    def reader() -> None:
        assert proc.stdout is not None
        while piece := proc.stdout.read1(1 << 16):
            count[0] += len(piece)
            if not first and count[0] > 44:
                first.append(time.monotonic())

    thread = threading.Thread(target=reader)
    thread.start()
    assert proc.stdin is not None
    t0 = time.monotonic()
    proc.stdin.write(header(rate))
    sent = 0
    while sent < total:
        piece = chunk[: total - sent]
        proc.stdin.write(piece)
        sent += len(piece)
    proc.stdin.close()
    thread.join()
    _, _, usage = os.wait4(proc.pid, 0)  # this child's own peak
    proc.returncode = 0
    peak = usage.ru_maxrss / 1024
    return peak, (first[0] - t0) if first else float("nan"), count[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", default="1,60")
    ap.add_argument("--method", default="wiener", choices=["wiener", "model"])
    args = ap.parse_args()
    method = ["--method", "wiener"] if args.method == "wiener" else []
    for minutes in (float(m) for m in args.minutes.split(",")):
        peak, delay, out = run(minutes, method)
        print(f"{minutes:6.1f} min piped ({args.method}): peak RSS {peak:7.1f} MB, first "
              f"output after {delay:5.2f} s, {out / 2 / 16000 / 60:.1f} min out")


if __name__ == "__main__":
    main()
