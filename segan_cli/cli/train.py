"""``segan train``: fit a SEGAN or Advanced SEGAN with PyTorch Lightning."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from segan_cli.cli.common import (
    ConfigOpt,
    SetOpt,
    console,
    err_console,
    from_settings,
    settings_from,
    shown,
    titled_table,
    user_errors,
)
from segan_cli.cli.stop_report import report_stop
from segan_cli.core.io.output_guard import naming_faults
from segan_cli.errors import CheckpointError, SeganError
from segan_cli.weights import resolve_checkpoint


@user_errors
def train(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option("--data", "-d", help="Corpus made by `segan prepare`.")],
    arch: Annotated[Literal["segan", "adv"] | None, typer.Option(
        help="segan (paper) or adv (Advanced SEGAN).",
        show_default=from_settings("model.arch"))] = None,
    config: ConfigOpt = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Run folder (default runs/ARCH).")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many steps.")] = None,
    max_epochs: Annotated[int | None, typer.Option(
        help="Stop after this many epochs.", show_default=from_settings("train.max_epochs"))
    ] = None,
    batch_size: Annotated[int | None, typer.Option(
        help="Windows per device and step.", show_default=from_settings("train.batch_size"))
    ] = None,
    accelerator: Annotated[str | None, typer.Option(
        help="cpu, gpu, mps or auto (Lightning's).",
        show_default=from_settings("train.accelerator"))] = None,
    devices: Annotated[str | None, typer.Option(
        help="Device count or list, e.g. 4 or 0,1.", show_default=from_settings("train.devices"))
    ] = None,
    num_nodes: Annotated[int | None, typer.Option(
        help="Machines in a multi-node run.", show_default=from_settings("train.num_nodes"))
    ] = None,
    strategy: Annotated[str | None, typer.Option(
        help="auto, ddp, ... (Lightning's).", show_default=from_settings("train.strategy"))
    ] = None,
    precision: Annotated[str | None, typer.Option(
        help="32-true, 16-mixed or bf16-mixed (Lightning's; or 32, 16, bf16).",
        show_default=from_settings("train.precision"))] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue from OUT/checkpoints/last.ckpt.")] = False,
    init_from: Annotated[str | None, typer.Option(
        "--init-from", help="Start a new run from this checkpoint's weights "
        "('default' for the packaged model), e.g. to fine-tune it.", show_default=False)
    ] = None,
    sets: SetOpt = None,
) -> None:
    """Train on a prepared corpus; writes checkpoints, CSV and TensorBoard logs.

    The run folder holds `settings.yaml`, `checkpoints/last.ckpt` (every validation and
    at the end), `best.ckpt` (highest validation PESQ) and the logs. Ctrl-C or SIGTERM
    stops at a step boundary with a resumable `last.ckpt`. Scaling is Lightning's:
    `--accelerator gpu --devices 4 --strategy ddp`, `--num-nodes` for clusters.

    **Examples**

    ```
    segan train --data data/demo --config tiny --max-epochs 2 --out runs/try
    segan train --data data/voicebank --arch adv --devices 4 --strategy ddp --out runs/adv
    segan train --data data/voicebank --arch adv --out runs/adv --resume
    segan train --data data/mine --init-from default --max-steps 2000 --out runs/mine
    ```
    """
    import logging
    import warnings

    from segan_cli.cli.train_progress import LineProgress, RunProgressBar

    # Lightning's start-up banners and tips are noise here; real warnings still show,
    # as one yellow line each instead of a library path and line number
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated")
    warnings.showwarning = _warning_line

    from segan_cli.core.runtime.signals import StopRequest
    from segan_cli.core.training.run import fit

    dev: int | str | None = devices
    if devices is not None and devices.isdigit():
        dev = int(devices)
    extra: dict[str, dict[str, Any]] = {"train": {
        "max_steps": max_steps, "max_epochs": max_epochs, "batch_size": batch_size,
        "accelerator": accelerator, "devices": dev, "num_nodes": num_nodes,
        "strategy": strategy, "precision": precision}}
    source: Path | None = None
    if init_from is not None:
        if resume:
            raise SeganError("--init-from starts a new run and cannot be combined with "
                             "--resume", "drop --init-from to continue the run")
        source = resolve_checkpoint(init_from)
        if config is None:  # the new run builds the source's model
            arch, extra = _source_settings(source, arch, extra)
    settings = settings_from(config, sets, arch=arch, extra=extra)
    run_dir = out or Path("runs") / settings.model.arch
    start = f" from {init_from}" if init_from is not None else ""
    console.print(f"training [bold]{settings.model.arch}[/]{shown(start)} on {shown(data)} -> "
                  f"{shown(run_dir)}", highlight=False, soft_wrap=True)
    live = console.is_terminal  # a live bar for a terminal, plain lines for a log file
    progress = RunProgressBar() if live else LineProgress(
        lambda line: err_console.print(line, highlight=False, soft_wrap=True))
    stop = StopRequest()  # SIGINT/SIGTERM end training at a step boundary, resumably
    with naming_faults(run_dir):  # Lightning's and the loggers' writes name no file
        result = fit(data, settings, run_dir, resume=resume, callbacks=[progress],
                     enable_progress_bar=live,
                     init_from=source, stop=stop)
    if stop.signum is not None:  # SIGINT/SIGTERM: stopped at a step boundary
        raise report_stop(ctx, stop.signum, result.steps, run_dir,
                          result.last is not None, result.global_zero)
    table = titled_table("training finished", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("best checkpoint", shown(result.best or "none (no validation ran)"))
    table.add_row("last checkpoint", shown(result.last or "-"))
    for key, value in result.best_scores.items():
        table.add_row(key, f"{value:.4f}")
    table.add_row("steps", str(result.steps))
    table.add_row("steps/s (training only)", f"{result.steps_per_second:.2f}")
    table.add_row("wall time", f"{result.wall:.1f} s")
    console.print(table)


def _warning_line(message: Warning | str, category: type[Warning], filename: str,
                  lineno: int, file: object = None, line: str | None = None) -> None:
    """A warning during training (e.g. Lightning choosing bf16 for 16-mixed on a CPU)
    as one line: ``warning: ...``."""
    err_console.print(f"[yellow]warning:[/] {shown(message)}", highlight=False,
                      soft_wrap=True)


def _source_settings(source: Path, arch: str | None, extra: dict[str, dict[str, Any]]
                     ) -> tuple[str, dict[str, dict[str, Any]]]:
    """The arch and model/window settings of an --init-from source, under the flags."""
    from segan_cli.core.enhancement.inference import checkpoint_settings, read_checkpoint
    from segan_cli.core.training.warm_start import source_defaults

    old = checkpoint_settings(read_checkpoint(source), source)
    if arch is not None and arch != old.model.arch:
        raise CheckpointError(f"--init-from {source} holds an '{old.model.arch}' model, but "
                              f"--arch asks for '{arch}'", f"train with --arch {old.model.arch}")
    return old.model.arch, {**source_defaults(old), **extra}
