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
        SAID.append(res.stderr)
    return out


SAID: list[str] = []  # what the runs of the fixture printed (their progress lines)


def test_curves_are_drawn_from_every_session(cli, run: Path, tmp_path: Path) -> None:
    files = log_files(run)
    assert len(files) == 2  # the first session and the resumed one
    log = read_run_log(run)
    rows = [r for f in files for r in csv.DictReader(open(f))]
    for key in ("g_l1", "val_pesq", "val_l1"):
        # the CSV counts a step before it is done; the curves count steps done
        logged = {int(r["step"]) + 1: float(r[key]) for r in rows if r.get(key)}
        assert dict(log.series[key]) == logged and logged, key
    assert log.last_step == max(int(r["step"]) for r in rows) + 1
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


def test_plot_log_and_info_count_one_step_alike(cli, run: Path) -> None:
    """One validation was "step 18" in the log lines and `segan info`, "step 17" in the
    plot. The progress lines also show the inputs' own PESQ beside val_pesq."""
    import json
    import re

    log = read_run_log(run)
    said = "\n".join(SAID)
    lines = re.findall(r"validation at step (\d+): .*val_pesq ([0-9.]+) \(Noisy ([0-9.]+)\)",
                       said)
    assert lines, said
    assert [int(step) for step, _, _ in lines] == [s for s, _ in log.series["val_pesq"]]
    for (_, pesq, _), (_, v) in zip(lines, log.series["val_pesq"], strict=True):
        assert float(pesq) == pytest.approx(v, abs=1e-3)
    noisy = {float(n) for *_, n in lines}  # one subset of utterances: one Noisy score
    assert len(noisy) == 1 and 1.0 <= noisy.pop() <= 4.7
    for _, v in log.series["val_pesq_noisy"]:
        assert v == pytest.approx(float(lines[0][2]), abs=1e-3)
    best = log.best()
    info = json.loads(cli("info", run / "best.ckpt", "--json").stdout)
    assert best is not None and info["gan_steps"] == best[0]


def test_last_epoch_bar_ends_where_the_run_ends() -> None:
    """The bar asks its total at an epoch's start, when Lightning's batch counter still
    holds the previous epoch's 18: the last epoch's bar stopped at 12/18."""
    from types import SimpleNamespace

    from segan_cli.cli.train_progress import RunProgressBar

    stale = SimpleNamespace(current=SimpleNamespace(completed=18))
    trainer = SimpleNamespace(
        num_training_batches=18, max_steps=2 * 48, max_epochs=10, current_epoch=2,
        global_step=2 * 36, fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(
            batch_progress=stale)))
    bar = RunProgressBar()
    bar._trainer = trainer
    assert bar.total_train_batches == 12  # steps 37..48 of the run
    trainer.global_step = 2 * 40  # resumed mid-epoch at step 40: 4 done, 8 to go
    assert bar.total_train_batches == 12
    trainer.max_steps = 2 * 500  # epochs end the run first: a whole epoch
    assert bar.total_train_batches == 18
