"""MetricGAN targets (Fu et al. 2019): the discriminator as a learned PESQ.

With ``train.adversarial: metric`` the discriminator scores (candidate, clean) pairs;
the sigmoid of its output is trained by MSE to the candidate's wide-band PESQ against
the clean window, mapped onto [0, 1] by :func:`normalise_pesq`. The generator then
maximises that learned score. PESQ is not differentiable, hence the learned proxy.

The scores come from the project's wrapper (:func:`pesq_score`), one window at a time,
on the CPU of the training process: a window it cannot score (silence, too short, no
utterance the PESQ library can find, NaN) is left out by a mask instead of failing
the step. A 1-s window costs about 15 ms of CPU (0.5 s for the 32 calls of a step of
the default recipe's batch, ``scripts/bench_metric.py``), so only the windows of the
current batch are ever scored.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from segan_cli.core.io.audio import deemphasis
from segan_cli.core.metrics.errors import MetricInputError
from segan_cli.core.metrics.pesq_stoi import PESQ_MIN_SECONDS, pesq_score
from segan_cli.errors import SettingsError
from segan_cli.settings import Settings

#: wide-band PESQ (P.862.2) runs from about 1.0 to 4.64; (PESQ - 1) / 3.5, clipped
PESQ_LOW = 1.0
PESQ_SPAN = 3.5
METRIC_SAMPLE_RATE = 16000


def normalise_pesq(score: float) -> float:
    """``(score - 1) / 3.5`` clipped to [0, 1]: the discriminator's target scale."""
    return float(np.clip((score - PESQ_LOW) / PESQ_SPAN, 0.0, 1.0))


def check_metric_settings(settings: Settings) -> None:
    """Refuse a metric-mode run whose windows PESQ could never score.

    Every window would be masked out and the discriminator would silently never
    learn, so such a run is a settings error naming the keys.
    """
    sr, window = settings.data.sample_rate, settings.data.window
    if sr != METRIC_SAMPLE_RATE:
        raise SettingsError(
            f"train.adversarial 'metric' trains on wide-band PESQ, which needs "
            f"data.sample_rate {METRIC_SAMPLE_RATE} (this run has {sr})",
            "use train.adversarial=lsgan, or a 16 kHz corpus")
    shortest = int(np.ceil(PESQ_MIN_SECONDS * sr))
    if window < shortest:
        raise SettingsError(
            f"train.adversarial 'metric' needs data.window of at least {shortest} samples "
            f"(PESQ scores {PESQ_MIN_SECONDS} s or more; this run has {window})",
            "use a longer data.window, or train.adversarial=lsgan")


def signal_windows(windows: Tensor, preemphasis: float = 0.0) -> np.ndarray:
    """``(B, 1, T)`` windows in signal units as float64 ``(B, T)``, de-emphasised.

    Pre-emphasised windows (arch ``segan``) are de-emphasised from a zero state, the
    exact inverse of the window pre-emphasis training applies to the target.
    """
    rows = windows.detach().to("cpu", torch.float64).numpy()[:, 0]
    if preemphasis:
        rows = np.stack([deemphasis(r, preemphasis)[0] for r in rows]).astype(np.float64)
    return rows


def pesq_targets(clean: np.ndarray, candidates: np.ndarray, sample_rate: int
                 ) -> tuple[Tensor, Tensor]:
    """Normalised wide-band PESQ of each candidate window against its clean window.

    ``clean`` and ``candidates`` are ``(B, T)`` signal-unit windows. Returns float32
    targets and a boolean mask, both ``(B,)``; a window PESQ cannot score has mask
    False and target 0. Sequential, in this process: ``B`` PESQ calls.
    """
    targets = torch.zeros(len(clean), dtype=torch.float32)
    mask = torch.zeros(len(clean), dtype=torch.bool)
    for i, (ref, deg) in enumerate(zip(clean, candidates, strict=True)):
        try:
            score = pesq_score(ref, deg, sample_rate, band="wb")
        except MetricInputError:
            continue
        targets[i] = normalise_pesq(score)
        mask[i] = True
    return targets, mask
