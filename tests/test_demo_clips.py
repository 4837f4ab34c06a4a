"""Word-clip voices of the full demo corpus: listing, measuring, grouping and roles.

Everything here runs on small synthetic clips and fake package trees (the packages
themselves are exercised by tests/test_demo.py, which skips without Debian's archive).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from segan_cli.core.data.sources import demo_clip_groups as cg
from segan_cli.core.data.sources import demo_clip_measure as cm
from segan_cli.core.data.sources import demo_clips as dc
from segan_cli.core.data.sources import room_tone
from segan_cli.core.data.sources.demo_clip_measure import ClipInfo, VoiceMeasure
from segan_cli.core.data.sources.demo_noise import NOISE_FOLDERS, noise_specs
from segan_cli.core.data.sources.demo_roles import (
    TEST_VOICE,
    choose_valid,
    language_family,
    voice_roles,
)
from segan_cli.core.data.sources.demo_speech import VOICES
from segan_cli.core.data.sources.mix import noise_roles
from segan_cli.core.data.sources.pairs import speaker_of
from segan_cli.core.io.audio import resample
from segan_cli.errors import CorpusError

RATE = 44100


def word(f0: float, seconds: float = 0.6, rate: int = RATE, pad: float = 0.3,
         floor_db: float = -65.0, seed: int = 0) -> np.ndarray:
    """A voiced 'word': ten harmonics of ``f0`` under a Hann envelope, in faint noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 11))
    voiced = 0.3 * tone * np.hanning(t.size) / np.max(np.abs(tone))
    gap = np.zeros(int(pad * rate))
    x = np.concatenate([gap, voiced, gap])
    return (x + 10 ** (floor_db / 20) * rng.standard_normal(x.size)).astype(np.float32)


def touch(root: Path, *paths: str) -> None:
    for p in paths:
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).write_bytes(b"")


# ---------------------------------------------------------------- listing


def test_package_layouts_give_voices_per_language(tmp_path: Path) -> None:
    tux, klt, ktb = (tmp_path / n for n in ("tux", "klt", "ktb"))
    stamps = "usr/share/tuxpaint/stamps"
    touch(tux, f"{stamps}/animals/cat_desc_fr.ogg", f"{stamps}/animals/cat_desc.ogg",
          f"{stamps}/town/hut_desc_da.ogg.ogg", f"{stamps}/animals/cat.ogg",
          f"{stamps}/animals/dog_desc_fr.ogg")
    touch(klt, "usr/share/klettres/en_GB/alpha/a.ogg", "usr/share/klettres/en_GB/syllab/ba.ogg",
          "usr/share/klettres/da/alpha/a.ogg", "usr/share/klettres/fr/alpha/b.ogg")
    touch(ktb, "usr/share/ktuberling/sounds/en/ball.ogg",
          "usr/share/ktuberling/sounds/nn/bow.opus", "usr/share/ktuberling/sounds/it/bocca.wav",
          "usr/share/ktuberling/sounds/sr/brkovi.ogg",
          "usr/share/ktuberling/sounds/sr@latin/brkovi.ogg",
          "usr/share/ktuberling/sounds/en.soundtheme")
    pk = {p.prefix: p for p in dc.CLIP_PACKAGES}
    t = dc.list_voices(pk["tux"], tux)
    assert set(t) == {"tux-fr", "tux-en", "tux-da"}
    assert list(t["tux-fr"]) == ["animals-cat", "animals-dog"]  # sorted: consecutive clips
    assert list(t["tux-en"]) == ["animals-cat"]
    k = dc.list_voices(pk["klt"], klt)
    assert set(k) == {"klt-en-gb", "klt-fr"}  # Danish is dropped
    assert list(k["klt-en-gb"]) == ["alpha-a", "syllab-ba"]
    assert set(dc.list_voices(pk["ktb"], ktb)) == {"ktb-en", "ktb-nn", "ktb-sr"}
    for voice in (*t, *k):
        assert "_" not in voice and speaker_of(f"{voice}_0001-abc") == voice
    with pytest.raises(CorpusError, match="layout changed"):
        dc.list_voices(pk["tux"], tmp_path / "empty")


# ---------------------------------------------------------------- measuring


