"""Memory and load: the streamed Wiener filter, the scoring limit, worker caps, one
missing-file policy for every evaluation row, and honest warnings for short files."""

from __future__ import annotations

import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from segan_cli.core.dsp.wiener import wiener_enhance
from segan_cli.core.dsp.wiener_stream import WienerStream
from segan_cli.core.enhancement.whole_file import WienerFileEnhancer
from segan_cli.core.metrics.suite import MAX_SCORE_SECONDS
from segan_cli.core.runtime.cpus import usable_cores
from segan_cli.core.training.module import SeganGAN
from segan_cli.settings import load_settings

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _signal(n: int, sr: int, seed: int = 0) -> np.ndarray:
    t = np.arange(n) / sr
    rng = np.random.default_rng(seed)
    speech = 0.25 * np.sin(2 * np.pi * 170 * t) * np.maximum(np.sin(2 * np.pi * 1.3 * t), 0)
    return (speech + 0.03 * rng.standard_normal(n)).astype(np.float32)


@pytest.mark.parametrize("sr,n,block", [
    (16000, 16000 * 7 + 13, 4000), (16000, 3000, 700), (16000, 2049, 2049), (16000, 300, 64),
    (8000, 8000 * 5, 333), (48000, 48000 * 4 + 1, 48000), (22050, 22050 * 6 + 7, 5001),
    (16000, 16000 * 3, 1), (16000, 16000 * 9, 16000 * 30)])
def test_stream_equals_the_whole_signal_filter(sr: int, n: int, block: int) -> None:
    x = _signal(n, sr, n)
    ref = wiener_enhance(x, sr)
    stream = WienerStream(sr)
    out = [stream.push(x[a:a + block]) for a in range(0, n, block)] + [stream.finish()]
    y = np.concatenate(out)
    assert y.shape == ref.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, ref, atol=1e-6)


def test_wiener_file_matches_whole_file_per_channel(cli, tmp_path: Path) -> None:
    x = np.stack([_signal(44100 * 4 + 5, 44100, 1), _signal(44100 * 4 + 5, 44100, 2)], axis=1)
    src = tmp_path / "in.wav"
    sf.write(src, x, 44100, subtype="FLOAT")
    cli("enhance", src, tmp_path / "out.wav", "--method", "wiener",
        "--set", "enhance.block_seconds=0.7")
    y, sr = sf.read(tmp_path / "out.wav", dtype="float32")
    assert sr == 44100 and y.shape == x.shape
    for c in range(2):
        np.testing.assert_allclose(y[:, c], wiener_enhance(x[:, c], 44100), atol=1e-6)


def _peak_bytes(path: Path) -> int:
    tracemalloc.start()
    try:
        WienerFileEnhancer(block_seconds=5.0).enhance_file(path, path.with_suffix(".out.wav"))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_wiener_memory_does_not_grow_with_duration(tmp_path: Path) -> None:
    short, long = tmp_path / "short.wav", tmp_path / "long.wav"
    sf.write(short, _signal(16000 * 20, 16000), 16000)
    sf.write(long, _signal(16000 * 120, 16000), 16000)
    a, b = _peak_bytes(short), _peak_bytes(long)
    # the whole-file filter would need ~200 bytes per sample: 380 MB for two minutes
    assert b < 1.25 * a and b < 60e6, (a, b)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    settings = load_settings(CONFIGS / "tiny.yaml", ["data.window=1024", "data.hop=512"])
    torch.manual_seed(0)
    module = SeganGAN(settings, None)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                "global_step": 0}, path)
    return path


def _cut(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("method", ["model", "wiener"])
@pytest.mark.parametrize("subtype,ext", [("PCM_16", "wav"), ("FLOAT", "wav"),
                                         ("PCM_24", "aiff")])
def test_file_shorter_than_its_header_is_enhanced_with_a_warning(
        cli, ckpt: Path, tmp_path: Path, method: str, subtype: str, ext: str) -> None:
    src = tmp_path / f"cut.{ext}"
    sf.write(src, _signal(16000, 16000), 16000, subtype=subtype)
    _cut(src, 0.6)
    present = sf.info(src).frames
    extra = ["--ckpt", ckpt] if method == "model" else []
    res = cli("enhance", src, tmp_path / "out.wav", "--method", method, *extra)
    warnings = [ln for ln in res.stderr.splitlines() if "warning" in ln]
    assert len(warnings) == 1 and str(src) in warnings[0] and "1.00 s" in warnings[0]
    assert sf.info(tmp_path / "out.wav").frames == present


def test_whole_files_give_no_warning(cli, tmp_path: Path) -> None:
    src = tmp_path / "ok.wav"
    sf.write(src, _signal(16000, 16000), 16000)
    res = cli("enhance", src, tmp_path / "out.wav", "--method", "wiener")
    assert "warning" not in res.stderr


def test_workers_are_capped_at_usable_cores(cli, tmp_path: Path, monkeypatch) -> None:
    import segan_cli.cli.common as common

    monkeypatch.setattr(common, "usable_cores", lambda: 1)
    src = tmp_path / "in"
    for i in range(2):
        (src / "d").mkdir(parents=True, exist_ok=True)
        sf.write(src / "d" / f"{i}.wav", _signal(8000, 16000, i), 16000)
    res = cli("enhance", src, "--out", tmp_path / "out", "--method", "wiener",
              "--workers", "32")
    capped = [ln for ln in res.stderr.splitlines() if "capped" in ln]
    assert len(capped) == 1 and "--workers 32 capped at 1" in capped[0]
    assert len(list((tmp_path / "out").rglob("*.wav"))) == 2
    res = cli("evaluate", "--clean", src / "d", "--enhanced", tmp_path / "out" / "d",
              "--workers", "32", code=None)
    assert "--workers 32 capped at 1" in res.stderr
    res = cli("enhance", src, "--out", tmp_path / "o2", "--method", "wiener", "--workers", "0",
              code=2)
    assert "at least 1" in res.stderr


def test_usable_cores_follows_the_affinity_mask(monkeypatch) -> None:
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3}, raising=False)
    assert usable_cores() == 1
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    assert usable_cores() == max(1, os.cpu_count() or 1)


