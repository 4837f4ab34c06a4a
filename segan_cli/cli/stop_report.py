"""The one line a ``segan train`` stopped by a signal prints, and its exit code.

The line gives the command to continue: the one the user ran, rebuilt from its
parsed options so it also holds when the run was started with ``python -m
segan_cli`` or from a script, with ``--out`` (the run folder may have been the
default) and ``--resume``.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import typer

from segan_cli.cli.common import err_console

# options that only make sense for a new run, or that the command adds itself
_DROPPED = {"out", "resume", "init_from"}


def resume_command(ctx: typer.Context, run_dir: Path) -> str:
    """The command that continues this run, quoted for a POSIX shell.

    A run started ``--init-from`` a checkpoint without ``--config`` took its model
    settings from that checkpoint: the resume reads them from the run's own
    ``settings.yaml`` instead.
    """
    parts = ["segan", ctx.info_name or "train"]
    dropped = set(_DROPPED)
    if ctx.params.get("init_from") is not None:
        dropped.add("config")
    for param in ctx.command.params:
        name = param.name or ""
        value = ctx.params.get(name)
        source = ctx.get_parameter_source(name)
        if (name in dropped or value is None or value is False
                or (source is not None and source.name == "DEFAULT")):
            continue
        if param.param_type_name != "option":
            parts += [str(v) for v in (value if param.multiple else [value])]
            continue
        flag = next((o for o in param.opts if o.startswith("--")), param.opts[0])
        if getattr(param, "is_flag", False):
            parts.append(flag)
        else:
            parts += [item for v in (value if param.multiple else [value])
                      for item in (flag, str(v))]
    if "config" in dropped:
        parts += ["--config", str(run_dir / "settings.yaml")]
    return shlex.join([*parts, "--out", str(run_dir), "--resume"])


def report_stop(ctx: typer.Context, signum: int, steps: int, run_dir: Path,
                has_checkpoint: bool, rank_zero: bool = True) -> typer.Exit:
    """Print the one line (rank 0 only) and return the Exit to raise: 128 + signal."""
    if rank_zero:
        command = resume_command(ctx, run_dir)
        if has_checkpoint:
            line = f"stopped at step {steps}; resume with: {command}"
        else:  # stopped before anything was saved: start again
            line = ("stopped before the first checkpoint; start again with: "
                    + command.removesuffix(" --resume"))
        err_console.print(line, markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(128 + signum)
