"""Metric core: documented PESQ values, composite.m definitions, SI-SDR, modes, batches."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from segan_cli.core.metrics import (
    METRICS,
    MetricInputError,
    MetricSummary,
    keep_count,
    llr,
    pesq_score,
    score_pairs,
    score_utterance,
    si_sdr,
    ssnr,
    stoi_score,
    wss,
)
from segan_cli.core.metrics.framing import (
    EPS,
    analysis_window,
    frame_params,
    framed,
    framed_pair,
    num_frames,
)
from segan_cli.core.metrics.log_likelihood import llr_per_frame
from segan_cli.core.metrics.si_sdr import SI_SDR_MAX_DB, SI_SDR_MIN_DB
from segan_cli.core.metrics.spectral_slope import (
    BANDWIDTHS_HZ,
    CENTRE_FREQS_HZ,
    fft_size,
    wss_per_frame,
)
from segan_cli.errors import SeganError
from tests.conftest import PESQ_PAIR, VOICEBANK_SAMPLE, need_shared

SR = 16000


def _read(path: Path) -> np.ndarray:
    x, sr = sf.read(path, dtype="float32")
    assert sr == SR
    return x


def _sample_pair(name: str = "p232_003") -> tuple[np.ndarray, np.ndarray]:
    root = need_shared(VOICEBANK_SAMPLE)
    return _read(root / "clean" / f"{name}.wav"), _read(root / "noisy" / f"{name}.wav")


def _sample_names(count: int | None = None) -> list[str]:
    root = need_shared(VOICEBANK_SAMPLE)
    names = sorted(p.stem for p in (root / "clean").glob("*.wav"))
    return names[:count] if count else names


# ---------------------------------------------------------------- PESQ / STOI


def test_pesq_pair_reproduces_documented_values() -> None:
    root = need_shared(PESQ_PAIR)
    ref, deg = _read(root / "speech.wav"), _read(root / "speech_bab_0dB.wav")
    # the pesq package's README: wb and nb both on the 16 kHz files
    assert pesq_score(ref, deg, SR) == pytest.approx(1.0832337141036987, abs=1e-6)
    assert pesq_score(ref, deg, SR, band="nb") == pytest.approx(1.6072081327438354, abs=1e-6)
    assert score_utterance(ref, deg, SR)["pesq"] == pytest.approx(1.0832337141036987, abs=1e-6)


def test_pesq_rejects_what_it_cannot_score() -> None:
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(SR)).astype(np.float32)
    with pytest.raises(MetricInputError, match="silent"):
        pesq_score(x, np.zeros_like(x), SR)
    with pytest.raises(MetricInputError, match="too short"):
        pesq_score(x[:3000], x[:3000], SR)
    with pytest.raises(MetricInputError, match="8 or 16 kHz"):
        pesq_score(x, x, 44100)
    with pytest.raises(MetricInputError, match="not defined"):
        pesq_score(x, x, 8000, band="wb")
    bad = x.copy()
    bad[10] = np.nan
    with pytest.raises(MetricInputError, match="NaN"):
        pesq_score(x, bad, SR)
    # a MetricInputError is both a ValueError and a user-fixable SeganError
    assert issubclass(MetricInputError, ValueError) and issubclass(MetricInputError, SeganError)


def test_stoi_too_little_speech_is_an_error_not_1e5() -> None:
    x = (0.1 * np.random.default_rng(1).standard_normal(2000)).astype(np.float32)
    with pytest.raises(MetricInputError, match="STOI"):
        stoi_score(x, x, SR)


# ---------------------------------------------------------------- framing (composite.m)


def test_framing_constants_match_composite_m() -> None:
    assert frame_params(16000) == (480, 120)
    assert frame_params(8000) == (240, 60)
    w = analysis_window(480)
    n = np.arange(1, 481)
    np.testing.assert_allclose(w, 0.5 * (1 - np.cos(2 * np.pi * n / 481)))
    assert w[0] > 0 and w[-1] > 0  # n = 1..L over L+1: no zero end points
    # floor(N/hop - L/hop): the last frame that would fit is dropped, no padding
    assert num_frames(4080, 480, 120) == 30
    assert num_frames(4199, 480, 120) == 30
    assert num_frames(4200, 480, 120) == 31
    assert num_frames(599, 480, 120) == 0
    x = np.arange(4200, dtype=np.float64)
    f = framed(x, SR)
    assert f.shape == (31, 480)
    np.testing.assert_allclose(f[3], x[360:840] * w)
    assert fft_size(16000) == 1024 and fft_size(8000) == 512
    assert len(CENTRE_FREQS_HZ) == len(BANDWIDTHS_HZ) == 25
    assert CENTRE_FREQS_HZ[0] == 50.0 and CENTRE_FREQS_HZ[-1] == 3597.63
    assert BANDWIDTHS_HZ[7] == 77.3724 and BANDWIDTHS_HZ[-1] == 346.136


def test_keep_count_modes_differ_only_on_even_half_ties() -> None:
    assert keep_count(30, "paper") == 29  # MATLAB round(28.5) = 29
    assert keep_count(30, "default") == 28  # Python round(28.5) = 28
    assert keep_count(10, "paper") == keep_count(10, "default") == 10
    differ = [n for n in range(1, 2001) if keep_count(n, "paper") != keep_count(n, "default")]
    assert differ == list(range(30, 2001, 40))
    assert keep_count(953) == 905


# ------------------------------------------------- a literal port of composite.m, per frame


def _peaks_literal(energy: np.ndarray, slope: np.ndarray) -> np.ndarray:
    out = np.zeros(24)
    for i in range(1, 25):  # 1-based, as in composite.m
        n = i
        if slope[i - 1] > 0:
            while n < 25 and slope[n - 1] > 0:
                n += 1
            out[i - 1] = energy[n - 2]  # clean_energy(n-1)
        else:
            while n > 0 and slope[n - 1] <= 0:
                n -= 1
            out[i - 1] = energy[n]  # clean_energy(n+1)
    return out


def _wss_literal(cf: np.ndarray, pf: np.ndarray) -> float:
    half, max_freq = 512, 8000.0
    j = np.arange(half)
    filt = np.zeros((25, half))
    for i in range(25):
        f0 = CENTRE_FREQS_HZ[i] / max_freq * half
        bw = BANDWIDTHS_HZ[i] / max_freq * half
        filt[i] = np.exp(-11 * ((j - math.floor(f0)) / bw) ** 2
                         + math.log(BANDWIDTHS_HZ[0]) - math.log(BANDWIDTHS_HZ[i]))
        filt[i] *= filt[i] > math.exp(-30.0 / (2.0 * 2.303))
    weights = []
    slopes = []
    for frame in (cf, pf):
        spec = np.abs(np.fft.fft(frame, 1024)) ** 2
        e = 10 * np.log10(np.maximum([np.sum(spec[:half] * filt[i]) for i in range(25)], 1e-10))
        s = e[1:] - e[:-1]
        w = 20 / (20 + e.max() - e[:24]) * (1 / (1 + _peaks_literal(e, s) - e[:24]))
        weights.append(w)
        slopes.append(s)
    w = (weights[0] + weights[1]) / 2
    return float(np.sum(w * (slopes[0] - slopes[1]) ** 2) / np.sum(w))


def _llr_literal(cf: np.ndarray, pf: np.ndarray, order: int = 16) -> float:
    def lpcoeff(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = np.array([np.sum(x[: len(x) - k] * x[k:]) for k in range(order + 1)])
        a = np.ones(order)
        err = r[0]
        for i in range(1, order + 1):
            past = a[: i - 1].copy()
            k = (r[i] - np.sum(past * r[i - 1 : 0 : -1])) / err
            a[i - 1] = k
            a[: i - 1] = past - k * past[::-1]
            err *= 1 - k * k
        return r, np.concatenate([[1.0], -a])

    rc, ac = lpcoeff(cf)
    _, ap = lpcoeff(pf)
    toe = rc[np.abs(np.subtract.outer(np.arange(order + 1), np.arange(order + 1)))]
    return float(np.log((ap @ toe @ ap) / (ac @ toe @ ac)))


def test_vectorised_measures_match_literal_composite_m_port() -> None:
    clean, noisy = _sample_pair("p257_008")
    fc, fe = framed_pair(clean, noisy, SR)
    picks = np.linspace(0, fc.shape[0] - 1, 60).astype(int)
    wss_vec = wss_per_frame(fc, fe, SR)[picks]
    llr_vec = llr_per_frame(fc, fe, SR)[picks]
    wss_lit = [_wss_literal(fc[i], fe[i]) for i in picks]
    llr_lit = [_llr_literal(fc[i], fe[i]) for i in picks]
    np.testing.assert_allclose(wss_vec, wss_lit, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(llr_vec, llr_lit, rtol=1e-6, atol=1e-7)
    # the framing includes composite.m's "+ eps" on both signals
    c64 = clean.astype(np.float64)
    np.testing.assert_array_equal(fc[5], (c64[600:1080] + EPS) * analysis_window(480))


# ---------------------------------------------------------------- definitions


def test_identical_signals_give_maximal_scores() -> None:
    clean, _ = _sample_pair()
    s = score_utterance(clean, clean, SR)
    assert s["ssnr"] == 35.0
    assert abs(s["llr"]) < 1e-9
    assert s["wss"] == 0.0
    assert s["pesq"] == pytest.approx(4.6439, abs=1e-3)
    assert s["stoi"] == pytest.approx(1.0, abs=1e-9)
    assert s["csig"] == s["cbak"] == s["covl"] == 5.0
    assert s["si_sdr"] == SI_SDR_MAX_DB  # no residual: the documented ceiling, not inf
    # paper mode: the same measures, composites unclipped (here above 5)
    p = score_utterance(clean, clean, SR, mode="paper")
    assert all(p[k] == s[k] for k in ("pesq", "stoi", "ssnr", "si_sdr", "llr", "wss"))
    assert p["csig"] == pytest.approx(3.093 + 0.603 * s["pesq"])
    assert p["cbak"] == pytest.approx(1.634 + 0.478 * s["pesq"] + 0.063 * 35.0)
    assert p["covl"] == pytest.approx(1.594 + 0.805 * s["pesq"])
    assert min(p["csig"], p["cbak"], p["covl"]) > 5.0


def test_scaling_and_sign_follow_the_definitions() -> None:
    clean, _ = _sample_pair()
    x = clean.astype(np.float64)
    # SSNR: e = -x leaves error 2x (-6.02 dB), e = x/2 leaves x/2 (+6.02 dB), e = 2x gives 0 dB
    assert ssnr(x, -x, SR) == pytest.approx(-20 * math.log10(2), abs=1e-6)
    assert ssnr(x, 0.5 * x, SR) == pytest.approx(20 * math.log10(2), abs=1e-6)
    assert ssnr(x, 2 * x, SR) == pytest.approx(0.0, abs=1e-6)
    assert ssnr(x, np.zeros_like(x), SR) == pytest.approx(0.0, abs=1e-6)
    # LLR and WSS ignore gain and polarity (LPC and spectral slopes are scale-free)
    for e in (0.5 * x, -x, 3 * x):
        assert abs(llr(x, e, SR)) < 1e-8
        assert wss(x, e, SR) < 1e-6
    # ... but not a change of spectral shape
    tilted = np.concatenate([[x[0]], x[1:] - 0.9 * x[:-1]])
    assert llr(x, tilted, SR) > 0.5 and wss(x, tilted, SR) > 0.5


def test_unequal_lengths_are_cut_to_the_shorter() -> None:
    clean, noisy = _sample_pair()
    rng = np.random.default_rng(3)
    longer = np.concatenate([noisy, 0.3 * rng.standard_normal(8000).astype(np.float32)])
    for fn in (ssnr, llr, wss, stoi_score):
        assert fn(clean, longer, SR) == fn(clean, noisy, SR)
        assert fn(longer, clean, SR) == fn(noisy, clean, SR)
    assert si_sdr(clean, longer) == si_sdr(clean, noisy)
    assert si_sdr(longer, clean) == si_sdr(noisy, clean)
    a = score_utterance(clean, longer, SR)
    b = score_utterance(clean, noisy, SR)
    assert all(a[k] == b[k] for k in ("ssnr", "llr", "wss", "stoi", "si_sdr"))


def test_noisy_file_scores_are_plausible_and_modes_agree() -> None:
    clean, noisy = _sample_pair("p232_003")
    d = score_utterance(clean, noisy, SR)
    p = score_utterance(clean, noisy, SR, mode="paper")
    assert list(d) == list(METRICS)
    assert 1.0 < d["pesq"] < 4.0 and 0.5 < d["stoi"] < 1.0
    assert -10 < d["ssnr"] < 35 and d["llr"] > 0 and d["wss"] > 0
    assert -5 < d["si_sdr"] < 30
    frames = framed_pair(clean, noisy, SR)[0].shape[0]
    assert keep_count(frames, "paper") == keep_count(frames, "default")
    assert all(1 < d[k] < 5 for k in ("csig", "cbak", "covl"))
    assert p == d  # nothing clipped, no rounding tie: both modes identical


def test_paper_mode_rounding_changes_the_95_percent_cut() -> None:
    clean, noisy = _sample_pair()
    c, n = clean[:4080], noisy[:4080]  # exactly 30 frames: keeps 28 (default) or 29 (paper)
    assert framed_pair(c, n, SR)[0].shape[0] == 30
    fc, fe = framed_pair(c, n, SR)
    for fn, per_frame in ((llr, llr_per_frame), (wss, wss_per_frame)):
        values = np.sort(per_frame(fc, fe, SR))
        assert fn(c, n, SR) == pytest.approx(values[:28].mean(), rel=1e-12)
        assert fn(c, n, SR, "paper") == pytest.approx(values[:29].mean(), rel=1e-12)
        assert fn(c, n, SR) != fn(c, n, SR, "paper")
    # 31 frames: round(29.45) = 29 in both modes
    c, n = clean[:4200], noisy[:4200]
    assert llr(c, n, SR) == llr(c, n, SR, "paper") and wss(c, n, SR) == wss(c, n, SR, "paper")


def test_too_short_and_bad_arguments_raise_metric_input_error() -> None:
    x = np.ones(599, dtype=np.float32)
    with pytest.raises(MetricInputError, match="too short"):
        ssnr(x, x, SR)
    with pytest.raises(MetricInputError, match="mode"):
        score_utterance(x, x, SR, mode="matlab")  # type: ignore[arg-type]
    with pytest.raises(MetricInputError, match="8 or 16 kHz"):
        score_utterance(x, x, 22050)
    with pytest.raises(MetricInputError, match="1-D"):
        ssnr(np.ones((600, 2)), np.ones((600, 2)), SR)


def test_eight_khz_uses_narrowband_and_order_10() -> None:
    import soxr

    clean, noisy = _sample_pair()
    c8 = soxr.resample(clean, SR, 8000, quality="VHQ")
    n8 = soxr.resample(noisy, SR, 8000, quality="VHQ")
    s = score_utterance(c8, n8, 8000)
    assert s["pesq"] == pytest.approx(pesq_score(c8, n8, 8000, band="nb"))
    assert framed_pair(c8, n8, 8000)[0].shape[1] == 240
    assert 1.0 < s["pesq"] < 4.6 and s["llr"] > 0


# ---------------------------------------------------------------- SI-SDR


def _torchmetrics_si_sdr(clean: np.ndarray, enhanced: np.ndarray) -> float:
    import torch
    from torchmetrics.functional.audio import scale_invariant_signal_distortion_ratio

    n = min(clean.size, enhanced.size)
    c = torch.from_numpy(np.asarray(clean[:n], dtype=np.float64))
    e = torch.from_numpy(np.asarray(enhanced[:n], dtype=np.float64))
    return float(scale_invariant_signal_distortion_ratio(e, c, zero_mean=True))


def test_si_sdr_matches_torchmetrics_on_real_audio() -> None:
    rng = np.random.default_rng(7)
    diffs = []
    for name in _sample_names():
        clean, noisy = _sample_pair(name)
        gain = float(rng.uniform(0.2, 3.0))
        for estimate in (noisy, gain * noisy + 0.01, 0.5 * (clean + noisy)):
            ours = si_sdr(clean, estimate)
            assert math.isfinite(ours)
            diffs.append(abs(ours - _torchmetrics_si_sdr(clean, estimate)))
    assert len(diffs) == 75 and max(diffs) < 1e-4


def test_si_sdr_is_invariant_to_gain_and_polarity() -> None:
    clean, noisy = _sample_pair("p257_008")
    base = si_sdr(clean, noisy)
    for factor in (-1.0, 0.001, 0.37, 2.0, -25.0, 1e4):
        assert si_sdr(clean, factor * noisy.astype(np.float64)) == pytest.approx(base, abs=1e-9)
    # the reference's gain does not matter either, nor a DC offset (both zero-meaned)
    assert si_sdr(3.0 * clean.astype(np.float64), noisy) == pytest.approx(base, abs=1e-9)
    assert si_sdr(clean, noisy.astype(np.float64) + 0.05) == pytest.approx(base, abs=1e-9)


def test_si_sdr_of_added_noise_is_the_signal_to_noise_ratio() -> None:
    clean, _ = _sample_pair("p232_003")
    c = clean.astype(np.float64) - clean.mean()
    rng = np.random.default_rng(11)
    white = rng.standard_normal(c.size)
    white -= white.mean()
    orthogonal = white - (white @ c) / (c @ c) * c
    for snr_db in (-5.0, 0.0, 5.0, 10.0, 20.0, 30.0):
        for noise, tol in ((white, 0.1), (orthogonal, 1e-9)):
            scale = math.sqrt((c @ c) / (noise @ noise) / 10 ** (snr_db / 10))
            assert si_sdr(c, c + scale * noise) == pytest.approx(snr_db, abs=tol)


def test_si_sdr_degenerate_inputs() -> None:
    clean, noisy = _sample_pair()
    x = clean.astype(np.float64)
    # exact and exactly scaled copies: the ceiling; nothing along the reference: the floor
    assert si_sdr(x, x) == si_sdr(x, -4.0 * x) == SI_SDR_MAX_DB
    x0 = x - x.mean()
    ramp = np.linspace(-1.0, 1.0, x.size)
    assert si_sdr(x, ramp - (ramp @ x0) / (x0 @ x0) * x0) == SI_SDR_MIN_DB
    for silent in (np.zeros_like(x), np.full_like(x, 0.25)):
        with pytest.raises(MetricInputError, match="silent"):
            si_sdr(silent, noisy)
        with pytest.raises(MetricInputError, match="silent"):
            si_sdr(clean, silent)
    bad = noisy.copy()
    bad[10] = np.inf
    with pytest.raises(MetricInputError, match="NaN or Inf"):
        si_sdr(clean, bad)
    with pytest.raises(MetricInputError, match="empty"):
        si_sdr(clean, noisy[:0])
    with pytest.raises(MetricInputError, match="1-D"):
        si_sdr(np.ones((600, 2)), np.ones((600, 2)))


# ---------------------------------------------------------------- batches


def test_summary_statistics() -> None:
    s = MetricSummary.of([1.0, 2.0, 3.0])
    assert (s.mean, s.std, s.count) == (2.0, 1.0, 3)
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, df=2)
    assert s.ci95_low == pytest.approx(2 - half) and s.ci95_high == pytest.approx(2 + half)
    one = MetricSummary.of([4.0])
    assert one.mean == 4.0 and one.count == 1 and math.isnan(one.std)
    assert MetricSummary.of([]).count == 0


def test_batch_records_failures_and_scores_the_rest(tmp_path: Path) -> None:
    clean, noisy = _sample_pair()
    bad = noisy.copy()
    bad[100] = np.nan
    sf.write(tmp_path / "clean8k.wav", clean[::2], 8000)
    pairs = [
        ("good", clean, noisy),
        ("silent", clean, np.zeros_like(noisy)),
        ("short", clean[:2000], noisy[:2000]),
        ("nan", clean, bad),
        ("missing", tmp_path / "nope.wav", tmp_path / "nope2.wav"),
        ("rate", VOICEBANK_SAMPLE / "clean" / "p232_003.wav", tmp_path / "clean8k.wav"),
    ]
    seen: list[int] = []
    result = score_pairs(pairs, workers=1, progress=seen.append, sample_rate=SR)
    assert [r["name"] for r in result.rows] == ["good"]
    assert [f.name for f in result.failures] == ["silent", "short", "nan", "missing", "rate"]
    messages = dict(result.failures)
    assert "silent" in messages["silent"]
    assert "too short" in messages["short"]
    assert "NaN" in messages["nan"]
    assert "not found" in messages["missing"]
    assert "differ" in messages["rate"]
    assert sum(seen) == len(pairs)
    assert result.n_scored == 1 and result.n_total == 6
    assert result.summary["pesq"].count == 1
    assert result.rows[0]["pesq"] == score_utterance(clean, noisy, SR)["pesq"]
    js = result.to_dict()
    assert js["scored"] == 1 and js["metrics"]["pesq"]["std"] is None
    assert len(js["failures"]) == 5


def test_batch_resample_option_fixes_a_rate_mismatch(tmp_path: Path) -> None:
    clean, noisy = _sample_pair()
    import soxr

    sf.write(tmp_path / "c.wav", clean, SR)
    sf.write(tmp_path / "n8.wav", soxr.resample(noisy, SR, 8000, quality="VHQ"), 8000)
    pairs = [("x", tmp_path / "c.wav", tmp_path / "n8.wav")]
    assert score_pairs(pairs).failures[0].message.startswith("sample rates differ")
    result = score_pairs(pairs, resample=True)
    assert result.n_scored == 1
    n8, _ = sf.read(tmp_path / "n8.wav", dtype="float32")
    up = soxr.resample(n8, 8000, SR, quality="VHQ")
    direct = score_utterance(_read(tmp_path / "c.wav"), up, SR)
    assert result.rows[0] == {"name": "x", **direct}


def test_two_workers_give_identical_numbers() -> None:
    root = need_shared(VOICEBANK_SAMPLE)
    names = _sample_names(6)
    pairs = [(n, root / "clean" / f"{n}.wav", root / "noisy" / f"{n}.wav") for n in names]
    pairs.append(("silent", root / "clean" / f"{names[0]}.wav", np.zeros(SR, np.float32)))
    one = score_pairs(pairs, workers=1, mode="paper", sample_rate=SR)
    seen: list[int] = []
    two = score_pairs(pairs, workers=2, mode="paper", progress=seen.append, sample_rate=SR)
    assert one.rows == two.rows and one.failures == two.failures
    assert [r["name"] for r in two.rows] == names  # input order, whatever finished first
    assert len(seen) == len(pairs) and two.n_scored == 6
    assert one.summary == two.summary


def test_blas_is_single_threaded_while_scoring_and_restored_after() -> None:
    from threadpoolctl import threadpool_info

    from segan_cli.core.metrics.threads import single_threaded_blas

    def blas_threads() -> list[int]:
        return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]

    before = blas_threads()
    if not before:
        pytest.skip("no BLAS library found by threadpoolctl")
    with single_threaded_blas():
        assert blas_threads() == [1] * len(before)
    assert blas_threads() == before