@pytest.mark.parametrize("f0", [95.0, 120.0, 210.0, 290.0])
def test_pitch_track_finds_f0(f0: float) -> None:
    x = resample(word(f0, seconds=1.0), RATE, cm.RATE)
    assert abs(np.median(cm.pitch_track(x)) / f0 - 1) < 0.03


def test_measure_clip_trims_and_reads_floor_and_sex() -> None:
    x = resample(word(120.0), RATE, cm.RATE)
    info = cm.measure_clip(x, RATE)
    assert info.problem is None and abs(info.f0 - 120) < 4
    in_band = -65 + 10 * np.log10(cm.RATE / RATE)  # the hiss above 8 kHz is resampled away
    assert abs(info.floor_db - in_band) < 3
    # the word is 0.6 s from 0.3 s; trimming keeps it (and a margin), drops the padding
    assert 0.2 * cm.RATE <= info.start <= 0.32 * cm.RATE
    assert 0.88 * cm.RATE <= info.stop <= 1.0 * cm.RATE
    assert cm.sex_of(info.f0) == "male" and cm.sex_of(210.0) == "female"


def test_clips_that_are_not_speech_are_rejected() -> None:
    rng = np.random.default_rng(1)
    hiss = np.concatenate([np.zeros(4000), 0.1 * rng.standard_normal(12000), np.zeros(4000)])
    assert "voiced" in cm.measure_clip(hiss.astype(np.float32), RATE).problem
    loud = np.clip(resample(word(150.0), RATE, cm.RATE) * 20, -1, 1)
    assert cm.measure_clip(loud, RATE).problem == "clipped"
    assert "8000 Hz" in cm.measure_clip(resample(word(150.0), RATE, cm.RATE),
                                        8000).problem
    assert "shorter" in cm.measure_clip(np.zeros(800, np.float32), RATE).problem


def _write_voice(folder: Path, f0: float, n: int, floor_db: float = -65.0,
                 rate: int = RATE) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for i in range(n):
        p = folder / f"w{i:03d}.wav"
        sf.write(p, word(f0 * (1 + 0.02 * (i % 5)), 0.5 + 0.1 * (i % 4), rate,
                         floor_db=floor_db, seed=i), rate)
        files[p.stem] = p
    return files


