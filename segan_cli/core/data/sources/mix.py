"""``prepare mix``: a noisy corpus made from clean speech and noise recordings.

Each clean utterance gets one noise (a random excerpt of one noise recording) at one
SNR from the split's list, all drawn from a generator seeded by the corpus seed and
the utterance id, so the corpus is identical on every machine and independent of
processing order. The SNR is the ratio of whole-utterance powers. Test speakers and
test noises are held out of training and validation; test SNRs differ from
training SNRs (VoiceBank-DEMAND style). Validation mixes at the test SNRs unless
``valid_snrs`` says otherwise: at the training SNRs (0 dB and up) with unseen noises,
noisy PESQ sat at the scale's floor (1.10 on the demo corpus), where models barely
differ, so choosing on it did not predict the test sets. Validation noises, when
named, are heard only by the validation split, so checkpoints are chosen on noise
types training never heard. When the mixture would clip, clean and noisy are scaled
down together, which leaves the SNR unchanged.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from segan_cli.core.data.pipeline.corpus import CorpusBuilder, measured_snr
from segan_cli.core.data.pipeline.manifest import Manifest
from segan_cli.core.data.sources.pairs import (
    finish_corpus,
    list_audio,
    name_list,
    note_short,
    resampler_record,
    speaker_of,
    utterance_ids,
)
from segan_cli.core.io.audio import load_mono
from segan_cli.core.runtime.progress import Progress, SilentProgress
from segan_cli.errors import CorpusError

PEAK = 0.99


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Scale ``noise`` so that clean + noise has the given SNR; return the mixture."""
    pc = float(np.mean(np.square(clean, dtype=np.float64)))
    pn = float(np.mean(np.square(noise, dtype=np.float64)))
    if pn <= 0:
        raise CorpusError("noise excerpt is silent")
    gain = np.sqrt(pc / (pn * 10.0 ** (snr_db / 10.0))) if pc > 0 else 0.0
    return (clean + gain * noise).astype(np.float32)


def noise_excerpt(noise: np.ndarray, length: int, rng: np.random.Generator,
                  tries: int = 8) -> np.ndarray:
    """A random ``length``-sample excerpt of ``noise`` (looped if shorter).

    Excerpts far quieter than the recording as a whole (a pause in music, say) are
    redrawn, since scaling them to the target SNR would mostly amplify hiss.
    """
    level = float(np.mean(np.square(noise, dtype=np.float64)))
    for _ in range(tries):
        piece = _excerpt(noise, length, rng)
        if np.mean(np.square(piece, dtype=np.float64)) >= 0.01 * level > 0:
            return piece
    return piece


