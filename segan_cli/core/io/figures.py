"""Matplotlib without a display, and a chart published as a user's output file.

Every chart the toolkit draws comes from here: the Agg backend (works on servers and in
CI), and figures a user asked for (``stats --plot``, ``info --plot``) written through
the output guard, so they never replace a file silently nor leave a partial one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segan_cli.core.io.output_guard import guarded_file


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (files only: works without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def publish_png(fig: Any, out: Path, overwrite: bool = False, dpi: int = 100) -> None:
    """Write ``fig`` as a PNG to the user's ``out`` through the guard; close it."""
    try:
        with guarded_file(out, overwrite, ".tmp.png") as fh:
            fig.savefig(fh, format="png", dpi=dpi)
    finally:
        pyplot().close(fig)
