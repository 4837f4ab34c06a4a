"""Demo speech from word clips: tuxpaint stamps, KLettres and KTuberling (Debian, GPL).

These packages hold thousands of single words and short phrases spoken by dozens of
volunteers in their own languages, mostly at 44.1 kHz: many more voices, both sexes,
than the Asterisk prompts. One voice is one (package, language); its id
(``tux-fr``, ``klt-de``, ``ktb-en``) has no ``_`` because ``speaker_of`` splits file
names there. Home recordings vary, so each voice is measured once (``demo_clip_measure``: source
rate, median F0 by autocorrelation, noise floor; cached as JSON) and voices below
16 kHz, with audible hiss, mostly clipped or with too little speech are dropped, as
are clips that do not look like speech. A word is shorter than a training window, so
the clips of a voice are joined into 3-6 s pseudo-utterances (``demo_clip_groups``),
cached as 16-bit ``speech/<voice>_<group>.wav``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from segan_cli.core.data.sources.demo_clip_groups import (
    CLIP_DBFS,
    GAP_SECONDS,
    GROUP_SECONDS,
    GROUP_SEED,
    GROUP_VERSION,
    plan_groups,
    write_groups,
)
from segan_cli.core.data.sources.demo_clip_measure import (
    MALE_BELOW_HZ,
    MAX_FLOOR_DB,
    MEASURE_VERSION,
    MIN_RATE,
    MIN_VOICE_SECONDS,
    VoiceMeasure,
    measure_voice,
)
from segan_cli.errors import CorpusError

TUX = "tuxpaint-stamps-default"
KLT = "klettres-data"
KTB = "ktuberling-data"


@dataclass(frozen=True)
class ClipPackage:
    """A Debian package of spoken clips: voice id prefix, licence and its proof phrase."""

    name: str
    prefix: str
    licence: str
    phrase: str
    skip: frozenset[str]  # languages dropped before measuring, and why (see module doc)


CLIP_PACKAGES = (
    ClipPackage(TUX, "tux", "GPL-2", "License: GPL-2", frozenset()),
    # klettres' Danish is narrowband audio upsampled to 44.1 kHz
    ClipPackage(KLT, "klt", "GPL-2+", "License: GPL-2+", frozenset({"da"})),
    # 8 kHz folders; the sr@* variants repeat the recordings of sr
    ClipPackage(KTB, "ktb", "GPL-2+", "License: GPL-2+",
                frozenset({"es", "fi", "it", "nds", "nl", "pt", "sv", "sr-ijekavian",
                           "sr-ijekavianlatin", "sr-latin"})),
)
PACKAGE_OF = {p.prefix: p for p in CLIP_PACKAGES}


def language_tag(raw: str) -> str:
    """A folder or suffix language (``en_GB``, ``sr@latin``) as an id part: ``en-gb``."""
    return raw.lower().replace("_", "-").replace("@", "-")


def list_voices(package: ClipPackage, root: Path) -> dict[str, dict[str, Path]]:
    """Voice id -> clip key -> file, in the package's layout; skipped languages left out."""
    lister = {TUX: _tuxpaint, KLT: _klettres, KTB: _ktuberling}[package.name]
    found = lister(Path(root))
    if not found:
        raise CorpusError(f"{package.name} holds no spoken clips where expected",
                          "the package layout changed; delete the demo cache and retry")
    return {f"{package.prefix}-{lang}": dict(sorted(clips.items()))
            for lang, clips in sorted(found.items()) if lang not in package.skip}


def _tuxpaint(root: Path) -> dict[str, dict[str, Path]]:
    base = root / "usr/share/tuxpaint/stamps"
    out: dict[str, dict[str, Path]] = {}
    for p in sorted(base.rglob("*_desc*.ogg")):
        stem, _, lang = p.name.split(".", 1)[0].partition("_desc")
        lang = language_tag(lang.lstrip("_")) or "en"
        key = "-".join((*p.parent.relative_to(base).parts, stem))
        out.setdefault(lang, {})[key] = p
    return out


def _klettres(root: Path) -> dict[str, dict[str, Path]]:
    base = root / "usr/share/klettres"
    out: dict[str, dict[str, Path]] = {}
    for kind in ("alpha", "syllab"):
        for p in sorted(base.glob(f"*/{kind}/*.ogg")):
            out.setdefault(language_tag(p.parent.parent.name), {})[f"{kind}-{p.stem}"] = p
    return out


def _ktuberling(root: Path) -> dict[str, dict[str, Path]]:
    base = root / "usr/share/ktuberling/sounds"
    out: dict[str, dict[str, Path]] = {}
    for p in sorted(base.glob("*/*")):
        if p.is_file() and p.suffix.lower() in (".ogg", ".wav", ".opus", ".flac"):
            out.setdefault(language_tag(p.parent.name), {})[p.stem] = p
    return out


@dataclass
class ClipSpeech:
    """Every measured clip voice, and the utterance wavs of the voices in use."""

    measures: list[VoiceMeasure]
    wavs: dict[str, list[Path]]

    @property
    def used(self) -> list[VoiceMeasure]:
        return [m for m in self.measures if m.problem() is None]

    @property
    def dropped(self) -> dict[str, str]:
        return {m.id: str(m.problem()) for m in self.measures if m.problem() is not None}


def listed_voices(roots: Mapping[str, Path]) -> dict[str, dict[str, Path]]:
    """Every voice of every clip package: id -> clip key -> file."""
    out: dict[str, dict[str, Path]] = {}
    for pkg in CLIP_PACKAGES:
        out.update(list_voices(pkg, roots[pkg.name]))
    return out


def build_clip_speech(cache: Path, roots: Mapping[str, Path], min_samples: int,
                      advance: Callable[[int], None] | None = None) -> ClipSpeech:
    """Measure every voice (once), then write the grouped utterances of those in use.

    ``cache`` is the demo cache: measurements go to ``clips/``, wavs to ``speech/``.
    """
    measures, wavs = [], {}
    for voice_id, files in listed_voices(roots).items():
        decoded: dict[str, np.ndarray] = {}
        package = PACKAGE_OF[voice_id.partition("-")[0]].name
        m = measure_voice(voice_id, package, files, Path(cache) / "clips", decoded)
        measures.append(m)
        if m.problem() is None:
            lengths = {k: m.clips[k].stop - m.clips[k].start for k in m.good_clips}
            groups = plan_groups(voice_id, lengths, min_samples)
            wavs[voice_id] = write_groups(groups, m, files, Path(cache) / "speech", decoded)
        if advance:
            advance(1)
    return ClipSpeech(measures, wavs)


def voice_count(roots: Mapping[str, Path]) -> int:
    """How many clip voices there are (a progress total)."""
    return len(listed_voices(roots))


def recipe_record() -> dict:
    """How clip voices were measured, filtered and grouped (the manifest's provenance)."""
    return {"measure_version": MEASURE_VERSION, "group_version": GROUP_VERSION,
            "group_seed": GROUP_SEED, "group_seconds": list(GROUP_SECONDS),
            "gap_seconds": list(GAP_SECONDS), "clip_level_dbfs": CLIP_DBFS,
            "male_below_hz": MALE_BELOW_HZ, "min_source_rate": MIN_RATE,
            "max_noise_floor_dbfs": MAX_FLOOR_DB, "min_voice_seconds": MIN_VOICE_SECONDS,
            "decoder": {"library": "soundfile", "version": sf.__version__,
                        "libsndfile": sf.__libsndfile_version__},
            "resampler": "soxr VHQ"}
