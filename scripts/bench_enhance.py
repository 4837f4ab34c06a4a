"""Enhancement speed and memory, measured in one run.

1. End-to-end ``Enhancer.enhance_file`` on a 60 s 16 kHz file against the bare
   generator forward pass over the same windows (target: at most 1.3x), for the tiny
   and the full-size (paper) generators; with the real-time factor of each.
2. Peak resident memory of ``segan enhance`` (a fresh process each) on a 10-minute
   against a 60-minute file (target: within 100 MB of each other), for the model
   and for ``--method wiener``.

3. The processes column: ``segan enhance DIR --out OUT`` on one folder of real
   VoiceBank recordings (``../shared/data``; synthetic ones when absent) with
   OMP_NUM_THREADS=1, as today's folder run (one process), and on Lightning's predict
   loop with one process and with two (``--devices 2 --strategy ddp --accelerator
   cpu``, gloo); wall time of each command and time in the enhancement loop, the
   speed-up of two processes over one (target: at least 1.7x on 2 cores), and a check
   that all three wrote the same bytes.

Models are randomly initialised (speed does not depend on the weights), except the
processes column, which runs ``--proc-ckpt`` (the packaged default model unless told).

    .venv/bin/python scripts/bench_enhance.py [--skip-full] [--skip-memory]
        [--skip-processes] [--proc-copies N] [--proc-ckpt CKPT]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from segan_cli.core.enhancement.inference import GeneratorModel, load_bundle
from segan_cli.core.enhancement.whole_file import Enhancer
from segan_cli.core.training.module import SeganGAN
from segan_cli.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]


def make_checkpoint(config: Path, out: Path) -> Path:
    settings = load_settings(config)
    torch.manual_seed(0)
    module = SeganGAN(settings, None)
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)},
               out)
    return out


def noisy_file(path: Path, seconds: float, sr: int = 16000) -> Path:
    """Speech-like test signal: modulated harmonics plus noise, written in blocks."""
    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", sr, 1, "PCM_16") as f:
        block = sr * 10
        for start in range(0, int(seconds * sr), block):
            n = min(block, int(seconds * sr) - start)
            t = (start + np.arange(n)) / sr
            x = 0.2 * np.sin(2 * np.pi * 150 * t) * (1 + np.sin(2 * np.pi * 3 * t))
            f.write((x + 0.05 * rng.standard_normal(n)).astype(np.float32))
    return path


def bare_forward(model: GeneratorModel, seconds: float, batch: int) -> float:
    """Time the generator alone over the windows overlap-add uses for ``seconds``."""
    window = model.window
    n = int(seconds * model.sample_rate)
    count = int(np.ceil((n + window // 2) / (window // 2)))
    x = (np.random.default_rng(1).standard_normal((batch, window)) * 0.1).astype(np.float32)
    model(x[: count % batch or batch])  # warm-up of the last, partial batch shape
    t0 = time.perf_counter()
    for a in range(0, count, batch):
        model(x[: min(batch, count - a)])
    return time.perf_counter() - t0


def speed(name: str, ckpt: Path, wav: Path, seconds: float, batch: int, repeats: int) -> float:
    """Best of ``repeats`` alternating runs of each (the machine may be shared)."""
    bundle = load_bundle(ckpt, "cpu")
    model = GeneratorModel.from_bundle(bundle)
    enhancer = Enhancer(model, "ola", batch)
    e2e_runs, bare_runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        # builds kernels for all shapes
        enhancer.enhance_file(wav, Path(tmp) / "warm.wav", overwrite=True)
        for _ in range(repeats):
            t0 = time.perf_counter()
            enhancer.enhance_file(wav, Path(tmp) / "out.wav", overwrite=True)
            e2e_runs.append(time.perf_counter() - t0)
            bare_runs.append(bare_forward(model, seconds, batch))
    e2e, bare = min(e2e_runs), min(bare_runs)
    ratio = e2e / bare
    print(f"{name:>5}: enhance {e2e:7.2f} s, bare generator {bare:7.2f} s, "
          f"ratio {ratio:.3f} (target <= 1.3); real-time factor {e2e / seconds:.4f}")
    return ratio


def peak_rss_mb(wav: Path, *options: str) -> float:
    """Peak RSS (VmHWM) of a fresh ``segan enhance`` process on ``wav`` with ``options``.

    VmHWM belongs to the process image, so unlike ``ru_maxrss`` it does not inherit
    the parent's size across fork and exec.
    """
    with tempfile.TemporaryDirectory() as tmp:
        code = ("import sys\n"
                "from segan_cli.cli.app import app\n"
                "try:\n    app(sys.argv[1:])\nexcept SystemExit as e:\n"
                "    assert not e.code, e.code\n"
                "status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
                "print(int(status.split()[0]))\n")
        out = subprocess.run([sys.executable, "-c", code, "enhance", str(wav),
                              str(Path(tmp) / "o.wav"), *options],
                             capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


SHARED_NOISY = ROOT.parent / "shared" / "data" / "voicebank-sample" / "noisy"


def proc_folder(folder: Path, copies: int) -> float:
    """``copies`` of the VoiceBank sample's noisy files (or of 25 synthetic 3 s files)
    in ``folder``; returns the seconds of audio."""
    folder.mkdir(parents=True)
    sources = sorted(SHARED_NOISY.glob("*.wav")) if SHARED_NOISY.is_dir() else \
        [noisy_file(folder.parent / f"syn{i}.wav", 3.0 + 0.1 * i) for i in range(25)]
    total = 0.0
    for k in range(copies):
        for src in sources:
            shutil.copyfile(src, folder / f"{k}_{src.name}")
            total += sf.info(str(src)).duration
    return total


def timed_enhance(folder: Path, out: Path, ckpt: str, *options: str
                  ) -> tuple[float, float | None, tuple[float, float] | None]:
    """(wall seconds of the command, seconds it reports enhancing, its CPU seconds) of
    one ``segan enhance`` at one thread per process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "300"}
    t0 = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "segan_cli", "enhance", str(folder), "--out",
                          str(out), "--ckpt", ckpt, *options], env=env, capture_output=True,
                         text=True)
    wall = time.perf_counter() - t0
    if run.returncode != 0:
        raise SystemExit(f"segan enhance {' '.join(options)} failed:\n{run.stderr}")
    loop = re.search(r"\(([\d.]+) s enhancing", run.stdout)
    return wall, float(loop[1]) if loop else None, cpu_seconds(run.stdout)


