"""Training curves of a run folder: its CSV log read back and drawn against steps.

``segan train`` logs through Lightning's CSVLogger into ``RUN/logs/version_N/metrics.csv``,
one version per (resumed) session. This module joins the versions (a later session wins
a step both logged), tolerates a file that is still being written (a run in progress:
a half-written last line is left out), and draws the generator's L1, adversarial and
STFT losses, the discriminator's loss and mean scores of real and enhanced windows, and
the validation L1/PESQ/STOI against the
step, with the step of the best validation PESQ marked: the one ``best.ckpt`` holds.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from segan_cli.core.io.figures import publish_png, pyplot
from segan_cli.errors import SeganError

LOG_DIR = "logs"
METRICS_FILE = "metrics.csv"
#: training losses (upper panel) and validation scores (one panel each), in order
TRAIN_KEYS = ("g_l1", "g_adv", "g_stft", "d_loss", "d_real", "d_fake")
VALID_KEYS = ("val_l1", "val_pesq", "val_stoi")
#: the validation utterances' own PESQ, unprocessed: drawn beside val_pesq
NOISY_KEY = "val_pesq_noisy"
LABELS = {"g_l1": "generator L1", "g_adv": "generator adversarial", "g_stft": "generator STFT",
          "d_loss": "discriminator", "d_real": "D score, clean",
          "d_fake": "D score, enhanced", "val_l1": "validation L1", "val_pesq": "validation PESQ",
          "val_stoi": "validation STOI"}


@dataclass
class RunLog:
    """Per metric, its (step, value) points in step order; where they were read from."""

    series: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    @property
    def last_step(self) -> int | None:
        steps = [s for points in self.series.values() for s, _ in points]
        return max(steps) if steps else None

    def best(self, key: str = "val_pesq") -> tuple[int, float] | None:
        """The (step, value) of the highest ``key`` (the first of equals), if logged."""
        points = self.series.get(key) or []
        return max(points, key=lambda p: (p[1], -p[0])) if points else None


def _version(path: Path) -> int:
    match = re.fullmatch(r"version_(\d+)", path.parent.name)
    return int(match.group(1)) if match else -1


def log_files(run_dir: Path) -> list[Path]:
    """The run's metrics.csv files, oldest session first."""
    return sorted(Path(run_dir).glob(f"{LOG_DIR}/version_*/{METRICS_FILE}"), key=_version)


def read_run_log(run_dir: Path) -> RunLog:
    """Every logged metric of ``run_dir`` (a SeganError when it has no CSV log)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SeganError(f"run folder not found: {run_dir}",
                         "give the --out folder of `segan train`")
    files = log_files(run_dir)
    if not files:
        raise SeganError(f"{run_dir} has no training log ({LOG_DIR}/version_*/{METRICS_FILE})",
                         "curves need a run of `segan train` that logged at least once "
                         "(train.log_every_n_steps)")
    merged: dict[str, dict[int, float]] = {}
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise SeganError(f"cannot read {path}: {exc.strerror or exc}") from None
        complete = text if text.endswith("\n") else text[:text.rfind("\n") + 1]
        for row in csv.DictReader(complete.splitlines()):
            step = _number(row.get("step"))
            if step is None:
                continue
            # Lightning logs a step's metrics (and the validation after it) before it
            # counts that step: +1 gives the GAN steps done, as the log lines, the
            # checkpoints and `segan info` count them
            step += 1
            for key, value in row.items():
                number = _number(value)
                if key in ("step", "epoch") or number is None:
                    continue
                merged.setdefault(key, {})[int(step)] = number
    return RunLog({k: sorted(v.items()) for k, v in merged.items()}, files)


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def plot_curves(log: RunLog, out: Path, title: str, overwrite: bool = False) -> None:
    """Training losses and validation scores against steps, best PESQ marked, as a PNG
    written through the output guard."""
    from segan_cli.core.report.plots import colour

    train = [k for k in TRAIN_KEYS if log.series.get(k)] + sorted(
        k for k in log.series if k not in TRAIN_KEYS + VALID_KEYS + (NOISY_KEY,))
    valid = [k for k in VALID_KEYS if log.series.get(k)]
    if not train and not valid:
        raise SeganError("the run's log holds no values yet",
                         "wait for the first log line (every train.log_every_n_steps steps)")
    plt = pyplot()
    keys = train + valid  # one panel each: the losses' scales differ by orders
    fig, axes = plt.subplots(len(keys), 1, figsize=(9, 1.7 * len(keys) + 0.9), sharex=True,
                             squeeze=False)
    axes = [a[0] for a in axes]
    best = log.best()
    for i, (ax, key) in enumerate(zip(axes, keys, strict=True)):
        steps, values = zip(*log.series[key], strict=True)
        style = "o-" if key in valid else "-"
        ax.plot(steps, values, style, color=colour(i), ms=3, lw=1.2)
        if key == "val_pesq" and log.series.get(NOISY_KEY):  # the input's own score
            ax.plot(*zip(*log.series[NOISY_KEY], strict=True), "--", color="#888", lw=1,
                    label="Noisy (the input)")
            ax.legend(fontsize=7, loc="lower right")
        ax.set_ylabel(LABELS.get(key, key), fontsize=8)
        ax.grid(alpha=0.3)
        if best is not None:
            ax.axvline(best[0], color="#d62728", ls="--", lw=1)
    if best is not None:
        title += f"\nbest validation PESQ {best[1]:.3f} at step {best[0]} (dashed line)"
    axes[-1].set_xlabel("step")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    publish_png(fig, out, overwrite)
