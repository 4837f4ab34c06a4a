"""The command surface: help, version, the error contract, --debug."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from segan_cli import __version__


def test_help_lists_commands(cli) -> None:
    out = cli("--help").stdout
    for name in ("prepare", "train", "evaluate", "enhance", "stats"):
        assert name in out


def test_version(cli) -> None:
    assert __version__ in cli("--version").stdout


def test_missing_corpus_is_one_red_line(cli, tmp_path: Path) -> None:
    res = cli("stats", tmp_path / "nope", code=2)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "corpus folder not found" in lines[0]
    assert "Traceback" not in res.output


def test_debug_shows_traceback(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "segan_cli", "--debug", "stats",
                           str(tmp_path / "nope")], capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "segan_cli", "stats", str(tmp_path / "nope")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "corpus folder not found" in proc.stderr


def test_bad_settings_through_cli(cli, tmp_path: Path, voicebank_sample: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  sample_rat: 8000\n")
    res = cli("prepare", "pairs", "--clean", voicebank_sample / "clean", "--noisy",
              voicebank_sample / "noisy", "--out", tmp_path / "c", "--config", bad, code=2)
    assert "data.sample_rat" in res.stderr and str(bad) in res.stderr
    res = cli("prepare", "pairs", "--clean", voicebank_sample / "clean", "--noisy",
              voicebank_sample / "noisy", "--out", tmp_path / "c", "--set", "data.window=-3",
              code=2)
    assert "data.window" in res.stderr
    assert not (tmp_path / "c").exists()
