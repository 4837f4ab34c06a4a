"""The CLI teaches itself: examples in every --help, workflow order, defaults shown,
flags as flags, validated --device/--precision, completion, clean training output,
unwrapped output off a terminal."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from segan_cli.cli.app import app
from segan_cli.cli.help_format import WORKFLOW
from segan_cli.errors import SettingsError
from segan_cli.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "tiny.yaml"
FAST = ["--config", TINY, "--set", "train.num_workers=0", "--set", "train.pin_memory=false",
        "--accelerator", "cpu", "--devices", "1"]


def _commands() -> dict[str, object]:
    """Every leaf command by its path ("enhance", "prepare demo", ...)."""
    root = typer.main.get_command(app)
    out: dict[str, object] = {}
    for name, cmd in root.commands.items():
        subs = getattr(cmd, "commands", None)
        if subs:
            out.update({f"{name} {sub}": c for sub, c in subs.items()})
        else:
            out[name] = cmd
    return out


def _examples(cmd: object) -> list[list[str]]:
    """The `segan ...` lines of a docstring's example block, as argument lists."""
    lines = []
    for line in (getattr(cmd, "help", "") or "").splitlines():
        text = line.strip()
        if "segan " not in text or text.startswith(("The ", "Start")):
            continue
        text = text[text.index("segan "):].split(" > ")[0]
        if text.startswith("segan ") and not text.endswith("."):
            lines.append(shlex.split(text)[1:])
    return lines


def test_commands_listed_in_workflow_order(cli) -> None:
    out = cli("--help").stdout
    out = out[out.index("Commands"):]
    positions = [out.index(f"│ {name} ") for name in WORKFLOW]
    assert positions == sorted(positions), out


@pytest.mark.parametrize("path", sorted(_commands()))
def test_every_command_has_real_examples(cli, path: str) -> None:
    cmd = _commands()[path]
    examples = _examples(cmd)
    assert examples, f"segan {path} --help shows no example"
    words = path.split()
    for args in examples:
        assert args[:len(words)] == words, (path, args)
        # every option in the example exists and its value parses (nothing runs)
        cmd.make_context(path, list(args[len(words):]))  # type: ignore[attr-defined]
    text = cli(*words, "--help").stdout
    assert "Examples" in text and f"segan {path}" in text
    assert "<bool>" not in text  # flags show as flags


def test_root_help_workflow_is_real() -> None:
    """The commands `segan --help` suggests parse, and its workflow is one path: the run
    folder that train writes is the one evaluate reads."""
    root = typer.main.get_command(app)
    snippets = re.findall(r"`(segan [^`]+)`", root.help or "")
    assert len(snippets) >= 4
    commands = _commands()
    for snippet in snippets:
        args = shlex.split(snippet)[1:]
        path = next(p for p in sorted(commands, key=len, reverse=True)
                    if args[:len(p.split())] == p.split())
        commands[path].make_context(path, args[len(path.split()):])  # type: ignore[attr-defined]
    train = next(s for s in snippets if s.startswith("segan train"))
    run = shlex.split(train)[shlex.split(train).index("--out") + 1]
    assert any(f"--ckpt {run}/best.ckpt" in s for s in snippets)


def test_settings_defaults_are_shown(cli) -> None:
    text = " ".join(cli("enhance", "--help").stdout.split())
    for key, value in (("enhance.device", "auto"), ("enhance.batch_size", "8"),
                       ("enhance.chunking", "ola")):
        assert f"{value}, settings key {key}" in text.replace("│ ", "").replace(" │", "")
    text = cli("evaluate", "--help").stdout.replace("│", "")
    text = " ".join(text.split())
    assert "settings key evaluate.mode" in text and "all usable cores" in text
    text = " ".join(cli("train", "--help").stdout.replace("│", "").split())
    assert "32-true, settings key train.precision" in text


def test_completion_is_available() -> None:
    proc = subprocess.run([sys.executable, "-m", "segan_cli", "--show-completion", "bash"],
                          capture_output=True, text=True, env={**os.environ, "SHELL": "/bin/bash"})
    assert proc.returncode == 0, proc.stderr
    assert "complete" in proc.stdout and "segan" in proc.stdout.lower()


def test_device_names_are_validated(cli, tiny_ckpt: Path, voicebank_sample: Path,
                                    tmp_path: Path) -> None:
    src = voicebank_sample / "noisy" / "p232_003.wav"
    res = cli("enhance", src, tmp_path / "a.wav", "--ckpt", tiny_ckpt, "--device", "gpu",
              code=2)
    assert "'gpu' is not a device" in res.stderr and "Traceback" not in res.output
    assert not (tmp_path / "a.wav").exists()
    import torch

    if torch.cuda.device_count() < 8:
        res = cli("enhance", src, tmp_path / "b.wav", "--ckpt", tiny_ckpt, "--device",
                  "cuda:7", code=2)
        assert "cuda:7" in res.stderr and "use --device cpu" in res.stderr
    cli("enhance", src, tmp_path / "c.wav", "--ckpt", tiny_ckpt, "--device", "CPU")
    assert (tmp_path / "c.wav").is_file()