def test_measure_voice_is_cached_and_judges_the_voice(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    files = _write_voice(tmp_path / "src", 118.0, 8)
    kept: dict[str, np.ndarray] = {}
    m = cm.measure_voice("klt-xx", "klettres-data", files, tmp_path / "clips", kept)
    assert m.package == "klettres-data" and m.language == "xx" and m.rate == RATE
    assert m.sex == "male" and m.male_share == 1.0 and abs(m.f0 - 122) < 6
    assert m.floor_db < -55 and len(m.good_clips) == 8 and set(kept) == set(files)
    assert m.problem() == f"only {m.speech_seconds:.0f} s of usable speech"

    def no_decoding(path):
        raise AssertionError("a cached measurement must not decode again")

    monkeypatch.setattr(cm, "decode_clip", no_decoding)
    again = cm.measure_voice("klt-xx", "klettres-data", files, tmp_path / "clips")
    assert again.clips == m.clips and again.f0 == m.f0
    noisy = _write_voice(tmp_path / "noisy", 220.0, 3, floor_db=-30.0)
    monkeypatch.undo()
    hissy = cm.measure_voice("ktb-yy", "ktuberling-data", noisy, tmp_path / "clips")
    assert "noise floor" in hissy.problem()
    low = _write_voice(tmp_path / "low", 220.0, 3, rate=8000)
    assert cm.measure_voice("ktb-zz", "ktuberling-data", low, tmp_path / "clips").problem() == \
        "recorded at 8000 Hz"


# ---------------------------------------------------------------- grouping


def test_groups_are_consecutive_seeded_and_fill_a_window() -> None:
    rng = np.random.default_rng(3)
    lengths = {f"c{i:03d}": int(rng.uniform(0.3, 1.5) * cm.RATE) for i in range(80)}
    groups = cg.plan_groups("tux-xx", lengths, 16384)
    assert groups == cg.plan_groups("tux-xx", lengths, 16384)  # deterministic
    assert groups != cg.plan_groups("tux-yy", lengths, 16384)  # seeded per voice
    assert [k for g in groups for k in g.clips] == list(lengths)  # every clip, in order
    for g in groups:
        total = sum(lengths[k] for k in g.clips) + sum(g.gaps)
        assert total >= 3.0 * cm.RATE and len(g.gaps) == len(g.clips) - 1
        assert all(0.15 * cm.RATE <= gap <= 0.3 * cm.RATE for gap in g.gaps)
        assert speaker_of(Path(g.file_name).stem) == "tux-xx"
    assert all(sum(lengths[k] for k in g.clips) + sum(g.gaps) < 7.5 * cm.RATE
               for g in groups[:-1])  # 3-6 s, give or take the last clip
    # a voice too short for one window yields nothing; a short tail joins its neighbour
    assert cg.plan_groups("tux-xx", {"a": 8000}, 16384) == []
    two = cg.plan_groups("tux-xx", {"a": 60000, "b": 20000}, 16384, seed=1)
    assert len(two) == 1 and two[0].clips == ("a", "b")


def longest_zero_run(x: np.ndarray) -> int:
    """Length of the longest run of exact zeros in ``x``."""
    zero = np.concatenate([[False], np.asarray(x) == 0, [False]])
    edges = np.flatnonzero(np.diff(zero.astype(np.int8)))
    return int((edges[1::2] - edges[::2]).max()) if edges.size else 0


def test_join_group_levels_clips_over_room_tone_at_their_floor() -> None:
    clips = {"a": 0.01 * np.ones(8000, np.float32), "b": 0.5 * np.ones(4000, np.float32)}
    clips["b"][1000:1500] = 0.0  # digital padding inside a clip is filled too
    g = cg.Group("tux-xx", "0000-x", ("a", "b"), (3000,))
    # measured floors 45 dB below each clip's raw level: room tone near -65 dBFS
    floors = {"a": -85.0, "b": -51.0}
    y = cg.join_group(g, clips.__getitem__, floors.__getitem__)
    assert y.size == 15000 and longest_zero_run(y) == 0
    gap_db = 20 * np.log10(np.sqrt(np.mean(y[8000 + cg.FADE:11000 - cg.FADE] ** 2)))
    assert -67.0 < gap_db < -63.0
    for part in (y[:8000], y[11000:]):
        core = part[cg.FADE:-cg.FADE]
        assert abs(20 * np.log10(np.sqrt(np.mean(core ** 2))) - cg.CLIP_DBFS) < 1.0
    # the same group is the same audio; a noisier voice gets louder room tone
    assert np.array_equal(y, cg.join_group(g, clips.__getitem__, floors.__getitem__))
    hiss = cg.join_group(g, clips.__getitem__, lambda k: floors[k] + 15)
    assert 20 * np.log10(np.sqrt(np.mean(hiss[8100:10900] ** 2))) > gap_db + 12


def test_written_groups_hold_no_digital_silence(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    lengths = {f"c{i}": int(rng.uniform(0.4, 1.0) * cm.RATE) for i in range(12)}
    raw = {k: (0.1 * np.sin(np.arange(n) * 0.05)).astype(np.float32)
           for k, n in lengths.items()}
    for x in raw.values():  # resampled digital padding: tiny floats, zeros once stored
        x[:2000] = 1e-7 * np.cos(np.arange(2000))
    infos = {k: cm.ClipInfo(44100, 0, n, -100.0, 200.0, None) for k, n in lengths.items()}
    m = cm.VoiceMeasure("tux-xx", "tuxpaint-stamps-default", "xx", 44100, 200.0, -100.0,
                        60.0, 0.0, infos)
    groups = cg.plan_groups("tux-xx", lengths, 16384)
    wavs = cg.write_groups(groups, m, {}, tmp_path, raw)
    assert wavs
    for w in wavs:  # 16-bit files: room tone rounds to zero a few samples in a row at most
        x, _ = sf.read(w, dtype="int16")
        assert longest_zero_run(x) <= 8, w.name


def test_build_clip_speech_writes_groups_once(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "klt"
    folder = root / "usr/share/klettres/fr/alpha"
    _write_voice(folder, 120.0, 40)
    pk = {p.name: tmp_path / "none" for p in dc.CLIP_PACKAGES}
    pk["klettres-data"] = root
    monkeypatch.setattr(dc, "list_voices", lambda pkg, r: {"klt-fr": {
        f"alpha-{p.stem}": p for p in sorted(folder.glob("*.wav"))}}
        if pkg.prefix == "klt" else {})
    speech = dc.build_clip_speech(tmp_path / "cache", pk, 16384)
    assert [m.id for m in speech.used] == ["klt-fr"] and not speech.dropped
    wavs = speech.wavs["klt-fr"]
    assert len(wavs) >= 3 and all(w.parent == tmp_path / "cache" / "speech" for w in wavs)
    for w in wavs:
        x, sr = sf.read(w)
        assert sr == cm.RATE and x.size >= 3 * cm.RATE
        assert sf.info(w).subtype == "PCM_16"
    stamp = {w: w.stat().st_mtime_ns for w in wavs}
    def no_decoding(path):
        raise AssertionError("a warm cache must not decode again")

    monkeypatch.setattr(cm, "decode_clip", no_decoding)
    monkeypatch.setattr(cg, "decode_clip", no_decoding)
    again = dc.build_clip_speech(tmp_path / "cache", pk, 16384)
    assert again.wavs == speech.wavs and all(w.stat().st_mtime_ns == stamp[w] for w in wavs)


# ---------------------------------------------------------------- roles

# The full corpus' clip voices as measured from the Debian 12 packages:
# id, F0 (Hz), share of clips below 165 Hz, minutes of trimmed speech
MEASURED = [
    ("tux-be", 235.3, 0.00, 13.53), ("tux-bg", 111.9, 1.00, 20.45),
    ("tux-ca", 136.2, 0.95, 12.7), ("tux-da", 126.0, 0.88, 4.71),
    ("tux-el", 200.0, 0.00, 17.08), ("tux-fr", 132.2, 0.86, 19.12),
    ("tux-lt", 119.2, 1.00, 0.7), ("tux-ro", 231.9, 0.01, 27.53),
    ("tux-ru", 124.0, 1.00, 21.54), ("klt-ar", 266.7, 0.0, 0.56),
    ("klt-cs", 247.1, 0.0, 0.48), ("klt-de", 133.3, 0.60, 0.83),
    ("klt-en", 129.0, 1.0, 0.45), ("klt-en-gb", 230.2, 0.0, 0.72),
    ("klt-es", 177.8, 0.04, 1.05), ("klt-fr", 120.8, 1.0, 0.86),
    ("klt-he", 161.6, 0.61, 1.08), ("klt-it", 219.2, 0.0, 0.79),
    ("klt-lt", 113.5, 0.96, 1.49), ("klt-nds", 106.3, 0.95, 0.76),
    ("klt-nl", 213.3, 0.09, 1.12), ("klt-pt-br", 280.7, 0.01, 0.9),
    ("klt-ru", 213.3, 0.0, 0.93), ("klt-uk", 228.6, 0.02, 1.12),
    ("ktb-ca", 228.6, 0.27, 2.41), ("ktb-da", 242.4, 0.31, 3.49),
    ("ktb-de", 144.1, 0.85, 0.83), ("ktb-el", 147.4, 0.82, 1.04),
    ("ktb-en", 124.3, 0.71, 0.74), ("ktb-lt", 149.8, 0.76, 3.26),
    ("ktb-nn", 190.5, 0.06, 2.9), ("ktb-ru", 188.2, 0.42, 1.79),
    ("ktb-uk", 228.6, 0.03, 2.54), ("ktb-wa", 127.5, 0.97, 0.85),
]


def measure(voice_id: str, f0: float, male_share: float, minutes: float) -> VoiceMeasure:
    prefix, _, lang = voice_id.partition("-")
    return VoiceMeasure(voice_id, dc.PACKAGE_OF[prefix].name, lang, RATE, f0, -60.0,
                        minutes * 60, male_share, {"x": ClipInfo(RATE, 0, 1, -60, f0, None)})


def full_voices() -> list[VoiceMeasure]:
    return [measure(*row) for row in MEASURED]


def test_small_roles_are_unchanged() -> None:
    roles = voice_roles(["p286", "p287"])
    assert roles == {"en-allison": "train", "es-allison": "valid", "fr-june": "train",
                     "ru-ivrvoice": "train", "it-carlo": "test"}


def test_full_plan_validates_on_two_unseen_people() -> None:
    voices = full_voices()
    roles = voice_roles(["p286", "p287"], voices)
    by_id = {v.id: v for v in voices}
    valid = {v for v, r in roles.items() if r == "valid"}
    train = {v for v, r in roles.items() if r == "train"}
    assert valid == {"tux-bg", "ktb-nn"}
    assert {by_id[v].sex for v in valid} == {"male", "female"}
    assert len({by_id[v].package for v in valid}) == 2
    assert all(by_id[v].speech_seconds >= 150 for v in valid)
    assert {v for v, r in roles.items() if r == "test"} == {TEST_VOICE}
    assert roles["es-allison"] == "train"  # Allison validates nowhere: she trains in English
    # no training voice shares a validation voice's language (one person, two packages)
    languages = {v.id: v.language for v in VOICES} | {v.id: v.language for v in voices}
    for v in valid:
        assert all(language_family(languages[t]) != language_family(languages[v])
                   for t in train)
    assert valid.isdisjoint(train) and TEST_VOICE not in valid | train


def test_full_plan_noises_are_disjoint() -> None:
    train, valid, test = ({s.name for s in noise_specs(r)} for r in ("train", "valid", "test"))
    assert train and valid and test
    assert train.isdisjoint(valid) and train.isdisjoint(test) and valid.isdisjoint(test)
    assert {s.package for s in noise_specs("valid")} - {None} == {"minetest-data"}
    assert {r for roles, _ in NOISE_FOLDERS.values() for r in roles} == \
        {"train", "valid", "test"}
    v, t = noise_roles(sorted(train | valid | test), sorted(valid), sorted(test))
    assert (v, t) == (valid, test)


def test_valid_choice_skips_shared_languages_mixed_folders_and_children() -> None:
    voices = [measure("tux-bg", 112.0, 1.0, 20), measure("tux-ro", 232.0, 0.0, 27),
              measure("ktb-ro", 231.0, 0.0, 3),  # same language: maybe the same woman
              measure("ktb-ca", 228.0, 0.27, 4),  # two talkers in one folder
              measure("klt-pt-br", 281.0, 0.0, 4),  # a child by F0
              measure("tux-be", 235.0, 0.0, 13)]
    with pytest.raises(CorpusError, match="data.valid_speakers"):
        choose_valid(voices)  # no adult female of her own language outside tuxpaint
    voices.append(measure("klt-xx", 200.0, 0.02, 3))
    assert choose_valid(voices) == ("tux-bg", "klt-xx")


def test_named_valid_speakers_override_the_choice() -> None:
    voices = full_voices()
    roles = voice_roles(["tux-ro", "klt-fr", "p286"], voices)
    assert {v for v, r in roles.items() if r == "valid"} == {"tux-ro", "klt-fr"}
    assert voice_roles([TEST_VOICE], voices)["it-carlo"] == "test"


def test_digital_silence_becomes_room_tone_at_the_recordings_floor() -> None:
    rng = np.random.default_rng(0)
    x = (0.2 * np.sin(np.arange(32000) * 0.03)).astype(np.float32)
    x[:8000] = 10 ** (-60 / 20) * rng.standard_normal(8000)  # a quiet, live pause
    x[8000:12000] = 0.0  # gated to zero, as G.722 prompts are
    x[20000:20003] = 0.0  # a zero crossing or two is ordinary audio
    y = room_tone.fill_digital_silence(x, np.random.default_rng(1))
    assert longest_zero_run(y) <= room_tone.MIN_RUN
    edge = room_tone.SPAN  # a 2 ms span reaching into the gap may take a sample or two
    assert np.array_equal(y[:8000 - edge], x[:8000 - edge])
    assert np.array_equal(y[12000 + edge:], x[12000 + edge:])
    filled = 20 * np.log10(np.sqrt(np.mean(np.square(y[8000:12000]))))
    assert abs(filled - (-60.0)) < 2.0  # the recording's own floor
    loud = np.zeros(16000, np.float32)
    loud[8000:] = 0.5  # no quiet live frame: room tone no louder than the upper bound
    z = room_tone.fill_digital_silence(loud, np.random.default_rng(1))
    level = 20 * np.log10(np.sqrt(np.mean(np.square(z[:8000]))))
    assert abs(level - room_tone.FLOOR_DBFS[1]) < 0.5
