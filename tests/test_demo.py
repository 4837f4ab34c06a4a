"""The demo corpus, built for real from Debian's packages through a shared source cache.

The build runs once per module (about 20 s with a cold cache, a few seconds warm);
set SEGAN_CACHE to reuse the sources across test sessions. Without apt-get and
dpkg-deb on this machine, the build tests skip and only the error path is checked.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from segan_cli.core.data.pipeline.corpus import CorpusExistsError, measured_snr
from segan_cli.core.data.pipeline.manifest import Manifest, load_manifest
from segan_cli.core.data.sources import (
    debian,
    demo,
    demo_clip_groups,
    demo_clip_measure,
    demo_clips,
    demo_noise,
    demo_speech,
)
from segan_cli.core.data.sources.debian import fetch_packages
from segan_cli.core.data.sources.demo import (
    MIX_HINT,
    TEST_VOICE,
    demo_cache,
    demo_noises,
    fetch_all,
    prepare_demo,
)
from segan_cli.core.data.sources.demo_noise import NOISES, noise_specs
from segan_cli.core.runtime.progress import SilentProgress
from segan_cli.errors import CorpusError
from segan_cli.settings import DataSettings

DATA = DataSettings()
TEST_NOISES = {s.name for s in NOISES if s.role == "test"}


@pytest.fixture(scope="module")
def source_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """$SEGAN_CACHE/demo when set (reused across sessions), else a fresh folder."""
    if os.environ.get("SEGAN_CACHE"):
        return demo_cache()
    return tmp_path_factory.mktemp("demo-cache")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, source_cache: Path
          ) -> tuple[Path, Manifest, float]:
    """The small demo corpus, built once for the module; also its build time."""
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")) \
            and not (source_cache / "extracted").is_dir():
        pytest.skip("no apt-get/dpkg-deb here: the demo sources cannot be fetched")
    out = tmp_path_factory.mktemp("demo") / "corpus"
    t0 = time.perf_counter()
    try:
        manifest = prepare_demo(out, cache_dir=source_cache, data=DATA,
                                progress=SilentProgress())
    except CorpusError as exc:
        if exc.message.startswith("apt-get download of"):
            # Debian's archive did not answer: a network condition, not our code
            pytest.skip(f"Debian archive unreachable from this machine: {exc.message}")
        raise
    return out, manifest, time.perf_counter() - t0


def _speakers(m: Manifest, *splits: str) -> set[str]:
    return {u.speaker for s in splits for u in m.splits[s]}


def _noises(m: Manifest, *splits: str) -> set[str | None]:
    return {u.noise for s in splits for u in m.splits[s]}


def test_splits_hold_minutes_of_audio(built) -> None:
    out, m, _ = built  # build time depends on the network: reported, not asserted
    counts = {s: len(u) for s, u in m.splits.items()}
    assert counts["train"] >= 150 and counts["valid"] >= 20 and counts["test"] >= 30, counts
    minutes = sum(u.frames for us in m.splits.values() for u in us) / m.sample_rate / 60
    assert 5 < minutes < 30
    assert all(1.0 <= u.frames / m.sample_rate <= 8.0 for us in m.splits.values() for u in us)
    assert load_manifest(out).splits.keys() == m.splits.keys()


def test_test_voice_is_the_unseen_italian_voice(built) -> None:
    _, m, _ = built
    assert _speakers(m, "test") == {TEST_VOICE}
    assert TEST_VOICE not in _speakers(m, "train", "valid")
    assert not _speakers(m, "valid") & _speakers(m, "train")
    assert _speakers(m, "train") == {"en-allison", "fr-june", "ru-ivrvoice"}
    voices = {v["id"]: v for v in m.source["voices"]}
    assert voices[TEST_VOICE]["language"] == "it-IT" and voices[TEST_VOICE]["sex"] == "male"


def test_test_noises_are_never_heard_in_training(built) -> None:
    _, m, _ = built
    test, seen = _noises(m, "test"), _noises(m, "train", "valid")
    assert test and test <= TEST_NOISES
    assert not seen & TEST_NOISES
    assert len(seen) >= 5  # real and synthetic noises both in use


def test_snrs_come_from_the_split_lists(built) -> None:
    out, m, _ = built
    for split, utts in m.splits.items():
        # validation mixes at the test SNRs, so that choosing on it predicts the test sets
        nominal = DATA.train_snrs if split == "train" else DATA.test_snrs
        for i, u in enumerate(utts):
            assert u.snr is not None
            assert min(abs(u.snr - s) for s in nominal) <= 0.5, (u.id, u.snr)
            if i % 10 == 0:  # the wavs agree with the manifest
                clean, _ = sf.read(out / u.clean, dtype="float64")
                noisy, _ = sf.read(out / u.noisy, dtype="float64")
                assert abs(measured_snr(clean, noisy) - u.snr) <= 0.5


def test_audio_is_real_16khz_speech(built) -> None:
    out, m, _ = built
    for split in ("train", "test"):
        for u in m.splits[split][::7]:
            clean, sr = sf.read(out / u.clean, dtype="float32")
            noisy, _ = sf.read(out / u.noisy, dtype="float32")
            assert sr == 16000 and clean.ndim == 1 and clean.size == u.frames
            rms = 10 * math.log10(float(np.mean(clean.astype(np.float64) ** 2)))
            assert rms > -40, (u.id, rms)
            assert demo_speech.speech_problem(clean) is None, u.id
            assert not np.array_equal(clean, noisy)


def test_manifest_records_packages_licences_and_selection(built) -> None:
    _, m, _ = built
    src = m.source
    assert src["kind"] == "demo" and src["size"] == "small"
    pkgs = {p["name"]: p for p in src["packages"]}
    assert set(pkgs) >= {"asterisk-core-sounds-it-g722", "asterisk-moh-opsound-g722",
                         "bucklespring-data", "minetest-data", "fillets-ng-data-cs"}
    assert all(p["version"] and len(p["sha256"]) == 64 for p in pkgs.values())
    assert not [p for p in pkgs.values() if p["licence"].startswith("unverified")]
    assert pkgs["asterisk-core-sounds-it-g722"]["licence"] == "CC-BY-3.0"
    assert src["decoder"]["library"] == "G722" and src["decoder"]["bit_rate"] == 64000
    assert src["selection"]["per_role"]["train"]["count"] == 60
    assert src["test_speakers"] == [TEST_VOICE]
    assert set(src["test_noises"]) == TEST_NOISES
    assert "valid_noises" not in src and "dropped_voices" not in src  # small is as it was
    assert set(src["noise_recordings"]) == {s.name for s in noise_specs("train", "test")}
    json.dumps(src)


def test_full_noise_plan_adds_validation_noises_beside_the_small_cache(
        built, source_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the everyday recorded categories need GBs of packages: tests/test_demo_ambient.py
    # checks their recipe on a package tree of its own
    monkeypatch.setattr(demo, "AMBIENT_NOISES", ())
    before = {p.name: p.read_bytes() for p in (source_cache / "noise").glob("*")}
    packages = fetch_all(source_cache, SilentProgress())
    folder, names = demo_noises(source_cache, packages, "full", SilentProgress())
    assert set(names) == {"train", "valid", "test"}
    assert set(names["valid"]) == {s.name for s in noise_specs("valid")}
    assert {p.stem for p in folder.glob("*.wav")} == {s.name for s in NOISES}
    for name in names["valid"]:
        x, sr = sf.read(folder / f"{name}.wav", dtype="float32")
        assert sr == 16000 and x.size >= 10 * sr and np.std(x) > 0.01
    after = {p.name: p.read_bytes() for p in (source_cache / "noise").glob("*")}
    assert after == before  # the training and test noises were not touched
    small, _ = demo_noises(source_cache, packages, "small", SilentProgress())
    assert small == source_cache / "noise"


def test_real_word_clips_measure_and_group(built, source_cache: Path, tmp_path: Path) -> None:
    """klettres' French man and Italian woman (40 MB package), measured and grouped."""
    try:
        pkg = fetch_packages(["klettres-data"], source_cache, MIX_HINT)["klettres-data"]
    except CorpusError as exc:
        pytest.skip(f"Debian archive unreachable from this machine: {exc.message}")
    listed = demo_clips.list_voices(demo_clips.PACKAGE_OF["klt"], pkg.root)
    assert "klt-da" not in listed and {"klt-fr", "klt-it"} <= set(listed)
    for voice, sex in (("klt-fr", "male"), ("klt-it", "female")):
        m = demo_clip_measure.measure_voice(voice, pkg.name, listed[voice], tmp_path / "clips")
        assert m.sex == sex and m.problem() is None and m.rate >= 16000, m.record()
        lengths = {k: m.clips[k].stop - m.clips[k].start for k in m.good_clips}
        groups = demo_clip_groups.plan_groups(voice, lengths, DATA.window)
        wavs = demo_clip_groups.write_groups(groups[:3], m, listed[voice], tmp_path / "speech")
        for w in wavs:
            x, sr = sf.read(w, dtype="float32")
            assert sr == 16000 and x.size >= 3 * sr
            assert demo_speech.speech_problem(x) is None, w.name