def test_precision_takes_what_lightning_takes(tmp_path: Path) -> None:
    for value, full in (("16", "16-mixed"), ("bf16", "bf16-mixed"), ("16-mixed", "16-mixed"),
                        ("bf16-mixed", "bf16-mixed"), ("32", "32-true"),
                        ("32-true", "32-true")):
        assert load_settings(None, [f"train.precision={value}"]).train.precision == full
    yaml = tmp_path / "p.yaml"
    yaml.write_text("train:\n  precision: 16\n")
    assert load_settings(yaml, []).train.precision == "16-mixed"
    # "true" half/bf16/64-bit weights: the model computes in float32, so they are refused
    for value in ("17", "64-true", "bf16-true", "16-true", "transformer-engine"):
        with pytest.raises(SettingsError, match="train.precision"):
            load_settings(None, [f"train.precision={value}"])


def test_bad_precision_and_missing_gpu_are_one_line(cli, short_train_corpus: Path,
                                                    tmp_path: Path) -> None:
    res = cli("train", "--data", short_train_corpus, "--out", tmp_path / "r", *FAST,
              "--precision", "half", code=2)
    assert "train.precision" in res.stderr and "Traceback" not in res.output
    import torch

    if not torch.cuda.is_available():
        res = cli("train", "--data", short_train_corpus, "--out", tmp_path / "g", "--config",
                  TINY, "--accelerator", "gpu", "--max-steps", "1", code=2)
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and "Lightning cannot train" in lines[0], res.stderr
        assert not (tmp_path / "g").exists()  # refused before settings.yaml is written


def test_training_output_is_clean(short_train_corpus: Path, tmp_path: Path) -> None:
    """No Lightning warnings (monitored key, weights_only, ...) in a short run and its
    resume. On a terminal (forced here) the bar's total is the steps asked for, not the
    epoch's batches; in a log file (nohup, CI) progress comes as plain lines."""
    run = tmp_path / "run"
    base = [sys.executable, "-W", "default", "-m", "segan_cli", "train", "--data",
            str(short_train_corpus), "--out", str(run), *map(str, FAST),
            "--set", "train.batch_size=1"]
    env = {**os.environ, "COLUMNS": "200", "TTY_COMPATIBLE": "1"}
    first = subprocess.run([*base, "--max-steps", "2"], capture_output=True, text=True,
                           env=env)
    assert first.returncode == 0, first.stderr
    logged = {k: v for k, v in env.items() if k != "TTY_COMPATIBLE"}
    again = subprocess.run([*base, "--max-steps", "3", "--resume"], capture_output=True,
                           text=True, env=logged)
    assert again.returncode == 0, again.stderr
    for proc in (first, again):
        text = proc.stdout + proc.stderr
        # warnings.warn lines name their source ("x.py:881: ..."); Lightning's omit the category
        assert not re.search(r"[A-Za-z]*Warning\b|\.py:\d+: |monitored key|weights_only",
                             text), text
    assert "the run ends at step 2" in first.stdout + first.stderr
    assert re.search(r"\b2/2\b", first.stdout + first.stderr), first.stdout
    assert "best checkpoint" in first.stdout
    # the log-file run: plain lines, no bar (a bar in a file shows only at the end)
    assert "training from step 2 to step 3" in again.stderr, again.stderr
    assert "training ended at step 3 after" in again.stderr
    assert "━" not in again.stdout + again.stderr


def test_log_file_progress_lines() -> None:
    """The periodic line: step of total, share, speed, time left and the losses."""
    from types import SimpleNamespace

    from segan_cli.cli.train_progress import LineProgress

    lines: list[str] = []
    trainer = SimpleNamespace(global_step=0, max_steps=2000, max_epochs=-1,
                              num_training_batches=250, current_epoch=0, is_global_zero=True,
                              sanity_checking=False, callback_metrics={"g_l1": 0.0213})
    progress = LineProgress(lines.append, every=0.0)
    progress.on_train_start(trainer, None)
    trainer.global_step = 2 * 500
    progress.on_train_batch_end(trainer, None, None, None, 0)
    assert lines[0] == "training from step 0 to step 1000 (250 batches per epoch)"
    assert lines[1].startswith("step 500/1000 (50%), epoch 0, ") and "left" in lines[1]
    assert lines[1].endswith("g_l1 0.0213")
    trainer.callback_metrics = {"val_l1": 0.02, "val_pesq": 1.25, "val_stoi": 0.81}
    progress.on_validation_end(trainer, None)
    assert lines[2] == "validation at step 500: val_l1 0.02  val_pesq 1.25  val_stoi 0.81"
    trainer.max_epochs = 2  # two epochs of 250 batches end the run first
    assert LineProgress._total(trainer) == 500


def test_output_off_a_terminal_is_not_wrapped(tmp_path: Path, tiny_ckpt: Path) -> None:
    deep = tmp_path / ("a-folder-with-a-long-name-" * 3) / "and-another-long-one"
    deep.mkdir(parents=True)
    ckpt = deep / "tiny-checkpoint-with-a-long-name.ckpt"
    ckpt.write_bytes(tiny_ckpt.read_bytes())
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    proc = subprocess.run([sys.executable, "-m", "segan_cli", "info", str(ckpt)],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert len(str(ckpt)) > 100 and str(ckpt) in proc.stdout
