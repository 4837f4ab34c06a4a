"""``prepare pairs``: a corpus from any paired clean/noisy folders, matched by name.

Pairs are matched by their path relative to each folder (without extension). A
missing partner, a length mismatch (compared at the corpus rate, within a few samples)
or two files that would become one utterance id (``x.wav`` beside ``x.flac``,
``spk/x`` beside ``spk__x``) is reported by file name before anything is written.
The speaker of a file is the part of its name before the first ``_`` (VoiceBank's
``p232_003``) or, without one, its parent folder's name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import soxr

from segan_cli.core.data.pipeline.corpus import CorpusBuilder
from segan_cli.core.data.pipeline.manifest import Manifest
from segan_cli.core.io.audio import AUDIO_SUFFIXES, audio_info, load_mono
from segan_cli.core.io.audio_header import truncation_note
from segan_cli.core.runtime.progress import Progress, SilentProgress
from segan_cli.errors import CorpusError, name_list


@dataclass(frozen=True)
class PairSource:
    """A clean and a noisy file holding the same utterance."""

    id: str
    speaker: str
    clean: Path
    noisy: Path


def list_audio(folder: Path) -> dict[str, Path]:
    """Audio files under ``folder`` keyed by relative path without extension.

    Two files with one key (``x.wav`` beside ``x.flac``) are refused by name: keeping
    either silently would drop the other.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusError(f"folder not found: {folder}")
    out: dict[str, Path] = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES and not p.name.startswith("."):
            key = p.relative_to(folder).with_suffix("").as_posix()
            if key in out:
                raise CorpusError(f"{out[key]} and {p} are both utterance '{key}'",
                                  "keep one of them, or rename one")
            out[key] = p
    return out


def utterance_ids(files: dict[str, Path]) -> dict[str, str]:
    """Corpus id of each file key (``spk/x`` -> ``spk__x``), refusing ids that collide.

    Ids name the corpus' wav files, so two keys whose ids are equal, or equal up to
    letter case (one file on case-insensitive disks), are refused naming both files.
    """
    ids: dict[str, str] = {}
    seen: dict[str, str] = {}
    for key in sorted(files):
        uid = key.replace("/", "__")
        if (other := seen.get(uid.casefold())) is not None:
            raise CorpusError(f"{files[other]} and {files[key]} would both become utterance "
                              f"'{uid}'", "rename one of them")
        seen[uid.casefold()] = key
        ids[key] = uid
    return ids


def length_tolerance(rate_a: int, rate_b: int, rate: int) -> int:
    """Samples at ``rate`` two lengths may differ by: one sample at the lower source
    rate (resampling rounds there) plus two for the resampler's own rounding."""
    return 2 + math.ceil(rate / min(rate_a, rate_b))


def speaker_of(key: str) -> str:
    """Speaker label of a file key (``p232_003`` -> ``p232``; ``spk/x`` -> ``spk``)."""
    name = key.rsplit("/", 1)[-1]
    if "_" in name and not name.startswith("_"):
        return name.split("_", 1)[0]
    return key.rsplit("/", 1)[0] if "/" in key else name


def match_pairs(clean_dir: Path, noisy_dir: Path, check_lengths: bool = True,
                sample_rate: int | None = None) -> list[PairSource]:
    """Pair files by name; every missing partner, id collision or length mismatch is an
    error. Lengths are compared at ``sample_rate`` (default: the higher of the pair's)."""
    clean, noisy = list_audio(clean_dir), list_audio(noisy_dir)
    if not clean:
        raise CorpusError(f"no audio files found in {clean_dir}")
    problems = []
    if only_c := set(clean) - set(noisy):
        problems.append(f"no noisy partner for {name_list(only_c)} (in {noisy_dir})")
    if only_n := set(noisy) - set(clean):
        problems.append(f"no clean partner for {name_list(only_n)} (in {clean_dir})")
    ids = utterance_ids({k: clean[k] for k in set(clean) & set(noisy)})
    pairs = [PairSource(ids[k], speaker_of(k), clean[k], noisy[k]) for k in sorted(ids)]
    if check_lengths:
        bad = []
        for p in pairs:
            a, b = audio_info(p.clean), audio_info(p.noisy)
            rate = sample_rate or max(a.sample_rate, b.sample_rate)
            diff = abs(a.frames * rate / a.sample_rate - b.frames * rate / b.sample_rate)
            if diff > length_tolerance(a.sample_rate, b.sample_rate, rate):
                bad.append(f"{p.id} ({a.duration:.4f} s vs {b.duration:.4f} s)")
        if bad:
            problems.append(f"clean and noisy lengths differ for {name_list(bad)}")
    if problems:
        raise CorpusError("; ".join(problems))
    return pairs


