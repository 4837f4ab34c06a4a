"""The report page: one HTML file with inline CSS and a few lines of plain JavaScript.

Nothing is fetched from elsewhere (no CDN, no web font, no framework), so the folder
opens offline from disk and can be zipped and sent. Every number is written twice:
as text, rounded as the terminal table rounds it, and exactly in a ``data-`` attribute
(for sorting, and so a test can compare the page with ``--json``).

The page is a Jinja2 template (``templates/page.html`` and its parts) with autoescape
on, so every name a user or a file system chose (labels, file names, titles, error
messages) is escaped without anyone having to remember to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import jinja2

from segan_cli.core.evaluation.plans import metric_header
from segan_cli.core.metrics import MetricSummary
from segan_cli.core.report.folder import GENERATOR
from segan_cli.core.report.numbers import FileRow


@dataclass
class Panel:
    """One column of a listening file: spectrogram, player and that system's scores."""

    label: str
    image: str | None  # path relative to the page
    audio: str | None
    scores: dict[str, float] | None = None  # None: a reference, or not scored
    gain: float = math.nan
    problem: str = ""


@dataclass
class ListeningFile:
    name: str
    why: str
    panels: list[Panel]


@dataclass
class SummaryRow:
    label: str
    summary: dict[str, MetricSummary]
    scored: int
    total: int
    differences: dict[str, MetricSummary] | None = None  # to Noisy; None for Noisy itself


@dataclass
class PageData:
    """Everything the page shows, already computed and written to files."""

    title: str
    subtitle: str
    metrics: tuple[str, ...]
    rows: list[SummaryRow]
    paper: dict[str, dict[str, float]]
    distributions: list[tuple[str, str]]  # (metric, image)
    gain_image: str | None
    gain_note: str
    colour_bar: str | None
    listening: list[ListeningFile]
    listening_note: str
    files: list[FileRow]
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # system, file, why
    reference: str = "Noisy"


def fmt(value: float | None, signed: bool = False) -> str:
    """Two decimals as in the terminal table; a dash for a missing value."""
    if value is None or math.isnan(value):
        return "-"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _exact(value: float | None) -> str:
    return "nan" if value is None or math.isnan(value) else repr(float(value))


_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("segan_cli.core.report", "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
_TEMPLATES.filters.update(fmt=fmt, exact=_exact, header=metric_header)
_TEMPLATES.tests["nan"] = math.isnan


def page(data: PageData) -> str:
    """The whole index.html."""
    return _TEMPLATES.get_template("page.html").render(d=data, generator=GENERATOR)
