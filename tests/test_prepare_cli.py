"""`segan prepare pairs|mix` and `segan stats` on real VoiceBank-DEMAND audio."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from segan_cli.core.data.pipeline import corpus as corpus_mod
from segan_cli.core.data.pipeline.cache import SplitCache
from segan_cli.core.data.pipeline.manifest import load_manifest


def _pairs(cli, sample: Path, out: Path, *extra: str):
    return cli("prepare", "pairs", "--clean", sample / "clean", "--noisy", sample / "noisy",
               "--out", out, *extra)


def test_pairs_builds_splits_manifest_and_cache(cli, tmp_path: Path, voicebank_sample) -> None:
    out = tmp_path / "vb"
    res = _pairs(cli, voicebank_sample, out, "--test-speakers", "p257")
    assert "corpus ready" in res.stdout
    m = load_manifest(out)
    assert m.sample_rate == 16000
    assert {u.speaker for u in m.splits["test"]} == {"p257"}
    assert {u.speaker for u in m.splits["train"] + m.splits["valid"]} == {"p232"}
    assert sum(len(v) for v in m.splits.values()) == 25 and m.splits["valid"]
    # files are real 16 kHz audio identical to the source (already 16 kHz PCM_16)
    u = m.splits["test"][0]
    src, _ = sf.read(voicebank_sample / "clean" / f"{u.id}.wav", dtype="float32")
    got, sr = sf.read(out / u.clean, dtype="float32")
    assert sr == 16000 and np.array_equal(src, got)
    # measured SNR of a VoiceBank test file lies near one of the nominal SNRs
    assert all(u.snr is not None and -5 < u.snr < 25 for u in m.splits["test"])
    # statistics over the training split
    assert 0.01 < m.stats["clean_std"] < 0.5 and 0.01 < m.stats["noisy_std"] < 0.5
    # the cache holds exactly the wav samples, windows never cross utterances
    cache = SplitCache(out, "test", 16384, 8192)
    assert cache.num_utterances == len(m.splits["test"])
    j = [x.id for x in m.splits["test"]].index(u.id)
    c, n = cache.utterance(j)
    assert np.array_equal(c, got)
    for i in range(len(cache)):
        utt, off = cache.index[i]
        assert off + min(16384, cache.bounds[utt][1]) <= cache.bounds[utt][1]
    assert m.source["resampler"]["library"] == "soxr"


def test_pairs_errors_name_the_files(cli, tmp_path: Path, voicebank_sample) -> None:
    clean = tmp_path / "clean"
    noisy = tmp_path / "noisy"
    shutil.copytree(voicebank_sample / "clean", clean)
    shutil.copytree(voicebank_sample / "noisy", noisy)
    (noisy / "p232_005.wav").unlink()
    x, sr = sf.read(noisy / "p257_003.wav")
    sf.write(noisy / "p257_003.wav", x[: len(x) // 2], sr)
    res = cli("prepare", "pairs", "--clean", clean, "--noisy", noisy, "--out", tmp_path / "o",
              code=2)
    assert "p232_005" in res.stderr and "p257_003" in res.stderr
    assert not (tmp_path / "o" / "manifest.json").exists()
    res = cli("prepare", "pairs", "--clean", tmp_path / "nope", "--noisy", noisy, "--out",
              tmp_path / "o", code=2)
    assert "folder not found" in res.stderr


def test_rerun_is_safe_and_force_rebuilds(cli, tmp_path: Path, voicebank_sample) -> None:
    out = tmp_path / "vb"
    _pairs(cli, voicebank_sample, out)
    stamp = (out / "manifest.json").stat().st_mtime_ns
    res = _pairs(cli, voicebank_sample, out)
    assert "already exists" in res.stdout
    assert (out / "manifest.json").stat().st_mtime_ns == stamp
    _pairs(cli, voicebank_sample, out, "--force")
    assert (out / "manifest.json").stat().st_mtime_ns != stamp


def test_interrupted_prepare_resumes(cli, tmp_path: Path, voicebank_sample, monkeypatch) -> None:
    out = tmp_path / "vb"
    real_add = corpus_mod.CorpusBuilder.add
    calls = {"n": 0}

    def flaky_add(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 10:
            raise KeyboardInterrupt
        return real_add(self, *args, **kwargs)

    monkeypatch.setattr(corpus_mod.CorpusBuilder, "add", flaky_add)
    res = cli("prepare", "pairs", "--clean", voicebank_sample / "clean", "--noisy",
              voicebank_sample / "noisy", "--out", out, code=130)
    assert "resume" in res.stderr
    assert not (out / "manifest.json").exists()
    calls["n"] = 100
    _pairs(cli, voicebank_sample, out)
    assert calls["n"] == 100 + 25 - 9  # only the unfinished utterances were redone
    m = load_manifest(out)
    assert sum(len(v) for v in m.splits.values()) == 25
    assert not list(out.rglob(".*.tmp*"))


def test_mix_is_deterministic_with_held_out_test(cli, tmp_path: Path, voicebank_sample,
                                                 real_noise_dir: Path) -> None:
    args = ["--clean", voicebank_sample / "clean", "--noise", real_noise_dir,
            "--test-speakers", "p257", "--test-noises", "demand_p257_019", "--seed", "7"]
    cli("prepare", "mix", *args, "--out", tmp_path / "a")
    cli("prepare", "mix", *args, "--out", tmp_path / "b")
    ma, mb = load_manifest(tmp_path / "a"), load_manifest(tmp_path / "b")
    for split in ("train", "valid", "test"):
        assert [(u.id, u.noise, u.snr) for u in ma.splits[split]] == \
               [(u.id, u.noise, u.snr) for u in mb.splits[split]]
    assert {u.noise for u in ma.splits["test"]} == {"demand_p257_019"}
    assert "demand_p257_019" not in {u.noise for u in ma.splits["train"] + ma.splits["valid"]}
    assert {u.speaker for u in ma.splits["test"]} == {"p257"}
    for split, snrs in (("train", [0, 5, 10, 15]), ("test", [2.5, 7.5, 12.5, 17.5])):
        for u in ma.splits[split]:
            assert min(abs(u.snr - s) for s in snrs) < 0.2, (u.id, u.snr)
    # the noisy file is clean + scaled noise: residual correlates with the noise source
    u = ma.splits["test"][0]
    c, _ = sf.read(tmp_path / "a" / u.clean)
    n, _ = sf.read(tmp_path / "a" / u.noisy)
    assert np.max(np.abs(n)) <= 1.0 and not np.allclose(c, n)


def test_mix_valid_noises_are_heard_only_in_validation(
        cli, tmp_path: Path, voicebank_sample, real_noise_dir: Path) -> None:
    clean = tmp_path / "clean"  # three speakers: p232's files split in two
    clean.mkdir()
    for i, f in enumerate(sorted((voicebank_sample / "clean").glob("*.wav"))):
        name = f.name.replace("p232", "p999") if f.name.startswith("p232") and i % 2 else f.name
        (clean / name).symlink_to(f)
    cli("prepare", "mix", "--clean", clean, "--noise", real_noise_dir,
        "--out", tmp_path / "m", "--test-speakers", "p257", "--valid-speakers", "p999",
        "--test-noises", "demand_p257_019", "--valid-noises", "demand_p232_003,demand_p232_011")
    m = load_manifest(tmp_path / "m")
    valid = {"demand_p232_003", "demand_p232_011"}
    assert m.splits["valid"] and {u.noise for u in m.splits["valid"]} <= valid
    assert {u.noise for u in m.splits["train"]} == {"demand_p257_008"}
    assert {u.noise for u in m.splits["test"]} == {"demand_p257_019"}
    assert m.source["valid_noises"] == sorted(valid)
    assert m.source["train_noises"] == ["demand_p257_008"]
    res = cli("prepare", "mix", "--clean", voicebank_sample / "clean", "--noise",
              real_noise_dir, "--out", tmp_path / "bad", "--test-noises", "demand_p257_019",
              "--valid-noises", "demand_p257_019", code=2)
    assert "both" in res.stderr


def test_mix_custom_snrs(cli, tmp_path: Path, voicebank_sample, real_noise_dir: Path) -> None:
    cli("prepare", "mix", "--clean", voicebank_sample / "clean", "--noise", real_noise_dir,
        "--out", tmp_path / "m", "--train-snrs", "3", "--test-snrs", "-2")
    m = load_manifest(tmp_path / "m")
    assert all(abs(u.snr - 3) < 0.2 for u in m.splits["train"])
    assert all(abs(u.snr + 2) < 0.2 for u in m.splits["test"])


def test_stats_table_json_and_plot(cli, tmp_path: Path, voicebank_sample) -> None:
    out = tmp_path / "vb"
    _pairs(cli, voicebank_sample, out, "--test-speakers", "p257")
    res = cli("stats", out)
    for word in ("train", "valid", "test", "SNR", "clipped"):
        assert word in res.stdout
    data = json.loads(cli("stats", out, "--json").stdout)
    test = data["splits"]["test"]
    assert test["utterances"] == 11 and test["speaker_names"] == ["p257"]
    assert 0 < test["duration"]["min"] <= test["duration"]["median"] <= test["duration"]["max"]
    assert test["noisy"]["peak"] <= 1.0 and test["clean"]["clipped"] == 0
    assert sum(test["snr"]["histogram"].values()) == 11
    png = tmp_path / "h.png"
    cli("stats", out, "--plot", png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("rate", [8000, 48000])
def test_pairs_resamples_other_rates(cli, tmp_path: Path, voicebank_sample, rate: int) -> None:
    import soxr

    for kind in ("clean", "noisy"):
        (tmp_path / kind).mkdir()
        for name in ("p232_003", "p232_005", "p257_003"):
            x, sr = sf.read(voicebank_sample / kind / f"{name}.wav", dtype="float32")
            stereo = np.stack([x, x], axis=1)
            sf.write(tmp_path / kind / f"{name}.flac", soxr.resample(stereo, sr, rate), rate,
                     subtype="PCM_24")
    cli("prepare", "pairs", "--clean", tmp_path / "clean", "--noisy", tmp_path / "noisy",
        "--out", tmp_path / "o")
    m = load_manifest(tmp_path / "o")
    u = m.splits["train"][0]
    info = sf.info(tmp_path / "o" / u.clean)
    assert info.samplerate == 16000 and info.channels == 1
    src = sf.info(voicebank_sample / "clean" / f"{u.id}.wav")
    assert abs(info.frames - src.frames) <= 2


def test_resume_with_changed_split_plan_has_no_duplicates(cli, tmp_path: Path,
                                                         voicebank_sample, monkeypatch) -> None:
    out = tmp_path / "vb"
    real_add = corpus_mod.CorpusBuilder.add
    calls = {"n": 0}

    def flaky_add(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 20:
            raise KeyboardInterrupt
        return real_add(self, *args, **kwargs)

    monkeypatch.setattr(corpus_mod.CorpusBuilder, "add", flaky_add)
    cli("prepare", "pairs", "--clean", voicebank_sample / "clean", "--noisy",
        voicebank_sample / "noisy", "--out", out, code=130)
    monkeypatch.setattr(corpus_mod.CorpusBuilder, "add", real_add)
    _pairs(cli, voicebank_sample, out, "--valid-speakers", "p257")
    m = load_manifest(out)
    ids = [u.id for utts in m.splits.values() for u in utts]
    assert len(ids) == len(set(ids)) == 25
    assert {u.speaker for u in m.splits["valid"]} == {"p257"}


def test_bad_audio_in_a_prepare_is_named(cli, tmp_path: Path, voicebank_sample) -> None:
    for kind in ("clean", "noisy"):
        shutil.copytree(voicebank_sample / kind, tmp_path / kind)
    (tmp_path / "noisy" / "p232_006.wav").write_bytes(b"RIFF....not really a wav")
    res = cli("prepare", "pairs", "--clean", tmp_path / "clean", "--noisy", tmp_path / "noisy",
              "--out", tmp_path / "o", code=2)
    assert "p232_006.wav" in res.stderr and "Traceback" not in res.output
    res = cli("prepare", "mix", "--clean", tmp_path / "clean", "--noise", tmp_path / "noisy",
              "--out", tmp_path / "m", code=2)
    assert "p232_006.wav" in res.stderr


def test_mix_names_a_noise_recording_cut_short(cli, tmp_path: Path, voicebank_sample,
                                              real_noise_dir: Path) -> None:
    """A noise file holding less audio than its header promises is used, and said so."""
    noise = real_noise_dir / "demand_p257_008.wav"
    data = noise.read_bytes()
    noise.write_bytes(data[:len(data) * 2 // 3])  # the header still promises all of it
    res = cli("prepare", "mix", "--clean", voicebank_sample / "clean", "--noise",
              real_noise_dir, "--out", tmp_path / "m", "--test-speakers", "p257")
    assert f"note: {noise} is cut short: its header promises" in res.stderr


def test_refused_prepare_leaves_no_folder_behind(cli, tmp_path: Path, voicebank_sample,
                                                 real_noise_dir: Path) -> None:
    """A prepare refused at its first recording (here an empty file) wrote nothing yet:
    it must not leave a half-made corpus folder (with its progress file) behind."""
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "a000_000.wav").write_bytes(b"")
    for f in sorted((voicebank_sample / "clean").glob("*.wav"))[:3]:
        (clean / f.name).symlink_to(f)
    res = cli("prepare", "mix", "--clean", clean, "--noise", real_noise_dir,
              "--out", tmp_path / "c", code=2)
    assert "a000_000.wav" in res.stderr
    assert not (tmp_path / "c").exists()


def test_mix_refuses_a_silent_noise_before_writing(cli, tmp_path: Path, voicebank_sample,
                                                   real_noise_dir: Path) -> None:
    """A noise recording of zeros is named before the corpus folder exists (not after
    the utterances mixed before it reached that noise were written)."""
    sf.write(real_noise_dir / "zz_silence.wav", np.zeros(16000, np.float32), 16000)
    res = cli("prepare", "mix", "--clean", voicebank_sample / "clean", "--noise",
              real_noise_dir, "--out", tmp_path / "m", "--test-speakers", "p257", code=2)
    assert "zz_silence.wav is silent" in res.stderr and "Traceback" not in res.output
    assert not (tmp_path / "m").exists()
