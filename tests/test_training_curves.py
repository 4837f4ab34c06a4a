"""`segan info RUN --plot FILE.png`: a run's training curves from its CSV log."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from segan_cli.core.report.curves import log_files, read_run_log

REPO = Path(__file__).resolve().parents[1]
FAST = ["--config", REPO / "configs" / "tiny.yaml", "--set", "train.num_workers=0",
        "--set", "train.pin_memory=false", "--accelerator", "cpu", "--devices", "1",
        "--set", "train.batch_size=2", "--set", "train.log_every_n_steps=1",
        "--set", "train.val_check_interval=2", "--set", "train.val_utterances=1"]


@pytest.fixture(scope="module")
def run(short_train_corpus: Path, tmp_path_factory) -> Path:
    """A real 4-step run, validated every 2 steps, resumed once for 2 more steps (two
    log versions, as a resumed run has)."""
    from typer.testing import CliRunner

    from segan_cli.cli.app import app

    out = tmp_path_factory.mktemp("curves") / "run"
    runner = CliRunner()
    for extra in (["--max-steps", "4"], ["--max-steps", "6", "--resume"]):
        res = runner.invoke(app, ["train", "--data", str(short_train_corpus), "--out", str(out),
                                  *map(str, FAST), *extra])
        assert res.exit_code == 0, res.output
    return out


def test_curves_are_drawn_from_every_session(cli, run: Path, tmp_path: Path) -> None:
    files = log_files(run)
    assert len(files) == 2  # the first session and the resumed one
    log = read_run_log(run)
    rows = [r for f in files for r in csv.DictReader(open(f))]
    for key in ("g_l1", "val_pesq", "val_l1"):
        logged = {int(r["step"]): float(r[key]) for r in rows if r.get(key)}
        assert dict(log.series[key]) == logged and logged, key
    assert log.last_step == max(int(r["step"]) for r in rows)
    best = log.best()
    assert best is not None and best[1] == max(v for _, v in log.series["val_pesq"])
    out = tmp_path / "curves.png"
    res = cli("info", run, "--plot", out)
    assert f"training curves written to {out}" in res.stderr  # stdout stays the table/JSON
    assert f"best validation PESQ {best[1]:.3f} at step {best[0]}" in res.stderr
    import json

    json.loads(cli("info", run, "--plot", tmp_path / "c2.png", "--json").stdout)
    from PIL import Image

    with Image.open(out) as image:
        assert image.size[0] >= 800 and image.size[1] >= 800
    assert out.stat().st_size > 20_000
    # the plot is guarded like every output
    res = cli("info", run, "--plot", out, code=2)
    assert "exists" in res.stderr and "--overwrite" in res.stderr
    cli("info", run, "--plot", out, "--overwrite")


def test_a_run_in_progress_is_read_as_far_as_it_goes(run: Path, tmp_path: Path) -> None:
    """A log being written ends mid-line: what is complete is drawn."""
    import shutil

    live = tmp_path / "live"
    shutil.copytree(run / "logs", live / "logs")
    last = log_files(live)[-1]
    before = read_run_log(live)
    lines = last.read_text().splitlines()
    row = lines[-1]  # a real row again, for a later step, cut inside its last value
    header = lines[0].split(",")
    cells = row.split(",")
    cells[header.index("step")] = str(int(float(cells[header.index("step")])) + 1000)
    cells[-1] = "0.123456"  # its last metric, whichever it is
    half = ",".join(cells)
    cut = half[:-3]  # ends "0.123": read as a value, it would add a point at step + 1000
    with open(last, "a") as fh:
        fh.write(cut)  # no newline: the writer is mid-row
    assert read_run_log(live).series == before.series
    with open(last, "a") as fh:  # once the row is complete, it counts
        fh.write(half[len(cut):] + "\n")
    assert read_run_log(live).last_step == before.last_step + 1000


def test_bad_plot_requests_are_one_line(cli, run: Path, tmp_path: Path) -> None:
    res = cli("info", run / "checkpoints" / "last.ckpt", "--plot", tmp_path / "a.png", code=2)
    assert "run folder" in res.stderr and not (tmp_path / "a.png").exists()
    empty = tmp_path / "empty-run"
    empty.mkdir()
    res = cli("info", empty, "--plot", tmp_path / "b.png", code=2)
    assert "no training log" in res.stderr and not (tmp_path / "b.png").exists()
    assert "Traceback" not in res.output
