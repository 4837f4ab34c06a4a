"""The standard suite per whole utterance, and batch scoring over a process pool.

One utterance: PESQ, STOI, CSIG, CBAK, COVL, SSNR, SI-SDR, LLR and WSS (optionally
ESTOI), with the frame-based measures sharing one framing of the pair. A batch: pairs of
(name, clean, enhanced), each a path or an array, scored in ``workers`` processes;
anything a file cannot be scored for (silence, too short, NaN, unreadable, rate
mismatch, longer than :data:`MAX_SCORE_SECONDS`) becomes a recorded :class:`Failure`,
never a crash and never a silent skip; a file holding less audio than its header says
is scored as far as it goes and recorded as a warning.

Modes (see :mod:`.framing` for the rounding detail):

- ``default``: composites clipped to [1, 5] as Loizou's composite.m does; the 95% cut
  keeps ``round(0.95 * frames)`` frames with Python's half-to-even rounding;
- ``paper``: composites unclipped and MATLAB's half-away rounding in the 95% cut, as
  in the MATLAB run behind the SEGAN paper's table.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from scipy import stats

from segan_cli.core.io.audio import audio_info, read_audio, to_mono
from segan_cli.core.io.audio import resample as resample_audio
from segan_cli.core.io.audio_header import truncation_note
from segan_cli.core.metrics.composites import composite
from segan_cli.core.metrics.errors import MetricInputError
from segan_cli.core.metrics.framing import Mode, check_mode, framed_pair, lowest_mean
from segan_cli.core.metrics.log_likelihood import llr_per_frame
from segan_cli.core.metrics.pesq_stoi import default_pesq_band, pesq_score, stoi_score
from segan_cli.core.metrics.segmental_snr import ssnr_per_frame
from segan_cli.core.metrics.si_sdr import si_sdr
from segan_cli.core.metrics.spectral_slope import wss_per_frame
from segan_cli.core.metrics.threads import limit_blas_threads, single_threaded_blas
from segan_cli.core.runtime.processes import bind_to_parent, exit_if_orphaned
from segan_cli.errors import SeganError

METRICS: tuple[str, ...] = ("pesq", "csig", "cbak", "covl", "ssnr", "stoi", "si_sdr", "llr",
                             "wss")
"""Keys of :func:`score_utterance`, in the order of the paper's table, then the rest."""

Signal = Path | str | np.ndarray
PairSpec = tuple[str, Signal, Signal]

MAX_SCORE_SECONDS = 120.0
"""Longest file scored: the metrics are per utterance, PESQ (P.862) is specified for
8-30 s, and scoring takes about 4 MB of memory per second of audio in each worker."""


def check_score_length(seconds: float, what: Path | str) -> None:
    """Refuse a signal longer than :data:`MAX_SCORE_SECONDS`, before it is read."""
    if seconds > MAX_SCORE_SECONDS:
        raise MetricInputError(
            f"{what} lasts {seconds:.0f} s, longer than the {MAX_SCORE_SECONDS:.0f} s "
            "scoring limit", "cut it into utterances; the metrics are defined per utterance")


def score_utterance(clean: np.ndarray, enhanced: np.ndarray, sr: int, mode: Mode = "standard",
                    extended_stoi: bool = False) -> dict[str, float]:
    """Score one whole utterance: every metric of :data:`METRICS` (plus ``estoi``).

    Float mono signals in [-1, 1] at 8 or 16 kHz (wb PESQ at 16, nb at 8). The
    frame-based measures, STOI and SI-SDR use both signals cut to the shorter; PESQ gets
    them uncut, as composite.m passes the files to ``pesq``. Raises
    :class:`MetricInputError` for anything that cannot be scored.
    """
    mode = check_mode(mode)
    default_pesq_band(sr)
    p = pesq_score(clean, enhanced, sr)
    s = stoi_score(clean, enhanced, sr)
    fc, fe = framed_pair(clean, enhanced, sr)
    seg = float(np.mean(ssnr_per_frame(fc, fe)))
    llr_value = lowest_mean(llr_per_frame(fc, fe, sr), mode)
    wss_value = lowest_mean(wss_per_frame(fc, fe, sr), mode)
    for name, value in (("LLR", llr_value), ("WSS", wss_value)):
        if not math.isfinite(value):
            raise MetricInputError(f"{name} is not finite ({value}): degenerate signal frames")
    comp = composite(p, llr_value, wss_value, seg, clip=(mode != "paper"))
    out = {"pesq": p, "csig": comp.csig, "cbak": comp.cbak, "covl": comp.covl,
           "ssnr": seg, "stoi": s, "si_sdr": si_sdr(clean, enhanced), "llr": llr_value,
           "wss": wss_value}
    if extended_stoi:
        out["estoi"] = stoi_score(clean, enhanced, sr, extended=True)
    return out