def split_by_speaker(
    pairs: Sequence[PairSource], valid_speakers: Sequence[str], test_speakers: Sequence[str] = ()
) -> dict[str, list[PairSource]]:
    """Assign pairs to train/valid/test by speaker.

    Without any of ``valid_speakers`` present, the last speaker (sorted) of three or
    more is held out for validation, so checkpoints are never chosen on test data.
    """
    speakers = sorted({p.speaker for p in pairs})
    unknown = set(test_speakers) - set(speakers)
    if unknown:  # a typo would otherwise test on nothing, or on training speakers
        raise CorpusError(f"test speakers not found: {name_list(unknown)}",
                          f"the speakers are {name_list(speakers)}")
    valid = set(valid_speakers) & set(speakers)
    test = set(test_speakers) & set(speakers)
    if not valid:
        remaining = [s for s in speakers if s not in test]
        if len(remaining) >= 3:
            valid = {remaining[-1]}
    out: dict[str, list[PairSource]] = {"train": [], "valid": [], "test": []}
    for p in pairs:
        split = "test" if p.speaker in test else "valid" if p.speaker in valid else "train"
        out[split].append(p)
    if not out["valid"] and len(out["train"]) >= 10:
        k = max(1, len(out["train"]) // 10)
        out["valid"], out["train"] = out["train"][-k:], out["train"][:-k]
    return out


def add_pairs(builder: CorpusBuilder, split: str, pairs: Sequence[PairSource],
              quality: str = "VHQ", progress: Progress | None = None) -> None:
    """Read, downmix, resample and add each pair not already in the builder."""
    progress = progress or SilentProgress()
    progress.start(f"{split}: resampling to {builder.sample_rate} Hz", len(pairs))
    for p in pairs:
        if not builder.has(split, p.id):
            c = load_mono(p.clean, builder.sample_rate, quality)
            n = load_mono(p.noisy, builder.sample_rate, quality)
            note_short(p.clean, progress)
            note_short(p.noisy, progress)
            tol = length_tolerance(audio_info(p.clean).sample_rate,
                                   audio_info(p.noisy).sample_rate, builder.sample_rate)
            if abs(c.size - n.size) > tol:
                raise CorpusError(f"{p.id}: clean and noisy lengths differ "
                                  f"({c.size} vs {n.size} samples)")
            m = min(c.size, n.size)
            builder.add(split, p.id, p.speaker, c[:m], n[:m])
        progress.advance(1)


def note_short(path: Path, progress: Progress) -> None:
    """Tell the user when a recording holds less audio than its header promises."""
    if note := truncation_note(audio_info(path)):
        progress.note(note)


def resampler_record(quality: str) -> dict[str, str]:
    """How audio was resampled, for the manifest (reproducibility of published numbers)."""
    return {"library": "soxr", "version": soxr.__version__, "quality": quality}


def finish_corpus(builder: CorpusBuilder, source: dict, progress: Progress | None) -> Manifest:
    """Cache, statistics and manifest, with a progress phase."""
    progress = progress or SilentProgress()
    if builder.kept:
        progress.note(f"--force left {len(builder.kept)} file(s) in {builder.root} that "
                      f"prepare did not write: {name_list(builder.kept)}")
    progress.start("building window cache", len(builder.done))
    return builder.finish(source, progress.advance)


def prepare_pairs(
    clean_dir: Path, noisy_dir: Path, out: Path, *, sample_rate: int = 16000,
    valid_speakers: Sequence[str] = (), test_speakers: Sequence[str] = (),
    test_clean: Path | None = None, test_noisy: Path | None = None,
    quality: str = "VHQ", force: bool = False, progress: Progress | None = None,
) -> Manifest:
    """Build a corpus from paired folders (optionally with separate test folders)."""
    pairs = match_pairs(clean_dir, noisy_dir, sample_rate=sample_rate)
    splits = split_by_speaker(pairs, valid_speakers, test_speakers)
    if (test_clean is None) != (test_noisy is None):
        raise CorpusError("give both --test-clean and --test-noisy, or neither")
    if test_clean is not None and test_noisy is not None:
        splits["test"] += match_pairs(test_clean, test_noisy, sample_rate=sample_rate)
    builder = CorpusBuilder(out, Path(out).resolve().name, sample_rate, force,
                            sources=(clean_dir, noisy_dir, test_clean, test_noisy))
    for split, items in splits.items():
        add_pairs(builder, split, items, quality, progress)
    source = {
        "kind": "pairs",
        "clean": str(Path(clean_dir).resolve()),
        "noisy": str(Path(noisy_dir).resolve()),
        "test_clean": str(Path(test_clean).resolve()) if test_clean else None,
        "test_noisy": str(Path(test_noisy).resolve()) if test_noisy else None,
        "resampler": resampler_record(quality),
    }
    return finish_corpus(builder, source, progress)
