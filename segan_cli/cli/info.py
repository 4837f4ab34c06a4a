"""``segan info``: what a checkpoint (or a run folder's best one) holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from segan_cli.cli.common import console, err_console, shown, titled_table, user_errors
from segan_cli.core.io.output_guard import check_output
from segan_cli.errors import SeganError
from segan_cli.weights import display_path, is_default, resolve_checkpoint


@user_errors
def info(
    path: Annotated[str, typer.Argument(
        help="A checkpoint, a run folder of `segan train`, or 'default' (the packaged model).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    plot: Annotated[Path | None, typer.Option(
        "--plot", metavar="FILE.png", show_default=False,
        help="Draw a run folder's training curves (losses, validation L1/PESQ/STOI against "
             "steps, best checkpoint marked) into this PNG; works while the run goes on.")
    ] = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace an existing --plot file.")] = False,
) -> None:
    """Show what a checkpoint holds: model, audio settings, training state, scores.

    A run folder shows its `best.ckpt` (copied there when training ends), else its
    `checkpoints/last.ckpt`, and `--plot` draws its training curves. `--json` prints the
    same for scripts.

    **Examples**

    ```
    segan info default
    segan info runs/adv --json
    segan info runs/adv --plot runs/adv/curves.png
    ```
    """
    from segan_cli.core.enhancement.inference import checkpoint_info

    ckpt = resolve_checkpoint(path)
    if plot is not None:
        if not ckpt.is_dir():
            raise SeganError(f"--plot draws the training log of a run folder; {path} is a "
                             "checkpoint file", "give the run folder (segan train --out)")
        check_output(plot, overwrite, _run_inputs(ckpt))  # before the work
        _plot_curves(ckpt, plot, overwrite)
        if not any(ckpt.glob("*.ckpt")) and not any(ckpt.glob("checkpoints/*.ckpt")):
            return  # a run that has logged but not yet saved: the curves are all there is
    if ckpt.is_dir():
        best, last = ckpt / "best.ckpt", ckpt / "checkpoints" / "last.ckpt"
        ckpt = best if best.is_file() else last
    data = checkpoint_info(ckpt)
    if "package" in data:  # a packaged model's step counts its last training stage only
        _steps_in_all(data, ckpt)
    if as_json:
        typer.echo(json.dumps(data, indent=1))
        return
    title = str(ckpt)
    if "package" in data:
        which = "the default model" if is_default(path) else "packaged model"
        title = f"{which}: {display_path(ckpt)}"
    table = titled_table(title, show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    for key, value in data.items():
        if key in ("path", "kind", "gan_steps_in_all", "gan_steps_in_all_from"):
            continue
        if key == "gan_steps" and "gan_steps_in_all" in data:
            value = (f"{value} in its last training stage, {data['gan_steps_in_all']} in all "
                     f"({data['gan_steps_in_all_from']})")
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                              for k, v in value.items()) or "-"
        elif isinstance(value, int) and key.endswith("parameters"):
            value = f"{value:,}"
        table.add_row(key.replace("_", " "), shown(value))
    console.print(table)


def _steps_in_all(data: dict, ckpt: Path) -> None:
    """Add every stage's GAN steps beside ``gan_steps`` (the last stage's): the default
    model's card counts stage 1 + stage 2, and two different numbers read as an error."""
    from segan_cli.core.enhancement.package_record import steps_in_all
    from segan_cli.weights import model_card, packaged_default

    shipped = packaged_default()
    card = model_card() if shipped.is_file() and ckpt.resolve() == shipped.resolve() else None
    found = steps_in_all(data["package"], card)
    if found is not None:
        data["gan_steps_in_all"], data["gan_steps_in_all_from"] = found


def _run_inputs(run_dir: Path) -> list[Path]:
    """What a run folder holds besides pictures (checkpoints, logs, settings): inputs,
    which --plot never replaces; an earlier curves PNG there may be."""
    return [p for p in run_dir.iterdir()
            if not (p.is_file() and p.suffix.lower() in (".png", ".svg", ".pdf", ".jpg"))]


def _plot_curves(run_dir: Path, out: Path, overwrite: bool) -> None:
    from segan_cli.core.report.curves import plot_curves, read_run_log

    log = read_run_log(run_dir)
    plot_curves(log, out, f"training curves of {run_dir}", overwrite)
    best = log.best()
    where = (f"; best validation PESQ {best[1]:.3f} at step {best[0]}" if best
             else "; no validation yet")
    err_console.print(f"training curves written to [bold]{shown(out)}[/] (steps up to "
                      f"{log.last_step}{where})", highlight=False, soft_wrap=True)