def cpu_seconds(stdout: str) -> tuple[float, float] | None:
    """(CPU seconds of all processes, of the busiest one) a corpus run reports."""
    found = re.search(r"([\d.]+) CPU-s(?:, at most ([\d.]+) in one process)?", stdout)
    return (float(found[1]), float(found[2] or found[1])) if found else None


def processes_column(tmpd: Path, copies: int, ckpt: str) -> float:
    """Two processes against one on one folder, end to end and in the loop."""
    folder = tmpd / "procs-in"
    seconds = proc_folder(folder, copies)
    files = len(list(folder.iterdir()))
    print(f"processes: {files} files, {seconds:.1f} s of audio, --ckpt {ckpt}, "
          "OMP_NUM_THREADS=1 in every process")
    rows = [("folder run (today's default)", ()),
            ("predict loop, 1 process", ("--devices", "1", "--accelerator", "cpu")),
            ("predict loop, 2 processes", ("--devices", "2", "--strategy", "ddp",
                                           "--accelerator", "cpu"))]
    print(f"  {'run':<30} {'processes':>9} {'wall s':>8} {'enhancing s':>12} {'CPU-s':>7} "
          f"{'busiest':>8} {'RTF':>7}")
    times = []
    outputs = []
    for i, (name, options) in enumerate(rows):
        out = tmpd / f"procs-out{i}"
        wall, loop, cpu = timed_enhance(folder, out, ckpt, *options)
        times.append((wall, loop, cpu))
        outputs.append({p.relative_to(out): p.read_bytes() for p in out.rglob("*.wav")})
        procs = 2 if "2 processes" in name else 1
        cells = [f"{v:{w}.2f}" if v is not None else f"{'-':>{w}}" for v, w in
                 ((loop, 12), (cpu[0] if cpu else None, 7), (cpu[1] if cpu else None, 8))]
        print(f"  {name:<30} {procs:>9} {wall:8.2f} {' '.join(cells)} {wall / seconds:7.4f}")
    same = outputs[0] == outputs[1] == outputs[2] and len(outputs[0]) == files
    (w1, l1, c1), (w2, l2, c2) = times[1], times[2]
    assert l1 is not None and l2 is not None and c1 is not None and c2 is not None
    print(f"  two processes over one: {l1 / l2:.2f}x in the loop (target >= 1.7), "
          f"{w1 / w2:.2f}x end to end (start-up included); today's folder run "
          f"{times[0][0]:.2f} s vs the predict loop's one process {w1:.2f} s")
    print(f"  CPU: one process {c1[0]:.2f} s, two {c2[0]:.2f} s in all and {c2[1]:.2f} s in "
          f"the busiest: {c1[0] / c2[1]:.2f}x with a free core per process (an estimate)")
    print(f"  outputs byte-identical across the three runs: {same}")
    return l1 / l2 if same else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-full", action="store_true", help="skip the full-size generator")
    ap.add_argument("--skip-memory", action="store_true", help="skip the 10/60-minute files")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--skip-processes", action="store_true",
                    help="skip the processes column (two processes against one)")
    ap.add_argument("--proc-copies", type=int, default=1,
                    help="copies of the sample folder in the processes column")
    ap.add_argument("--proc-ckpt", default="default", help="model of the processes column")
    ap.add_argument("--only-processes", action="store_true",
                    help="run the processes column alone")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        wav = noisy_file(tmpd / "60s.wav", args.seconds)
        if not args.skip_processes:
            ok &= processes_column(tmpd, args.proc_copies, args.proc_ckpt) >= 1.7
        if args.only_processes:
            print("all targets met" if ok else "TARGET MISSED")
            return 0 if ok else 1
        tiny = make_checkpoint(ROOT / "configs" / "tiny.yaml", tmpd / "tiny.ckpt")
        ok &= speed("tiny", tiny, wav, args.seconds, 16, 3) <= 1.3
        if not args.skip_full:
            full = make_checkpoint(ROOT / "configs" / "segan.yaml", tmpd / "full.ckpt")
            ok &= speed("full", full, wav, args.seconds, 8, 1) <= 1.3
        if not args.skip_memory:
            short = noisy_file(tmpd / "10min.wav", 600)
            long = noisy_file(tmpd / "60min.wav", 3600)
            for name, options in (("model", ("--ckpt", str(tiny))),
                                  ("Wiener", ("--method", "wiener"))):
                small, large = peak_rss_mb(short, *options), peak_rss_mb(long, *options)
                print(f"{name} peak memory: 10-minute file {small:.0f} MB, 60-minute file "
                      f"{large:.0f} MB, difference {large - small:+.0f} MB "
                      "(target within 100 MB)")
                ok &= abs(large - small) <= 100
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
