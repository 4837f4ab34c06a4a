"""``segan train``: not built yet in this release."""

from __future__ import annotations

from typing import Annotated

import typer

from segan_cli.cli.common import fail


def train(
    args: Annotated[list[str] | None, typer.Argument(hidden=True)] = None,
) -> None:
    """Not built yet."""
    raise fail("`segan train` is not available in this version yet",
               "it is planned; see the README for what works today")