def _load_one(x: Signal, sample_rate: int | None, what: str) -> tuple[np.ndarray, int]:
    if isinstance(x, np.ndarray):
        if sample_rate is None:
            raise MetricInputError(f"{what} is an array: pass its sample_rate")
        data = np.asarray(x, dtype=np.float32)
        if data.ndim not in (1, 2):
            raise MetricInputError(f"{what} array must be 1-D or (frames, channels)")
        check_score_length(data.shape[0] / sample_rate, f"the {what} signal")
        return to_mono(data), sample_rate
    check_score_length(audio_info(Path(x)).duration, x)
    data, sr = read_audio(Path(x))
    return to_mono(data), sr


def load_pair(clean: Signal, enhanced: Signal, sample_rate: int | None = None,
              resample: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """Mono float32 clean and enhanced signals at one common rate, and that rate.

    Paths are read with soundfile (channels averaged); arrays are taken to be at
    ``sample_rate``. The target rate is ``sample_rate`` if given, else the clean
    signal's. A rate that differs from it raises :class:`MetricInputError` unless
    ``resample``: then both go to the target with soxr (VHQ), and an
    unsupported target (not 8/16 kHz, none requested) becomes 16 kHz.
    """
    c, sr_c = _load_one(clean, sample_rate, "clean")
    e, sr_e = _load_one(enhanced, sample_rate, "enhanced")
    target = sample_rate if sample_rate is not None else sr_c
    if resample:
        if sample_rate is None and target not in (8000, 16000):
            target = 16000
        return resample_audio(c, sr_c, target), resample_audio(e, sr_e, target), target
    if sr_c != sr_e:
        raise MetricInputError(f"sample rates differ: clean {sr_c} Hz, enhanced {sr_e} Hz",
                               "resample the enhanced audio or pass --resample")
    if sr_c != target:
        raise MetricInputError(f"audio is at {sr_c} Hz, expected {target} Hz",
                               "pass --resample to convert it")
    return c, e, target


class Failure(NamedTuple):
    """A pair that could not be scored, and why."""

    name: str
    message: str


@dataclass(frozen=True)
class MetricSummary:
    """Mean over scored files, sample std (ddof=1) and Student-t 95% interval of the mean.

    ``std`` and the interval are NaN with fewer than two values; all NaN with none.
    """

    mean: float
    std: float
    ci95_low: float
    ci95_high: float
    count: int

    @property
    def ci95_half_width(self) -> float:
        return (self.ci95_high - self.ci95_low) / 2.0

    @classmethod
    def of(cls, values: Sequence[float]) -> MetricSummary:
        v = np.asarray(values, dtype=np.float64)
        n = int(v.size)
        if n == 0:
            return cls(math.nan, math.nan, math.nan, math.nan, 0)
        mean = float(v.mean())
        if n < 2:
            return cls(mean, math.nan, math.nan, math.nan, n)
        std = float(v.std(ddof=1))
        half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
        return cls(mean, std, mean - half, mean + half, n)


@dataclass
class BatchResult:
    """Per-file rows (``{"name": ..., metric: value}``, input order), failures, summary.

    ``warnings`` are about files that were scored but not as they claim to be (a header
    promising more audio than the file holds), as (name, message).
    """

    rows: list[dict[str, Any]]
    failures: list[Failure]
    summary: dict[str, MetricSummary]
    mode: str
    metrics: tuple[str, ...] = field(default=METRICS)
    warnings: list[Failure] = field(default_factory=list)

    @property
    def n_scored(self) -> int:
        return len(self.rows)

    @property
    def n_total(self) -> int:
        return len(self.rows) + len(self.failures)

    def means(self) -> dict[str, float]:
        """Mean of each metric over the scored files."""
        return {k: s.mean for k, s in self.summary.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (NaN becomes None), failures and counts."""

        def num(x: float) -> float | None:
            return None if math.isnan(x) else x

        return {
            "mode": self.mode,
            "scored": self.n_scored,
            "total": self.n_total,
            "metrics": {
                k: {"mean": num(s.mean), "std": num(s.std),
                    "ci95": [num(s.ci95_low), num(s.ci95_high)], "count": s.count}
                for k, s in self.summary.items()
            },
            "failures": [{"name": f.name, "message": f.message} for f in self.failures],
            "warnings": [{"name": w.name, "message": w.message} for w in self.warnings],
        }


@dataclass(frozen=True)
class _Options:
    mode: str
    sample_rate: int | None
    resample: bool
    extended_stoi: bool


_JobResult = tuple[int, dict[str, Any] | None, str | None, list[str]]


def file_notes(*signals: Signal) -> list[str]:
    """Truncation warnings of the signals that are files (arrays have no header)."""
    notes = []
    for x in signals:
        if not isinstance(x, np.ndarray):
            try:
                note = truncation_note(audio_info(Path(x)))
            except SeganError:
                continue  # unreadable files fail with their own message
            if note:
                notes.append(note)
    return notes


def _score_job(index: int, name: str, clean: Signal, enhanced: Signal,
               opts: _Options) -> _JobResult:
    """Score one pair; a problem with the input becomes a message, not an exception."""
    exit_if_orphaned()  # in a pool worker whose parent was killed: stop here
    notes = file_notes(clean, enhanced)
    try:
        c, e, sr = load_pair(clean, enhanced, opts.sample_rate, opts.resample)
        scores: dict[str, Any] = score_utterance(c, e, sr, opts.mode,  # type: ignore[arg-type]
                                                 opts.extended_stoi)
    except SeganError as exc:
        return index, None, str(exc), notes
    except Exception as exc:  # a bug or a library failure: recorded, never swallowed silently
        return index, None, f"unexpected {type(exc).__name__}: {exc}", notes
    if note := length_note(name, c.size, e.size, sr):
        scores["note"] = note  # the file's row says so (--csv)
        if not notes:  # a file cut short has said so already, naming itself
            notes.append(note)
    return index, scores, None, notes


#: every measure is taken over the shorter signal; below this share of the other's
#: length, the file is scored with a warning and a note in its row
LENGTH_RATIO = 0.9


def length_note(name: str, clean: int, enhanced: int, sr: int) -> str | None:
    """A warning when one signal of a pair is much shorter than the other: the scores
    then cover only the start of the recording (an enhancer that stopped early)."""
    if min(clean, enhanced) >= LENGTH_RATIO * max(clean, enhanced):
        return None
    short, other = ("enhanced", "clean") if enhanced < clean else ("clean", "enhanced")
    return (f"{name}: the {short} file holds {min(clean, enhanced) / sr:.2f} s, its {other} "
            f"partner {max(clean, enhanced) / sr:.2f} s: scored over the first "
            f"{min(clean, enhanced) / sr:.2f} s only")


def _size_hint(x: Signal) -> int:
    """Rough work estimate of a pair: samples of an array, bytes of a file."""
    if isinstance(x, np.ndarray):
        return int(x.size)
    try:
        return Path(x).stat().st_size
    except OSError:
        return 0


def _init_pool_worker(owner: int) -> None:
    bind_to_parent(owner)  # a killed parent takes its workers with it
    limit_blas_threads()


def _pool_context() -> mp.context.BaseContext:
    # fork starts workers in milliseconds with everything already imported; the
    # executor forks all of them before starting its own thread.
    methods = mp.get_all_start_methods()
    return mp.get_context("fork" if "fork" in methods else None)


def score_pairs(pairs: Sequence[PairSpec], workers: int = 1, mode: Mode = "standard",
                progress: Callable[[int], None] | None = None, *,
                sample_rate: int | None = None, resample: bool = False,
                extended_stoi: bool = False) -> BatchResult:
    """Score many (name, clean, enhanced) pairs; see :func:`score_utterance`.

    ``workers`` > 1 uses a process pool (numbers are identical to ``workers=1``,
    which runs in-process); either way OpenBLAS runs single-threaded (see
    :mod:`.threads`). ``progress(n)`` is called in this process as each file
    finishes, scored or not. ``sample_rate`` and ``resample`` are as in
    :func:`load_pair` (arrays need ``sample_rate``).
    """
    mode = check_mode(mode)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    opts = _Options(mode, sample_rate, resample, extended_stoi)
    results: list[_JobResult] = []
    workers = min(workers, len(pairs))
    if workers <= 1:
        with single_threaded_blas():
            for i, (name, clean, enhanced) in enumerate(pairs):
                results.append(_score_job(i, name, clean, enhanced, opts))
                if progress is not None:
                    progress(1)
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context(),
                                 initializer=_init_pool_worker,
                                 initargs=(os.getpid(),)) as pool:
            # longest first, so the last files to finish are short ones (better balance)
            order = sorted(range(len(pairs)), key=lambda i: -_size_hint(pairs[i][1]))
            futures = [pool.submit(_score_job, i, *pairs[i], opts) for i in order]
            for fut in as_completed(futures):
                results.append(fut.result())
                if progress is not None:
                    progress(1)
        results.sort(key=lambda r: r[0])
    return _collect(pairs, results, mode, extended_stoi)


def _collect(pairs: Sequence[PairSpec], results: list[_JobResult], mode: str,
             extended_stoi: bool) -> BatchResult:
    metrics = METRICS + (("estoi",) if extended_stoi else ())
    rows: list[dict[str, Any]] = []
    failures: list[Failure] = []
    warnings: list[Failure] = []
    for index, scores, message, notes in results:
        name = pairs[index][0]
        warnings += [Failure(name, note) for note in notes]
        if scores is None:
            failures.append(Failure(name, message or "unknown error"))
        else:
            rows.append({"name": name, **scores})
    summary = {m: MetricSummary.of([r[m] for r in rows]) for m in metrics}
    return BatchResult(rows, failures, summary, mode, metrics, warnings)


def merge_results(parts: Sequence[BatchResult], mode: str, extended_stoi: bool = False
                  ) -> BatchResult:
    """One result of consecutive batches: rows, failures and warnings in order, the
    summary over every row (as if scored in one batch)."""
    metrics = METRICS + (("estoi",) if extended_stoi else ())
    rows = [r for p in parts for r in p.rows]
    summary = {m: MetricSummary.of([r[m] for r in rows]) for m in metrics}
    return BatchResult(rows, [f for p in parts for f in p.failures], summary, mode, metrics,
                       [w for p in parts for w in p.warnings])
