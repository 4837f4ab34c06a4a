"""How ``--help`` reads: commands in workflow order, flags without a type column,
arguments named in capitals (not Typer's ``{corpus}``) and lists without ``<list[str]>``."""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperGroup, TyperOption

#: commands in the order a user meets them
WORKFLOW = ("prepare", "stats", "train", "evaluate", "enhance", "export", "info")


def flags_without_type(command: Any, ctx: Any) -> None:
    """Typer prints a type beside every option (``<bool>`` for a flag, ``--help``
    included); a flag takes no value, so its type column stays empty. Arguments read
    as in man pages (``CORPUS``, ``[OUTPUT]``), and a repeatable argument's metavar
    already says what it takes, so its ``<list[Path]>`` type goes."""
    for param in command.get_params(ctx):
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
        elif isinstance(param, TyperOption) and param.multiple and param.metavar is None:
            param.metavar = (param.name or "value").upper()  # repeatable: --ckpt CKPT
        elif isinstance(param, TyperArgument):
            name = param.metavar or (param.name or "").upper()
            usage = name if param.required else f"[{name}]"
            param._usage_display_name = lambda usage=usage: usage
            if param.nargs != 1 and param.metavar:
                param.display_type_rich = lambda ctx: None


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
