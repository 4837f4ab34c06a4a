"""Progress into a log file (issue 19, item 6): `prepare demo --size full` printed
nothing for 20 minutes into a log; prepare and evaluate now write plain lines there."""

from __future__ import annotations

import shutil
from pathlib import Path

from segan_cli.cli.log_progress import LogLines


def test_lines_say_start_progress_time_left_and_end() -> None:
    now = [0.0]
    lines: list[str] = []
    sink = LogLines(lines.append, every=60.0, clock=lambda: now[0])
    with sink:
        sink.start("train: resampling to 16000 Hz", 100)
        for _ in range(25):
            now[0] += 3.0  # 25 files in 75 s: one line after the first minute
            sink.advance()
        sink.note("a thing to know")
        sink.start("building window cache", None)
        sink.advance(7)
    assert lines == ["train: resampling to 16000 Hz: started, 100 to do",
                     "train: resampling to 16000 Hz: 20/100 (20%), 4 min 00 s left",
                     "note: a thing to know",
                     "train: resampling to 16000 Hz: done, 25/100 in 1 min 15 s",
                     "building window cache: started",
                     "building window cache: done, 7 in 0 s"]


def test_prepare_into_a_log_file_writes_lines(cli, voicebank_sample: Path, tmp_path: Path
                                              ) -> None:
    for kind in ("clean", "noisy"):
        (tmp_path / kind).mkdir()
        for name in ("p232_005.wav", "p232_006.wav", "p257_008.wav", "p257_019.wav"):
            shutil.copy(voicebank_sample / kind / name, tmp_path / kind / name)
    res = cli("prepare", "pairs", "--clean", tmp_path / "clean", "--noisy", tmp_path / "noisy",
              "--test-speakers", "p257", "--out", tmp_path / "corpus")
    said = res.stderr.splitlines()
    assert any(line.endswith(": started, 2 to do") for line in said), res.stderr
    assert any(": done, 2/2 in " in line for line in said), res.stderr
    assert "━" not in res.stderr  # no bar drawn into the file
