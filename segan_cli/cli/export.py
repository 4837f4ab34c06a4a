"""``segan export``: a deployable TorchScript (and optionally ONNX) generator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from segan_cli.cli.common import console, user_errors
from segan_cli.errors import SeganError
from segan_cli.weights import resolve_checkpoint


@user_errors
def export(
    ckpt: Annotated[str, typer.Option(
        help="Checkpoint from `segan train`, or 'default' for the packaged model.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="TorchScript file to write (.pt).")],
    onnx: Annotated[Path | None, typer.Option(help="Also write an ONNX file here.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace existing files.")] = False,
) -> None:
    """Export the generator (z = 0, normalisation folded in) with its metadata."""
    from segan_cli.core.export import export_onnx, export_torchscript
    from segan_cli.core.inference import load_bundle

    for path in (out, onnx):
        if path is not None and path.exists() and not overwrite:
            raise SeganError(f"output exists: {path}", "pass --overwrite to replace it")
    bundle = load_bundle(resolve_checkpoint(ckpt), "cpu")
    export_torchscript(bundle, out)
    console.print(f"TorchScript generator written to [bold]{out}[/] "
                  f"({bundle.arch}, window {bundle.settings.data.window}, "
                  f"{bundle.settings.data.sample_rate} Hz)")
    if onnx is not None:
        export_onnx(bundle, onnx)
        console.print(f"ONNX generator written to [bold]{onnx}[/]")
