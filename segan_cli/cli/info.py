"""``segan info``: what a checkpoint (or a run folder's best one) holds."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from segan_cli.cli.common import console, user_errors
from segan_cli.weights import display_path, is_default, resolve_checkpoint


@user_errors
def info(
    path: Annotated[str, typer.Argument(
        help="A checkpoint, a run folder of `segan train`, or 'default' (the packaged model).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Architecture, sizes, audio settings, training state and scores of a checkpoint."""
    from segan_cli.core.checkpoint_info import checkpoint_info

    ckpt = resolve_checkpoint(path)
    if ckpt.is_dir():
        best, last = ckpt / "best.ckpt", ckpt / "checkpoints" / "last.ckpt"
        ckpt = best if best.is_file() else last
    data = checkpoint_info(ckpt)
    if as_json:
        typer.echo(json.dumps(data, indent=1))
        return
    title = str(ckpt)
    if "package" in data:
        which = "the default model" if is_default(path) else "packaged model"
        title = f"{which}: {display_path(ckpt)}"
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    for key, value in data.items():
        if key in ("path", "kind"):
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                              for k, v in value.items()) or "-"
        elif isinstance(value, int) and key.endswith("parameters"):
            value = f"{value:,}"
        table.add_row(key.replace("_", " "), str(value))
    console.print(table)
