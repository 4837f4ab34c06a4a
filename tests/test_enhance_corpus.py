"""Corpus runs (issue 21): globs and list files, and Lightning's predict loop in two
CPU processes (gloo) on real VoiceBank recordings, byte for byte against one process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from segan_cli.core.enhancement.corpus.report import FAILURES, read_failures

SEGAN = [sys.executable, "-m", "segan_cli"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
TWO = ["--devices", "2", "--strategy", "ddp", "--accelerator", "cpu"]
ONE = ["--devices", "1", "--accelerator", "cpu"]


def _corpus(root: Path, sample: Path, count: int, seconds: float = 0.6) -> Path:
    """``count`` real noisy recordings cut to different lengths, two of them in a
    sub-folder (so the tree is mirrored)."""
    files = sorted((sample / "noisy").glob("*.wav"))[:count]
    for i, f in enumerate(files):
        x, sr = sf.read(f, dtype="float32")
        dest = root / ("sub" if i % 4 == 1 else "") / f.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        sf.write(dest, x[: int(sr * (seconds + 0.15 * i))], sr, subtype="PCM_16")
    return root


def _outputs(folder: Path) -> dict[str, bytes]:
    """The published outputs (not the hidden temporaries) by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.wav"))
            if not p.name.startswith(".")}


def _segan(*args: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*SEGAN, "enhance", *map(str, args)], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def test_glob_and_list_files_plan_like_a_folder(cli, voicebank_sample, tiny_ckpt, tmp_path,
                                                one_torch_thread):
    src = _corpus(tmp_path / "in", voicebank_sample, 4)
    cli("enhance", src, "--out", tmp_path / "folder", "--ckpt", tiny_ckpt)
    want = _outputs(tmp_path / "folder")
    assert len(want) == 4

    cli("enhance", f"{src}/**/*.wav", "--out", tmp_path / "glob", "--ckpt", tiny_ckpt)
    assert _outputs(tmp_path / "glob") == want

    lst = tmp_path / "in" / "files.txt"  # relative to the list's folder, # comments skipped
    lst.write_text("# corpus\n" + "\n".join(sorted(want)) + "\n\n")
    cli("enhance", lst, "--out", tmp_path / "txt", "--ckpt", tiny_ckpt)
    assert _outputs(tmp_path / "txt") == want

    rows = [f"{src / name},renamed/{Path(name).stem}.flac" for name in sorted(want)]
    table = tmp_path / "named.csv"  # absolute paths, named outputs in another format
    table.write_text("path,output\n" + "\n".join(rows) + f"\n{src}/gone.wav,gone.wav\n")
    result = cli("enhance", table, "--out", tmp_path / "csv", "--ckpt", tiny_ckpt, code=1)
    made = sorted(p.name for p in (tmp_path / "csv" / "renamed").iterdir())
    assert made == sorted(f"{Path(n).stem}.flac" for n in want)
    x, _ = sf.read(tmp_path / "csv" / "renamed" / made[0], dtype="int16")
    y, _ = sf.read(tmp_path / "folder" / sorted(want)[0], dtype="int16")
    # the same enhanced audio (libsndfile rounds floats to FLAC and truncates to WAV)
    assert x.shape == y.shape and np.abs(x.astype(np.int32) - y).max() <= 1
    assert read_failures(tmp_path / "csv") == [
        (f"{src}/gone.wav", f"audio file not found: {src}/gone.wav")]
    assert "1 failed" in result.stdout

    # a rerun resumes: the finished files are skipped, the missing one fails again
    result = cli("enhance", table, "--out", tmp_path / "csv", "--ckpt", tiny_ckpt, code=1)
    assert "skipping 4 file(s)" in result.stdout
    # a list whose outputs collide is refused before any work
    (tmp_path / "twice.csv").write_text(f"{src}/{sorted(want)[0]},a.wav\n"
                                        f"{src}/{sorted(want)[1]},a.wav\n")
    result = cli("enhance", tmp_path / "twice.csv", "--out", tmp_path / "x", "--ckpt",
                 tiny_ckpt, code=2)
    assert "would both be written to" in result.stderr and not (tmp_path / "x").exists()


def test_bad_lightning_flags_are_one_line(cli, voicebank_sample, tiny_ckpt, tmp_path):
    src = _corpus(tmp_path / "in", voicebank_sample, 1)
    result = cli("enhance", src, "--out", tmp_path / "o", "--ckpt", tiny_ckpt,
                 "--accelerator", "cpu", "--devices", "abc", code=2)
    assert "Lightning cannot run with" in result.stderr and "Traceback" not in result.stderr
    result = cli("enhance", src, "--out", tmp_path / "o", "--ckpt", tiny_ckpt,
                 "--devices", "2", "--strategy", "ddp_spawn", code=2)
    assert "forks or spawns" in result.stderr
    assert not (tmp_path / "o").exists()


