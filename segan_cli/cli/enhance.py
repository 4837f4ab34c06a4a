"""``segan enhance``: not built yet in this release."""

from __future__ import annotations

from typing import Annotated

import typer

from segan_cli.cli.common import fail


def enhance(
    args: Annotated[list[str] | None, typer.Argument(hidden=True)] = None,
) -> None:
    """Not built yet."""
    raise fail("`segan enhance` is not available in this version yet",
               "it is planned; see the README for what works today")
