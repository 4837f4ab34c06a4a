"""Fault injection through real processes: signals, killed parents, stale temporaries.

SIGTERM and SIGINT during ``segan train`` (exit code, one line, resumable
``last.ckpt``, the printed command finishes the run exactly where an uninterrupted
run ends), SIGKILL of a folder ``segan enhance`` with workers (no survivors), stale
temporaries removed by the next run (users' look-alikes kept), and the exactness of
a resume from a mid-epoch checkpoint, with and without on-the-fly augmentation.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from segan_cli.core.runtime.cpus import usable_cores

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "tiny.yaml"
# 3 training utterances of 1 s: 5 batches of 8 windows per epoch
FAST = ["--config", TINY, "--batch-size", "8", "--set", "data.window=2048",
        "--set", "data.hop=1024", "--set", "train.val_utterances=1",
        "--set", "train.num_workers=0"]
ENDLESS = ["--max-epochs", "1000"]  # --max-steps decides
SEGAN = [sys.executable, "-m", "segan_cli"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
BATCHES_PER_EPOCH = 5


@pytest.fixture(scope="module")
def corpus(short_train_corpus: Path) -> Path:
    """Real VoiceBank speech cut to 1 s (tests/conftest.py)."""
    return short_train_corpus


def _start(args: list[str | Path], cwd: Path, name: str) -> subprocess.Popen:
    """A real ``segan`` process; its output goes to files (a full pipe would stall it)."""
    out = open(cwd / f"{name}.out", "w")  # noqa: SIM115 - closed with the process
    err = open(cwd / f"{name}.err", "w")  # noqa: SIM115
    return subprocess.Popen([*SEGAN, *map(str, args)], cwd=cwd, env=ENV, stdout=out,
                            stderr=err)


def _run(args: list[str | Path], cwd: Path, name: str, timeout: float = 300) -> str:
    """Run ``segan`` to completion; returns stderr, fails with it on a non-zero exit."""
    proc = _start(args, cwd, name)
    assert proc.wait(timeout) == 0, (cwd / f"{name}.err").read_text()[-3000:]
    return (cwd / f"{name}.err").read_text()


def _wait_for(done: Callable[[], bool], proc: subprocess.Popen, what: str,
              timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not done():
        assert proc.poll() is None, f"the process exited ({proc.returncode}) before {what}"
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def _weights(ckpt: Path) -> dict[str, torch.Tensor]:
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith(("generator.", "discriminator."))}


def _assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _age(path: Path, seconds: float = 86400) -> None:
    """Date a file back, to before any process of this test started."""
    past = time.time() - seconds
    os.utime(path, (past, past))


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)],
                         ids=["SIGTERM", "SIGINT"])
def test_signal_stops_train_at_a_step_with_a_resumable_checkpoint(
        sig: signal.Signals, code: int, cli, corpus: Path, tmp_path: Path,
        one_torch_thread: None) -> None:
    run = tmp_path / "run"
    args = ["train", "--data", corpus, "--out", run, "--max-steps", "12", *FAST, *ENDLESS,
            "--set", "train.val_check_interval=3"]
    last = run / "checkpoints" / "last.ckpt"
    proc = _start(args, tmp_path, "first")
    # the first validation (step 3) writes last.ckpt: training is under way
    _wait_for(last.is_file, proc, "training started")
    proc.send_signal(sig)
    assert proc.wait(120) == code
    err = (tmp_path / "first.err").read_text()
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "stopped" in line]
    assert len(lines) == 1, err
    head, command = lines[0].split("; resume with: ")
    steps = int(head.removeprefix("stopped at step "))
    assert 3 <= steps < 12
    words = shlex.split(command)
    assert words[:2] == ["segan", "train"] and words[-1] == "--resume"
    assert words[words.index("--out") + 1] == str(run)
    state = torch.load(last, map_location="cpu", weights_only=True)
    assert state["global_step"] == 2 * steps  # saved at the step it stopped at

    # a temporary left by a killed writer goes; a user's look-alikes stay
    stale = run / "checkpoints" / f".last.ckpt.segan-{_dead_pid()}-abcd1234.tmp.ckpt"
    stale.write_bytes(b"partial")
    _age(stale)
    users = [run / "checkpoints" / ".last.ckpt.tmp", run / ".notes.txt.segan.tmp"]
    for path in users:
        path.write_text("mine")
        _age(path)

    _run(words[1:], tmp_path, "resumed")
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 24
    assert not stale.exists() and all(p.read_text() == "mine" for p in users)
    if sig == signal.SIGTERM:  # ends exactly where an uninterrupted run ends
        cli(*args[:4], tmp_path / "whole", *args[5:])
        _assert_same_weights(last, tmp_path / "whole" / "checkpoints" / "last.ckpt")


@pytest.mark.parametrize("augment", [False, True], ids=["windows", "augmented"])
@pytest.mark.parametrize("first", [["--max-steps", "3", *ENDLESS], ["--max-epochs", "1"]],
                         ids=["mid-epoch", "epoch-end"])
def test_resume_is_exact(first: list[str], augment: bool, cli, corpus: Path, tmp_path: Path,
                         one_torch_thread: None) -> None:
    """From the middle of an epoch, and from an epoch's end with no validation due there
    (validation every 3 steps, 5 steps per epoch)."""
    extra = [*FAST, "--set", "train.val_check_interval=3"]
    if augment:
        extra += ["--set", "data.augment.enabled=true"]
    full, part = tmp_path / "full", tmp_path / "part"
    cli("train", "--data", corpus, "--out", full, "--max-steps", "8", *ENDLESS, *extra)
    cli("train", "--data", corpus, "--out", part, *first, *extra)
    loops = torch.load(part / "checkpoints" / "last.ckpt", weights_only=True)["loops"]
    done = loops["fit_loop"]["epoch_loop.batch_progress"]["current"]["processed"]
    assert done == (3 if "--max-steps" in first else BATCHES_PER_EPOCH)
    cli("train", "--data", corpus, "--out", part, "--max-steps", "8", *ENDLESS, "--resume",
        *extra)
    a = torch.load(full / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(part / "checkpoints" / "last.ckpt", weights_only=True)
    assert a["global_step"] == b["global_step"] == 16
    _assert_same_weights(full / "checkpoints" / "last.ckpt", part / "checkpoints" / "last.ckpt")


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _running(pid: int) -> bool:
    """Alive and not a zombie (an unreaped corpse is not running)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _long_recordings(src: Path, sample: Path, n: int = 8) -> Path:
    """``n`` recordings of a minute of real speech: a run over them takes a while."""
    src.mkdir()
    speech = np.concatenate([sf.read(f, dtype="float32")[0]
                             for f in sorted((sample / "noisy").glob("*.wav"))])
    for i in range(n):
        sf.write(src / f"f{i}.wav", np.resize(np.roll(speech, 999 * i), 60 * 16000), 16000)
    return src


