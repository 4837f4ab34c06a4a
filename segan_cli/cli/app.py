"""The ``segan`` Typer application: global options and command registration."""

from __future__ import annotations

from typing import Annotated

import typer

from segan_cli import __version__
from segan_cli.cli import enhance, evaluate, export, info, prepare, stats, train
from segan_cli.cli.common import DEBUG, console

app = typer.Typer(
    name="segan",
    help="Speech denoising with SEGAN-family GANs: prepare a corpus, train, evaluate, enhance.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        console.print(f"segan {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    """Speech denoising with SEGAN-family GANs."""
    DEBUG.set(debug)


app.add_typer(prepare.app, name="prepare")
app.command("stats", help="Counts, durations, SNRs and levels of a prepared corpus.")(stats.stats)
app.command("train", help="Train a SEGAN or Advanced SEGAN on a prepared corpus.")(train.train)
app.command("evaluate", help="Score systems with PESQ, STOI, CSIG, CBAK, COVL, SSNR.")(
    evaluate.evaluate)
app.command("enhance", help="Denoise a recording or a folder: default model, checkpoint, Wiener.")(
    enhance.enhance)
app.command("info", help="Show what a checkpoint holds: model, audio settings, scores.")(
    info.info)
app.command("export", help="Write a TorchScript (and ONNX) generator for deployment.")(
    export.export)


def main() -> None:
    """Console-script entry point."""
    app()
