"""What every command shares: consoles, the error contract, settings options, progress.

User errors (:class:`SeganError`) end with one red line on stderr and exit code 2;
``segan --debug`` re-raises them so the traceback shows.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from segan_cli.core.io.output_guard import os_error
from segan_cli.core.runtime.cpus import usable_cores
from segan_cli.core.runtime.signals import (
    Terminated,
    raise_on_sigterm,
    restore_sigterm,
    sigterm_arrived,
)
from segan_cli.errors import SeganError
from segan_cli.presets import find_config
from segan_cli.settings import Settings, load_settings

#: the width of output that is not a terminal: wide enough that nothing wraps
UNWRAPPED_WIDTH = 400
#: the narrowest console: below it a table cannot be drawn at all
MIN_WIDTH = 20


def shown(value: object) -> str:
    """``value`` as text that rich prints as it is: a path such as ``o[/].wav`` or
    ``in/[draft]/`` is not markup (it crashed the printer, or vanished from it), and a
    name that is not UTF-8 shows its odd bytes as ``\\xe9`` (as a surrogate it could not
    be written to the terminal)."""
    return escape(printable(str(value)))


def printable(text: str) -> str:
    """``text`` with the surrogates Python uses for undecodable bytes of file names
    shown as ``\\xNN`` escapes (anything else unchanged)."""
    if text.isascii() or not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def titled_table(title: str, **options: Any) -> Table:
    """A rich table under a left-aligned plain-text title (paths print as they are)
    that wraps only where the console does: rich fits a title to its table's width,
    so the table is made at least as wide."""
    text = Text(title)
    return Table(title=text, title_justify="left", min_width=text.cell_len, **options)


def make_console(stderr: bool = False) -> Console:
    """A rich console; output to a pipe, a log file or CI is not wrapped at 80 columns,
    so paths and table rows stay whole (``COLUMNS`` still sets a width, of at least
    :data:`MIN_WIDTH`: rich's tables fail an assertion at one or two columns)."""
    made = Console(stderr=stderr)
    if not made.is_terminal and "COLUMNS" not in os.environ:
        made = Console(stderr=stderr, width=UNWRAPPED_WIDTH)
    elif made.width < MIN_WIDTH:
        made = Console(stderr=stderr, width=MIN_WIDTH)
    return made


console = make_console()
err_console = make_console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

EXIT_USER_ERROR = 2


# Set by the root callback on every invocation, so it never leaks between runs.
DEBUG: ContextVar[bool] = ContextVar("segan_debug", default=False)


def debug_enabled() -> bool:
    """True when the root command was given ``--debug``."""
    return DEBUG.get()


def fail(message: str, hint: str | None = None) -> typer.Exit:
    """Print the one red line and return the Exit to raise."""
    text = f"[bold red]error:[/] {shown(message)}" + (f" [dim]({shown(hint)})[/]" if hint
                                                      else "")
    err_console.print(text, highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_USER_ERROR)


def _terminated() -> typer.Exit:
    err_console.print("[yellow]terminated[/]: re-run the same command to resume")
    return typer.Exit(143)


def user_errors(func: F) -> F:
    """Turn SeganError, and OSErrors the user can act on (disk full, read-only,
    permission), into the red line + exit 2 (or a traceback under --debug)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        previous = raise_on_sigterm()  # SIGTERM unwinds like Ctrl-C: temporaries go
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]: re-run the same command to resume")
            raise typer.Exit(130) from None
        except Terminated:
            raise _terminated() from None
        except typer.Exit:  # the command's own exit code (a RuntimeError to Python)
            raise
        except Exception as exc:
            if sigterm_arrived() and not debug_enabled():
                # SIGTERM surfaced inside a C library's callback, which then failed
                # with its own error: still a termination, not a crash
                raise _terminated() from None
            if isinstance(exc, SeganError):
                if debug_enabled():
                    raise
                raise fail(exc.message, exc.hint) from None
            error = os_error(exc) if isinstance(exc, OSError) else None
            if error is None or debug_enabled():  # OSErrors the user can act on
                raise
            raise fail(error.message, error.hint) from None
        finally:
            restore_sigterm(previous)

    return wrapper  # type: ignore[return-value]


ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", show_default=False,
                 help="Settings YAML file, or a built-in preset by name: tiny (CPU-sized), "
                      "segan (the paper), adv (Advanced SEGAN), default (the default "
                      "model's recipe)."),
]
def set_option(example: str) -> Any:
    """The ``--set KEY=VALUE`` option, its example a key the command reads."""
    return Annotated[list[str] | None, typer.Option(
        "--set", metavar="KEY=VALUE", show_default=False,
        help=f"Override a setting, e.g. --set {example} (repeatable).")]


SetOpt = set_option("train.batch_size=8")
PrepareSetOpt = set_option("data.hop=4096")
EnhanceSetOpt = set_option("enhance.block_seconds=10")
EvaluateSetOpt = set_option("evaluate.workers=2")


def from_settings(key: str, text: str | None = None) -> str:
    """``show_default`` of an option whose default lives in the settings: its built-in
    value (or ``text``) and the key a settings file sets it with."""
    section, name = key.split(".")
    value = text if text is not None else getattr(getattr(_built_in(), section), name)
    return f"{value}, settings key {key}"


@functools.cache
def _built_in() -> Settings:
    """The settings' built-in defaults, made once for every option's help."""
    return Settings()


def settings_from(config: Path | None, sets: list[str] | None, arch: str | None = None,
                  extra: dict[str, dict[str, Any]] | None = None) -> Settings:
    path = find_config(config) if config is not None else None
    return load_settings(path, sets or [], arch=arch, extra=extra)


def worker_count(requested: int | None, flag: str = "--workers") -> int:
    """Processes to start: ``requested`` capped at the usable cores (one line says so);
    ``None`` means all usable cores. Every command with workers goes through here."""
    cores = usable_cores()
    if requested is None:
        return cores
    if requested < 1:
        raise SeganError(f"{flag} must be at least 1, got {requested}")
    if requested > cores:
        err_console.print(f"[yellow]note:[/] {flag} {requested} capped at {cores}: this "
                          f"process may use {cores} CPU core(s)", highlight=False, soft_wrap=True)
        return cores
    return requested


class RichProgress:
    """A core Progress sink drawing rich progress bars on stderr."""

    def __init__(self, console: Console | None = None, transient: bool = False) -> None:
        self._progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console or err_console,
            transient=transient,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._finish_task()
        self._progress.stop()

    def _finish_task(self) -> None:
        if self._task is not None:
            task = self._progress.tasks[-1]
            if task.total is not None:
                self._progress.update(self._task, completed=task.total)

    def start(self, label: str, total: int | None = None) -> None:
        self._finish_task()
        self._task = self._progress.add_task(shown(label), total=total)

    def advance(self, n: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, n)

    def note(self, message: str) -> None:
        self._progress.console.print(f"[yellow]note:[/] {shown(message)}", highlight=False,
                                     soft_wrap=True)
