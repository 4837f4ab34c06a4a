"""How core code reports progress without printing: a small sink protocol.

The CLI passes a rich-backed sink; library users pass nothing (a silent one).
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receives phases of work and how far each has come."""

    def start(self, label: str, total: int | None = None) -> None:
        """A new phase begins; ``total`` units of work when known."""

    def advance(self, n: int = 1) -> None:
        """``n`` more units of the current phase are done."""

    def note(self, message: str) -> None:
        """Something the user should know that is not an error."""


class SilentProgress:
    """The default sink: records notes, shows nothing."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def start(self, label: str, total: int | None = None) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def note(self, message: str) -> None:
        self.notes.append(message)
