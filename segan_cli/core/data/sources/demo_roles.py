"""Who trains, validates and tests in the demo corpus.

The test voice is always Asterisk's male Italian voice (with the test noises), never
heard in training or validation. ``small`` validates on Allison Smith's Spanish
(she also records the English training voice, so that split is not speaker-disjoint).
``full`` validates on two word-clip voices, one male and one female by measured F0,
that share no person with any training voice: each must be the only voice in use of
its language (a volunteer may have recorded one language for two packages, e.g.
tuxpaint's and KTuberling's Romanian women have the same F0), consistently one sex
(at least 90% of its clips on one side of 165 Hz, so not a folder of two talkers), an
adult by F0, and hold a few minutes of speech; of the pairs from two different
packages the smallest is taken, so training keeps the most speech. Naming demo voices
in ``data.valid_speakers`` overrides either choice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from segan_cli.core.data.sources.demo_clip_measure import MALE_BELOW_HZ, VoiceMeasure
from segan_cli.core.data.sources.demo_speech import VOICES
from segan_cli.errors import CorpusError

TEST_VOICE = "it-carlo"
DEFAULT_VALID_VOICE = "es-allison"
VALID_MIN_SECONDS = 150.0  # of trimmed speech: about 3.5 minutes once grouped
ONE_SEX_SHARE = 0.9
ADULT_F0_HZ = (70.0, 255.0)
LANGUAGE_FAMILY = {"nb": "no", "nn": "no"}  # Norwegian's two written standards


def language_family(language: str) -> str:
    """The primary language subtag (``en-GB`` -> ``en``), Norwegian variants joined."""
    primary = language.lower().replace("_", "-").split("-")[0]
    return LANGUAGE_FAMILY.get(primary, primary)


def voice_roles(valid_speakers: Sequence[str],
                clip_voices: Sequence[VoiceMeasure] = ()) -> dict[str, str]:
    """train/valid/test per voice id (Asterisk voices first, then the clip voices in use)."""
    ids = [v.id for v in VOICES] + [v.id for v in clip_voices]
    named = set(valid_speakers) & (set(ids) - {TEST_VOICE})
    if named:
        valid = named
    elif clip_voices:
        valid = set(choose_valid(clip_voices))
    else:
        valid = {DEFAULT_VALID_VOICE}
    return {i: "test" if i == TEST_VOICE else "valid" if i in valid else "train" for i in ids}


def one_talker(v: VoiceMeasure) -> bool:
    """Consistently one sex, and an adult's F0: most likely one person."""
    if v.f0 is None or not ADULT_F0_HZ[0] <= v.f0 <= ADULT_F0_HZ[1]:
        return False
    share = v.male_share if v.f0 < MALE_BELOW_HZ else 1.0 - v.male_share
    return share >= ONE_SEX_SHARE


def valid_candidates(clip_voices: Sequence[VoiceMeasure]) -> list[VoiceMeasure]:
    """Clip voices that can validate: one talker, enough speech, a language of their own."""
    families = Counter(language_family(v.language) for v in VOICES)
    families.update(language_family(v.language) for v in clip_voices)
    return [v for v in clip_voices
            if v.speech_seconds >= VALID_MIN_SECONDS and one_talker(v)
            and families[language_family(v.language)] == 1]


def choose_valid(clip_voices: Sequence[VoiceMeasure]) -> tuple[str, str]:
    """The (male, female) validation voices: the smallest eligible pair of two packages."""
    cands = valid_candidates(clip_voices)
    pairs = [(m, f) for m in cands if m.sex == "male" for f in cands
             if f.sex == "female" and f.package != m.package]
    if not pairs:
        raise CorpusError(
            "no male and female word-clip voices qualify to validate the full demo corpus "
            f"(candidates: {', '.join(v.id for v in cands) or 'none'})",
            "name the validation voices with --set data.valid_speakers=[...]")
    male, female = min(pairs, key=lambda p: (p[0].speech_seconds + p[1].speech_seconds,
                                             p[0].id, p[1].id))
    return male.id, female.id
