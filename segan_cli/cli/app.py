"""The ``segan`` Typer application: global options and command registration."""

from __future__ import annotations

import contextlib
import sys
from typing import Annotated

import typer

from segan_cli import __version__
from segan_cli.cli import enhance, evaluate, export, info, prepare, stats, train
from segan_cli.cli.common import DEBUG, console
from segan_cli.cli.help_format import WorkflowGroup

app = typer.Typer(
    name="segan",
    cls=WorkflowGroup,
    help="Speech denoising with SEGAN-family GANs: prepare a corpus, train, evaluate, "
         "enhance.\n\n"
         "Start with `segan enhance noisy.wav clean.wav` (the shipped default model), or "
         "follow the workflow below: `segan prepare demo --out data/demo`, "
         "`segan train --data data/demo --config tiny --out runs/demo`, "
         "`segan evaluate --data data/demo --ckpt runs/demo/best.ckpt`.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode="markdown",
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
    DEBUG.set(debug)


app.add_typer(prepare.app, name="prepare")
app.command("stats")(stats.stats)
app.command("train")(train.train)
app.command("evaluate")(evaluate.evaluate)
app.command("enhance")(enhance.enhance)
app.command("export")(export.export)
app.command("info")(info.info)


def main() -> None:
    """Console-script entry point. A text the streams cannot encode (a file name that is
    not valid UTF-8) is written with escapes rather than ending the run."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    app()