def _excerpt(noise: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    if noise.size >= length:
        start = int(rng.integers(0, noise.size - length + 1))
        return noise[start:start + length]
    start = int(rng.integers(0, noise.size))
    reps = int(np.ceil((length + start) / noise.size))
    return np.tile(noise, reps)[start:start + length]


def utterance_rng(seed: int, utt_id: str) -> np.random.Generator:
    """A generator that depends only on the corpus seed and the utterance id."""
    return np.random.default_rng([seed, zlib.crc32(utt_id.encode("utf-8"))])


def hold_out(names: Sequence[str], chosen: Sequence[str] | None, fraction: float) -> set[str]:
    """The held-out subset: ``chosen`` if given, else the last ``fraction`` (>= 1)."""
    names = sorted(names)
    if chosen:
        unknown = set(chosen) - set(names)
        if unknown:
            raise CorpusError(f"held-out names not found: {', '.join(sorted(unknown))}",
                              f"available: {', '.join(names)}")
        return set(chosen)
    if len(names) < 2:
        return set()
    k = max(1, int(round(len(names) * fraction)))
    return set(names[-k:])


def noise_roles(names: Sequence[str], valid: Sequence[str] | None,
                test: Sequence[str] | None) -> tuple[set[str], set[str]]:
    """Validation and test noises: the named ones (validation only when named), else
    the last 30% of the others for test. Training may use neither."""
    if both := set(valid or ()) & set(test or ()):
        raise CorpusError(f"noises named for both validation and test: {name_list(both)}")
    valid_nz = hold_out(names, valid, 0.0) if valid else set()
    rest = [n for n in names if n not in valid_nz]
    test_nz = hold_out(rest, test, 0.3)
    if valid_nz and not set(rest) - test_nz:
        raise CorpusError("no noise recording is left for training",
                          "name fewer validation or test noises")
    return valid_nz, test_nz


def prepare_mix(
    clean_dir: Path, noise_dir: Path, out: Path, *, sample_rate: int = 16000,
    train_snrs: Sequence[float] = (0, 5, 10, 15),
    test_snrs: Sequence[float] = (2.5, 7.5, 12.5, 17.5),
    valid_snrs: Sequence[float] | None = None,
    valid_speakers: Sequence[str] = (), test_speakers: Sequence[str] | None = None,
    test_noises: Sequence[str] | None = None, valid_noises: Sequence[str] | None = None,
    seed: int = 0, quality: str = "VHQ",
    force: bool = False, name: str | None = None, progress: Progress | None = None,
    source_extra: dict | None = None,
) -> Manifest:
    """Build a corpus by mixing clean speech with noise at the given SNRs."""
    progress = progress or SilentProgress()
    clean = list_audio(clean_dir)
    noises = list_audio(noise_dir)
    if not clean:
        raise CorpusError(f"no audio files found in {clean_dir}")
    ids = utterance_ids(clean)
    if not noises:
        raise CorpusError(f"no noise recordings found in {noise_dir}")
    valid_list = list(test_snrs if valid_snrs is None else valid_snrs)
    if not train_snrs or not test_snrs or not valid_list:
        raise CorpusError("train, validation and test SNR lists must not be empty")
    speakers = sorted({speaker_of(k) for k in clean})
    test_spk = hold_out(speakers, test_speakers, 0.2)
    valid_nz, test_nz = noise_roles(list(noises), valid_noises, test_noises)
    train_spk = [s for s in speakers if s not in test_spk]
    valid_spk = set(valid_speakers) & set(train_spk)
    if not valid_spk and len(train_spk) >= 3:
        valid_spk = {train_spk[-1]}
    builder = CorpusBuilder(out, name or Path(out).resolve().name, sample_rate, force,
                            sources=(clean_dir, noise_dir))
    progress.start("loading noise recordings", len(noises))
    noise_audio: dict[str, np.ndarray] = {}
    for key, path in noises.items():
        noise_audio[key] = load_mono(path, sample_rate, quality)
        if not np.any(noise_audio[key]):  # refused before the corpus folder is made
            raise CorpusError(f"noise recording {path} is silent (every sample is zero)",
                              "remove it from the noise folder")
        note_short(path, progress)
        progress.advance(1)
    train_nz = [k for k in noises if k not in test_nz | valid_nz] or list(noises)
    progress.start("mixing speech and noise", len(clean))
    for key, path in clean.items():
        spk = speaker_of(key)
        split = "test" if spk in test_spk else "valid" if spk in valid_spk else "train"
        utt_id = ids[key]
        if not builder.has(split, utt_id):
            rng = utterance_rng(seed, utt_id)
            pool = sorted(test_nz) if split == "test" and test_nz else \
                sorted(valid_nz) if split == "valid" and valid_nz else sorted(train_nz)
            snrs = test_snrs if split == "test" else valid_list if split == "valid" \
                else train_snrs
            nz = pool[int(rng.integers(0, len(pool)))]
            snr = float(snrs[int(rng.integers(0, len(snrs)))])
            speech = load_mono(path, sample_rate, quality)
            note_short(path, progress)
            excerpt = noise_excerpt(noise_audio[nz], speech.size, rng)
            try:
                noisy = mix_at_snr(speech, excerpt, snr)
            except CorpusError as exc:
                raise CorpusError(f"{utt_id}: {exc.message} (noise '{nz}')",
                                  "remove silent noise recordings from the noise folder"
                                  ) from None
            peak = max(float(np.max(np.abs(noisy))), float(np.max(np.abs(speech))), 1e-9)
            scale = min(1.0, PEAK / peak)
            speech, noisy = speech * scale, noisy * scale
            builder.add(split, utt_id, spk, speech, noisy,
                        snr=measured_snr(speech, noisy), noise=nz)
        progress.advance(1)
    source = {
        "kind": "mix", "clean": str(Path(clean_dir).resolve()),
        "noise": str(Path(noise_dir).resolve()), "seed": seed,
        "train_snrs": list(train_snrs), "test_snrs": list(test_snrs),
        "valid_snrs": valid_list,
        "test_speakers": sorted(test_spk), "valid_speakers": sorted(valid_spk),
        "test_noises": sorted(test_nz), "train_noises": sorted(train_nz),
        **({"valid_noises": sorted(valid_nz)} if valid_nz else {}),
        "resampler": resampler_record(quality), **(source_extra or {}),
    }
    return finish_corpus(builder, source, progress)
