"""``segan evaluate --report DIR``: a page to read, see and hear an evaluation, offline.

People judge a denoiser by listening and by looking at spectrograms before they read
a PESQ column, so the report puts the three side by side: the summary table (95%
intervals, differences to Noisy, the paper's rows on VoiceBank-DEMAND), per-metric
distributions and a PESQ-gain chart, a few files to hear with their spectrograms on
one colour scale, and every per-file score in a sortable table.

One job per module: :mod:`.numbers` (what the page shows), :mod:`.choice` (which
files to hear), :mod:`.audio` (their signals, as 16-bit WAV), :mod:`.plots` and
:mod:`.spectrograms` (the PNGs), :mod:`.html` (the page), :mod:`.folder` (checked
before the work, staged, published whole) and :mod:`.build` (the order of work).
"""

from segan_cli.core.report.build import ReportInfo, build_report
from segan_cli.core.report.choice import DEFAULT_FILES, ListeningChoice, parse_files
from segan_cli.core.report.folder import check_report_dir

__all__ = ["DEFAULT_FILES", "ListeningChoice", "ReportInfo", "build_report",
           "check_report_dir", "parse_files"]