def test_finished_corpus_is_not_rebuilt_without_force(built, source_cache: Path) -> None:
    out, _, _ = built
    with pytest.raises(CorpusExistsError, match="already exists"):
        prepare_demo(out, cache_dir=source_cache, data=DATA)


def test_warm_cache_rebuilds_identically_without_fetching_or_decoding(
        built, source_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, first, cold = built

    def forbidden(*args, **kwargs):
        raise AssertionError("the warm cache must not download, unpack or decode again")

    monkeypatch.setattr(debian, "_run", forbidden)
    monkeypatch.setattr(demo_speech, "decode_g722", forbidden)
    monkeypatch.setattr(demo_noise, "decode_g722", forbidden)
    t0 = time.perf_counter()
    again = prepare_demo(tmp_path / "again", cache_dir=source_cache, data=DATA)
    warm = time.perf_counter() - t0
    assert warm < 60
    for split in first.splits:
        assert [(u.id, u.snr, u.noise) for u in again.splits[split]] == \
               [(u.id, u.snr, u.noise) for u in first.splits[split]]
    print(f"demo corpus build: {cold:.1f} s first, {warm:.1f} s warm")


def test_without_apt_the_error_points_to_prepare_mix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(CorpusError) as err:
        prepare_demo(tmp_path / "out", cache_dir=tmp_path / "cold", data=DATA)
    assert "apt-get" in str(err.value) and "segan prepare mix --clean" in str(err.value)
    res = cli("prepare", "demo", "--out", tmp_path / "out", "--cache", tmp_path / "cold",
              code=2)
    assert "prepare mix" in " ".join(res.stderr.split())