def test_sigterm_ends_other_commands_cleanly(tmp_path: Path, voicebank_sample: Path) -> None:
    src, out = _long_recordings(tmp_path / "in", voicebank_sample), tmp_path / "out"
    proc = _start(["enhance", src, "--out", out, "--method", "wiener"], tmp_path, "enhance")
    _wait_for(lambda: out.is_dir() and any(out.iterdir()), proc, "the first output")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 143
    err = (tmp_path / "enhance.err").read_text()
    assert "terminated" in err and "Traceback" not in err
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary
    done = {p.name for p in out.iterdir()}
    assert len(done) < 8
    _run(["enhance", src, "--out", out, "--method", "wiener"], tmp_path, "rest")
    assert {p.name for p in out.iterdir()} == {f"f{i}.wav" for i in range(8)}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_killed_folder_run_leaves_no_workers_and_its_temporaries_are_cleaned(
        tmp_path: Path, voicebank_sample: Path) -> None:
    if usable_cores() < 2:
        pytest.skip("--workers 2 needs two usable cores")
    src, out = _long_recordings(tmp_path / "in", voicebank_sample), tmp_path / "out"
    proc = _start(["enhance", src, "--out", out, "--method", "wiener", "--workers", "2"],
                  tmp_path, "killed")
    _wait_for(lambda: len(_children(proc.pid)) >= 2 and out.is_dir() and any(out.iterdir()),
              proc, "the workers writing")
    workers = _children(proc.pid)
    proc.kill()
    proc.wait()
    end = time.monotonic() + 3
    while any(map(_running, workers)) and time.monotonic() < end:
        time.sleep(0.05)
    assert not [pid for pid in workers if _running(pid)], "workers outlived their parent"

    stale = out / f".f7.wav.segan-{_dead_pid()}-x1y2z3w4.tmp.wav"
    stale.write_bytes(b"RIFF")
    _age(stale)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        users = [out / ".f7.wav.tmp.wav", out / ".f6.wav.k2j4h6g8.tmp.wav",
                 out / "f5.wav.segan-1-abcd1234.tmp.wav",
                 out / f".f4.wav.segan-{sleeper.pid}-abcd1234.tmp.wav"]  # a live owner's
        for path in users:
            path.write_text("mine")
            _age(path)
        _run(["enhance", src, "--out", out, "--method", "wiener"], tmp_path, "again")
    finally:
        sleeper.kill()
        sleeper.wait()
    left = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
    assert left == sorted(p.name for p in users if p.name.startswith(".")), left
    assert all(p.read_text() == "mine" for p in users)
    outputs = sorted(p.name for p in out.iterdir() if p not in users and p != stale)
    assert outputs == [f"f{i}.wav" for i in range(8)]


