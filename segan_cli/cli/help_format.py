"""How ``--help`` reads: commands in workflow order, flags without a type column."""

from __future__ import annotations

from typing import Any

from typer.core import TyperGroup, TyperOption

#: commands in the order a user meets them
WORKFLOW = ("prepare", "stats", "train", "evaluate", "enhance", "export", "info")


def flags_without_type(command: Any, ctx: Any) -> None:
    """Typer prints a type beside every option (``<bool>`` for a flag, ``--help``
    included); a flag takes no value, so its type column stays empty."""
    for param in command.get_params(ctx):
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""


class WorkflowGroup(TyperGroup):
    """A command group listing its commands in workflow order, flags shown as flags."""

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        known = [n for n in WORKFLOW if n in names]
        return known + [n for n in names if n not in WORKFLOW]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            flags_without_type(command, ctx)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        flags_without_type(self, ctx)
        super().format_help(ctx, formatter)
