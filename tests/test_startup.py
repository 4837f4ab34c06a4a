"""`segan --help` and argument errors start without torch, scipy or lightning (issue 19,
item 6): importing core/io/audio.py pulled in scipy.signal and help took 3.8 s. Checked with
`python -X importtime`, which lists every module a run imports."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

HEAVY = ("torch", "scipy", "lightning", "matplotlib", "librosa", "pesq", "pystoi")


def _imported(*args: str) -> tuple[set[str], subprocess.CompletedProcess]:
    """The top-level packages `python -X importtime -m segan_cli ARGS` imported."""
    env = {**os.environ, "COLUMNS": "120"}
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "segan_cli", *args],
                         capture_output=True, text=True, timeout=300, env=env)
    names = set()
    for line in run.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            module = line.rsplit("|", 1)[1].strip()
            names.add(module.split(".")[0])
    assert "segan_cli" in names, run.stderr[-2000:]
    return names, run


@pytest.mark.parametrize("args,code", [
    (("--help",), 0),
    (("enhance", "--help"), 0),
    (("train", "--help"), 0),
    (("enhance", "in.wav", "--method", "nope"), 2),
    (("train", "--data", "x", "--arch", "nope"), 2),
    (("evaluate", "--workers", "many"), 2),
    (("nosuchcommand",), 2),
])
def test_help_and_argument_errors_import_nothing_heavy(args: tuple[str, ...], code: int
                                                       ) -> None:
    names, run = _imported(*args)
    assert run.returncode == code, run.stdout + run.stderr[-2000:]
    assert not names & set(HEAVY), sorted(names & set(HEAVY))
