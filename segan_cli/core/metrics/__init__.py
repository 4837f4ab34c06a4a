"""Speech quality metrics per whole utterance: PESQ, STOI, SSNR, SI-SDR, LLR, WSS, composites.

Definitions follow Loizou's composite.m (DESIGN.md section 5); ``mode="paper"``
reproduces the MATLAB run behind the SEGAN paper's table, ``mode="standard"`` clips
the composites to [1, 5]. See :mod:`.framing` and :mod:`.suite` for the details.
"""

from segan_cli.core.metrics.composites import Composite, composite
from segan_cli.core.metrics.errors import MetricInputError
from segan_cli.core.metrics.framing import MODES, Mode, keep_count
from segan_cli.core.metrics.log_likelihood import llr
from segan_cli.core.metrics.pesq_stoi import pesq_score, stoi_score
from segan_cli.core.metrics.segmental_snr import ssnr
from segan_cli.core.metrics.si_sdr import si_sdr
from segan_cli.core.metrics.spectral_slope import wss
from segan_cli.core.metrics.suite import (
    METRICS,
    BatchResult,
    Failure,
    MetricSummary,
    load_pair,
    score_pairs,
    score_utterance,
)

__all__ = [
    "METRICS",
    "MODES",
    "BatchResult",
    "Composite",
    "Failure",
    "MetricInputError",
    "MetricSummary",
    "Mode",
    "composite",
    "keep_count",
    "llr",
    "load_pair",
    "pesq_score",
    "score_pairs",
    "score_utterance",
    "si_sdr",
    "ssnr",
    "stoi_score",
    "wss",
]
