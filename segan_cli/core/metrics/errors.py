"""The one error type of the metrics core."""

from __future__ import annotations

from segan_cli.errors import SeganError


class MetricInputError(SeganError, ValueError):
    """Input a metric cannot score: rate mismatch, unsupported rate, too short, silent, NaN.

    A ``ValueError`` (bad argument values) and a ``SeganError`` (the user can fix it),
    so the CLI shows it as one line; batch scoring records it as a per-file failure.
    """