def test_two_processes_equal_one_byte_for_byte(cli, voicebank_sample, tiny_ckpt, tmp_path,
                                               one_torch_thread):
    """A 2-process gloo run over a CSV list, with one bad file among real recordings:
    the same bytes as a single process (and as the folder run), the bad file in
    failures.csv, exit 1."""
    src = _corpus(tmp_path / "in", voicebank_sample, 7)
    (src / "broken.wav").write_bytes(b"RIFF, but not audio")
    cli("enhance", src, "--out", tmp_path / "pool", "--ckpt", tiny_ckpt, code=1)
    result = cli("enhance", src, "--out", tmp_path / "one", "--ckpt", tiny_ckpt, *ONE, code=1)
    one = _outputs(tmp_path / "one")
    assert len(one) == 7 and one == _outputs(tmp_path / "pool")
    assert [p for p, _ in read_failures(tmp_path / "one")] == [str(src / "broken.wav")]
    assert "enhanced 7 file(s)" in result.stdout

    listing = tmp_path / "corpus.csv"
    listing.write_text("path,output\n" + "".join(f"{src / n},{n}\n" for n in [*one,
                                                                              "broken.wav"]))
    run = _segan(listing, "--out", tmp_path / "two", "--ckpt", tiny_ckpt, *TWO, cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    assert _outputs(tmp_path / "two") == one
    assert [p for p, _ in read_failures(tmp_path / "two")] == [str(src / "broken.wav")]
    assert "on 2 processes" in run.stdout and run.stdout.count("enhanced 7 file(s)") == 1
    assert "Traceback" not in run.stderr and "[rank" not in run.stderr
    assert not [p for p in (tmp_path / "two").rglob(".*")]  # no temporaries left


def test_killed_midway_then_rerun_gives_the_same_bytes(cli, voicebank_sample, tiny_ckpt,
                                                       tmp_path, one_torch_thread):
    """SIGTERM to a 2-process run once files are being published: every rank ends
    (exit 143), only complete files stand, and the rerun completes them identically."""
    # enough work that the signal lands mid-run even when files go fast (a loaded CI
    # machine once finished all 16 before it arrived)
    src = _corpus(tmp_path / "in", voicebank_sample, 24, seconds=3.0)
    slow = ["--batch-size", "1"]  # more model calls per file: a wider window to stop in
    cli("enhance", src, "--out", tmp_path / "one", "--ckpt", tiny_ckpt, *slow, *ONE)
    want = _outputs(tmp_path / "one")
    out = tmp_path / "two"
    proc = subprocess.Popen([*SEGAN, "enhance", str(src), "--out", str(out), "--ckpt",
                             str(tiny_ckpt), *slow, *TWO], cwd=tmp_path, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (out.is_dir() and _outputs(out)):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    assert "terminated" in stderr and "Traceback" not in stderr
    partial = _outputs(out)
    assert 0 < len(partial) < len(want), "the run ended before it could be stopped"
    assert all(partial[name] == want[name] for name in partial)  # complete or absent
    time.sleep(0.1)
    rerun = _segan(src, "--out", out, "--ckpt", tiny_ckpt, *slow, *TWO, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert f"skipping {len(partial)} file(s)" in rerun.stdout
    assert _outputs(out) == want
    assert not [p for p in out.rglob(".*")] and not (out / FAILURES).exists()


def test_items_longest_first_and_one_per_rank(voicebank_sample, tmp_path):
    """Rank 0's order: longest first (ties in plan order), unreadable files last; fewer
    files than ranks are made up with empty items, never with repeated files."""
    from segan_cli.core.enhancement.batch_enhance import Job
    from segan_cli.core.enhancement.corpus.data import by_length, padded

    src = _corpus(tmp_path / "in", voicebank_sample, 3)
    files = sorted(p for p in src.rglob("*.wav"))
    (src / "bad.wav").write_bytes(b"not audio")
    jobs = [Job(f, tmp_path / "o" / f.name) for f in [src / "bad.wav", *files]]
    items = by_length(jobs)
    seconds = [sf.info(str(it.job.src)).duration for it in items[:3]]
    assert seconds == sorted(seconds, reverse=True) and items[-1].job.src.name == "bad.wav"
    assert sorted(it.id for it in items) == [0, 1, 2, 3]
    six = padded(items, 6)
    assert len(six) == 6 and [it.job for it in six[4:]] == [None, None]
    assert len({it.id for it in six}) == 6 and padded(items, 2) == items
