"""``segan info``: what a checkpoint (or a run folder's best one) holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from segan_cli.cli.common import console, user_errors


@user_errors
def info(
    path: Annotated[Path, typer.Argument(help="A checkpoint, or a run folder of `segan train`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Architecture, sizes, audio settings, training state and scores of a checkpoint."""
    from segan_cli.core.checkpoint_info import checkpoint_info

    if path.is_dir():
        best, last = path / "best.ckpt", path / "checkpoints" / "last.ckpt"
        path = best if best.is_file() else last
    data = checkpoint_info(path)
    if as_json:
        typer.echo(json.dumps(data, indent=1))
        return
    table = Table(title=str(path), title_justify="left", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    for key, value in data.items():
        if key == "path":
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                              for k, v in value.items()) or "-"
        elif isinstance(value, int) and key.endswith("parameters"):
            value = f"{value:,}"
        table.add_row(key.replace("_", " "), str(value))
    console.print(table)