def test_overlong_files_are_refused_by_name_unread(cli, voicebank_sample: Path,
                                                   tmp_path: Path) -> None:
    clean, enh = tmp_path / "clean", tmp_path / "enh"
    clean.mkdir()
    enh.mkdir()
    for p in sorted((voicebank_sample / "clean").glob("*.wav"))[:2]:
        shutil.copy(p, clean / p.name)
        shutil.copy(voicebank_sample / "noisy" / p.name, enh / p.name)
    seconds = int(MAX_SCORE_SECONDS) + 10
    with sf.SoundFile(clean / "long.wav", "w", 16000, 1, "PCM_16") as f:
        for _ in range(seconds):
            f.write(np.zeros(16000, np.float32) + 0.01)
    shutil.copy(clean / "long.wav", enh / "long.wav")
    res = cli("evaluate", "--clean", clean, "--enhanced", enh, "--workers", "1")
    assert "2/3" in res.stdout
    assert f"long: {clean / 'long.wav'} lasts {seconds} s, longer than the" in res.stderr


def test_pesq_crash_is_one_failed_file(voicebank_sample: Path) -> None:
    """pesq 0.0.4 segfaults past ~50 speech segments; that must fail the file only."""
    from segan_cli.core.metrics import MetricInputError, pesq_score

    files = sorted((voicebank_sample / "clean").glob("*.wav"))
    speech = np.concatenate([sf.read(p, dtype="float32")[0] for p in files])
    sr, n = 16000, 16000 * 80
    x = np.zeros(n, np.float32)
    for k, a in enumerate(range(0, n - sr, int(1.3 * sr))):  # 1 s phrases, 0.3 s pauses
        x[a:a + sr] = speech[(k * sr) % (speech.size - sr):][:sr]
    noisy = x + 0.01 * np.random.default_rng(0).standard_normal(n).astype(np.float32)
    with pytest.raises(MetricInputError, match="PESQ crashed"):
        pesq_score(x, noisy, sr)
    assert 1.0 < pesq_score(x[:sr * 25], noisy[:sr * 25], sr) < 5.0  # forked, and fine


@pytest.fixture
def corpus(sample_corpus: Path, tmp_path: Path) -> Path:
    out = tmp_path / "corpus"
    shutil.copytree(sample_corpus, out)
    return out


@pytest.mark.parametrize("missing", ["noisy", "clean"])
def test_missing_file_policy_is_the_same_in_every_row(cli, corpus: Path, ckpt: Path,
                                                      missing: str, tmp_path: Path) -> None:
    import json

    test = sorted((corpus / "test" / missing).glob("*.wav"))
    gone = test[3]
    gone.unlink()
    n = len(test)
    res = cli("evaluate", "--data", corpus, "--ckpt", ckpt, "--workers", "1",
              "--json", tmp_path / "s.json")
    summary = json.loads((tmp_path / "s.json").read_text())["systems"]
    assert len(summary) == 3
    for label, row in summary.items():
        assert (row["scored"], row["total"]) == (n - 1, n), label
        assert [f["name"] for f in row["failures"]] == [gone.stem], label
        assert str(gone) in row["failures"][0]["message"]
    lines = [ln for ln in res.stderr.splitlines() if "not scored" in ln]
    assert len(lines) == 3 and all(gone.stem in ln for ln in lines)


def test_evaluate_warns_once_for_a_short_file(cli, voicebank_sample: Path,
                                              tmp_path: Path) -> None:
    clean, enh = tmp_path / "clean", tmp_path / "enh"
    clean.mkdir()
    enh.mkdir()
    for p in sorted((voicebank_sample / "clean").glob("*.wav"))[:2]:
        shutil.copy(p, clean / p.name)
        shutil.copy(voicebank_sample / "noisy" / p.name, enh / p.name)
    cut = sorted(enh.glob("*.wav"))[0]
    _cut(cut, 0.8)
    res = cli("evaluate", "--clean", clean, "--enhanced", enh, "--enhanced", enh,
              "--name", "a", "--name", "b", "--workers", "1")
    warnings = [ln for ln in res.stderr.splitlines() if "warning" in ln]
    assert len(warnings) == 1 and str(cut) in warnings[0]


def test_enhanced_rows_hold_one_chunk_at_a_time(corpus: Path, monkeypatch) -> None:
    """Scores do not depend on the chunking; no more than a chunk is held enhanced."""
    from segan_cli.core.evaluation import plans as evaluation

    def table(chunk: int) -> dict:
        monkeypatch.setattr(evaluation, "CHUNK_FILES", chunk)
        _, systems = evaluation.corpus_systems(corpus)
        evaluation.score_systems(systems, 1, "default")
        return {s.label: s.result.to_dict() for s in systems}

    sizes: list[int] = []
    real = evaluation.score_pairs

    def spy(pairs, *args, **kwargs):
        if pairs and isinstance(pairs[0][2], np.ndarray):
            sizes.append(len(pairs))
        return real(pairs, *args, **kwargs)

    whole = table(1000)
    monkeypatch.setattr(evaluation, "score_pairs", spy)
    assert table(4) == whole and max(sizes) == 4 and len(sizes) == 3  # 11 test files
