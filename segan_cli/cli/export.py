"""``segan export``: a deployable TorchScript (and optionally ONNX) generator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from segan_cli.cli.common import console, shown, user_errors
from segan_cli.core.io.output_guard import check_output, same_file
from segan_cli.errors import SeganError
from segan_cli.weights import resolve_checkpoint


@user_errors
def export(
    ckpt: Annotated[str, typer.Option(
        help="Checkpoint from `segan train`, or 'default' for the packaged model.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="TorchScript file to write (.pt).")],
    onnx: Annotated[Path | None, typer.Option(help="Also write an ONNX file here.")] = None,
    dry: Annotated[float | None, typer.Option(
        show_default=False,
        help="Share of the input the exported module mixes back, 0..1 (default: the "
             "model's own, which `segan info` shows).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing files.")] = False,
) -> None:
    """Write a TorchScript (and ONNX) generator for deployment.

    The generator runs with z = 0, the corpus z-score folded in and the model's dry
    share mixed in (`--dry` to choose another): the exported module maps
    `(batch, 1, window)` windows at the model's rate to enhanced windows,
    pre-emphasised in and out when the model uses pre-emphasis (`segan` arch). Its
    metadata records the sample rate, window, pre-emphasis, dry, arch, version and the
    source model's SHA-256. The ONNX file's time axis is one window;
    `segan_cli.core.packaging.export.OnnxModel` runs recordings of any length through it.

    **Examples**

    ```
    segan export --ckpt default --out segan.pt
    segan export --ckpt runs/adv/best.ckpt --out adv.pt --onnx adv.onnx
    ```
    """
    from segan_cli.core.enhancement.inference import load_bundle
    from segan_cli.core.packaging.export import export_dry, export_onnx, export_torchscript

    if dry is not None and not 0.0 <= dry <= 1.0:
        raise SeganError(f"--dry {dry:g} is outside 0..1")
    source = resolve_checkpoint(ckpt)
    check_output(out, overwrite, [source])  # fail before loading anything
    if onnx is not None:
        check_output(onnx, overwrite, [source])
        if same_file(onnx, out):
            raise SeganError(f"--out and --onnx name one file: {out}",
                             "give the ONNX file another name")
    bundle = load_bundle(source, "cpu")
    share = export_dry(bundle, dry)
    export_torchscript(bundle, out, overwrite, share)
    console.print(f"TorchScript generator written to [bold]{shown(out)}[/] "
                  f"({bundle.arch}, window {bundle.settings.data.window}, "
                  f"{bundle.settings.data.sample_rate} Hz, dry {share:g})")
    if onnx is not None:
        export_onnx(bundle, onnx, overwrite, share)
        console.print(f"ONNX generator written to [bold]{shown(onnx)}[/]", highlight=False,
                      soft_wrap=True)