@pytest.mark.parametrize("replicas", [1, 2, 3])
def test_sampler_resumes_each_rank_after_its_own_batches(replicas: int) -> None:
    from segan_cli.core.data.pipeline.datamodule import EpochShuffle

    shards = []
    for rank in range(replicas):
        whole = EpochShuffle(46, seed=7, keyed=True, replicas=replicas, rank=rank)
        whole.set_epoch(4)
        resumed = EpochShuffle(46, seed=7, keyed=True, replicas=replicas, rank=rank)
        resumed.resume_at(4, 3 * 4)  # 3 batches of 4 trained before the checkpoint
        items, rest = list(whole), list(resumed)
        assert len(rest) == len(items) == len(whole)
        assert rest[:len(items) - 12] == items[12:]
        shards += items
    assert set(shards) == set(range(4 * 46, 5 * 46))  # every rank's share of epoch 4


def test_only_our_dead_old_temporaries_are_stale(tmp_path: Path) -> None:
    from segan_cli.core.io.temporaries import is_stale, remove_stale, temp_dir, temp_file

    dead = _dead_pid()
    fresh = temp_file(tmp_path / "a.wav")  # this process's, being written
    assert fresh.name.startswith(f".a.wav.segan-{os.getpid()}-") and fresh.suffix == ".wav"
    building = temp_dir(tmp_path, "cache")
    cases = {
        f".b.wav.segan-{dead}-abcd1234.tmp.wav": True,  # owner gone, old
        f".c.npy.segan-{os.getpid()}-abcd1234.tmp.npy": True,  # older than us: pid reused
        f".d.segan-{dead}-abcd1234.tmp": True,  # a folder
        ".e.wav.segan-1-abcd1234.tmp.wav": False,  # owner alive
        f".f.wav.{dead}-abcd1234.tmp.wav": False,  # not our form
        f"g.wav.segan-{dead}-abcd1234.tmp.wav": False,  # not hidden
        f".h.wav.segan-{dead}-abcd1234.wav": False,  # no .tmp
        ".i.wav.tmp": False,
    }
    for name in cases:
        if name.endswith(".tmp") and name.startswith(".d."):
            (tmp_path / name).mkdir()
            (tmp_path / name / "inside.npy").write_bytes(b"x")
        else:
            (tmp_path / name).write_text("x")
        _age(tmp_path / name)
    assert {n for n in cases if is_stale(tmp_path / n)} == {n for n, s in cases.items() if s}
    assert not is_stale(fresh) and not is_stale(building)  # made while this process runs
    removed = remove_stale(tmp_path)
    assert {p.name for p in removed} == {n for n, s in cases.items() if s}
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {fresh.name, building.name, *(n for n, s in cases.items() if not s)}


def test_resume_command_is_the_command_given_with_out_and_resume(tmp_path: Path) -> None:
    from typer.main import get_command

    from segan_cli.cli.app import app
    from segan_cli.cli.stop_report import resume_command

    train = get_command(app).commands["train"]
    run = tmp_path / "my runs" / "a"

    def command(*args: str) -> list[str]:
        return shlex.split(resume_command(train.make_context("train", list(args)), run))

    assert command("-d", "c", "--arch", "adv", "--set", "x=[1, 2]", "--devices", "2") == [
        "segan", "train", "--data", "c", "--arch", "adv", "--devices", "2",
        "--set", "x=[1, 2]", "--out", str(run), "--resume"]
    assert command("-d", "c", "-o", "elsewhere", "--resume", "-c", "k.yaml") == [
        "segan", "train", "--data", "c", "--config", "k.yaml", "--out", str(run), "--resume"]
    # a fine-tuning run took its model from the source: resume from the run's settings
    assert command("-d", "c", "--init-from", "default", "-c", "k.yaml")[-5:] == [
        "--config", str(run / "settings.yaml"), "--out", str(run), "--resume"]


def test_sigterm_swallowed_by_a_c_callback_still_ends_as_terminated(capsys) -> None:
    """soundfile writes through cffi callbacks: SIGTERM raised inside one is printed and
    swallowed by cffi, and the library then fails with its own RuntimeError. That run
    was terminated, not crashed: exit 143 with the one word, no traceback."""

    import typer

    from segan_cli.cli.common import user_errors
    from segan_cli.core.runtime.signals import Terminated

    @user_errors
    def writes() -> None:
        try:  # what cffi does with an exception raised in a callback
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
        except Terminated:
            pass
        raise RuntimeError("Error writing file: the callback failed")

    @user_errors
    def fails() -> None:
        raise RuntimeError("a real bug")

    with pytest.raises(typer.Exit) as exit_info:
        writes()
    assert exit_info.value.exit_code == 143
    assert "terminated" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match="a real bug"):  # a later run starts afresh
        fails()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
