"""Writing a prepared corpus: wavs per split, then the cache, statistics and manifest.

Writing is resumable: each finished utterance is appended to ``progress.jsonl``
after both its wavs are in place (each written atomically), so an interrupted
prepare picks up where it stopped. ``manifest.json`` is written last.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from segan_cli.core.data.pipeline.cache import CACHE_DIR, build_split_cache, cache_paths
from segan_cli.core.data.pipeline.manifest import MANIFEST_NAME, SPLITS, Manifest, Utterance
from segan_cli.core.data.pipeline.stats import corpus_stats
from segan_cli.core.io.audio import write_audio
from segan_cli.core.io.temporaries import remove_stale
from segan_cli.errors import CorpusError

PROGRESS_NAME = "progress.jsonl"
PCM16_MAX = 32767 / 32768


class CorpusExistsError(CorpusError):
    """The output folder already holds a finished corpus."""


def measured_snr(clean: np.ndarray, noisy: np.ndarray) -> float | None:
    """SNR in dB of ``noisy`` against ``clean`` (None when either part is silent)."""
    c = np.asarray(clean, dtype=np.float64)
    d = np.asarray(noisy, dtype=np.float64) - c
    pc, pn = float(np.sum(c * c)), float(np.sum(d * d))
    if pc <= 0 or pn <= 0:
        return None
    return round(10.0 * np.log10(pc / pn), 3)


class CorpusBuilder:
    """Adds (clean, noisy) pairs to a corpus folder and finalises it."""

    def __init__(self, root: Path, name: str, sample_rate: int, force: bool = False,
                 sources: Sequence[Path | None] = ()) -> None:
        self.root = Path(root)
        self.name = name
        self.sample_rate = int(sample_rate)
        #: files below the split and cache folders that --force left (not prepare's own)
        self.kept: list[str] = []
        if self.root.exists() and not self.root.is_dir():
            raise CorpusError(f"output path exists and is not a folder: {self.root}")
        _refuse_source_folder(self.root, sources)
        self._refuse_foreign()
        if (self.root / MANIFEST_NAME).is_file():
            if not force:
                raise CorpusExistsError(
                    f"a finished corpus already exists in {self.root}",
                    "pass --force to rebuild it")
        if force:
            self.clear()
        if self.root.is_dir():
            remove_stale(self.root, recursive=True)  # left by a killed prepare
        self.done: dict[tuple[str, str], Utterance] = {}
        # keys confirmed (has) or written (add) by this run: a resumed run whose split
        # plan changed must not carry stale entries into the manifest
        self.current: set[tuple[str, str]] = set()
        progress = self.root / PROGRESS_NAME
        if progress.is_file():
            self._load_progress(progress)

    def _start(self) -> None:
        """Create the folder and the progress file with the first utterance, so that a
        prepare refused before it wrote anything (an unreadable first file) leaves
        nothing behind."""
        progress = self.root / PROGRESS_NAME
        if not progress.is_file():
            self.root.mkdir(parents=True, exist_ok=True)
            progress.write_text(json.dumps({"sample_rate": self.sample_rate}) + "\n",
                                encoding="utf-8")

    def _refuse_foreign(self) -> None:
        """A folder holding train/, valid/, test/ or cache/ but neither a manifest nor a
        progress file is not a corpus of ours: writing (or, with --force, deleting)
        those folders would destroy someone's files."""
        if not self.root.is_dir() or (self.root / MANIFEST_NAME).is_file() \
                or (self.root / PROGRESS_NAME).is_file():
            return
        clash = [name for name in (*SPLITS, CACHE_DIR) if (self.root / name).exists()]
        if clash:
            raise CorpusError(
                f"{self.root} holds {', '.join(f'{n}/' for n in clash)} but no segan corpus "
                "(no manifest.json or progress.jsonl); prepare would write into them",
                "choose a new or empty --out folder")

    def _load_progress(self, progress: Path) -> None:
        lines = progress.read_text(encoding="utf-8").splitlines()
        try:
            header = json.loads(lines[0]) if lines else {}
        except ValueError:
            header = {}
        if header.get("sample_rate") != self.sample_rate:
            self.clear()  # written at another rate: start over
            return
        for line in lines[1:]:
            try:
                rec = json.loads(line)
                utt = Utterance(**rec["utt"])
            except (ValueError, KeyError, TypeError):
                continue  # a line cut by an interruption: redo that utterance
            if (self.root / utt.clean).is_file() and (self.root / utt.noisy).is_file():
                self.done[(rec["split"], utt.id)] = utt

    def clear(self) -> None:
        """Remove what a previous prepare wrote, as its manifest and progress file list
        it (wavs, cache arrays, the two files, folders left empty). A user's file put
        beside them stays, and is listed in :attr:`kept` for the caller to name."""
        remove_stale(self.root, recursive=True)
        owned = [*_listed_wavs(self.root)]
        for split in SPLITS:
            owned += cache_paths(self.root, split).values()
        for path in owned:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        for folder in (*SPLITS, CACHE_DIR):
            _remove_empty_folders(self.root / folder)
        for name in (MANIFEST_NAME, PROGRESS_NAME):
            (self.root / name).unlink(missing_ok=True)
        self.kept = sorted(p.relative_to(self.root).as_posix() for folder in
                           (*SPLITS, CACHE_DIR) for p in (self.root / folder).rglob("*")
                           if not p.is_dir())

    @property
    def resumed(self) -> int:
        return len(self.done)

    def has(self, split: str, utt_id: str) -> bool:
        """Whether the pair is already written; if so it belongs to this run's corpus."""
        key = (split, utt_id)
        if key in self.done:
            self.current.add(key)
            return True
        return False

    def add(self, split: str, utt_id: str, speaker: str, clean: np.ndarray,
            noisy: np.ndarray, snr: float | None = None, noise: str | None = None) -> Utterance:
        """Write one pair (16-bit PCM) and record it; returns its manifest entry."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split}")
        if clean.shape != noisy.shape:
            raise CorpusError(f"{utt_id}: clean and noisy lengths differ "
                              f"({clean.shape[0]} vs {noisy.shape[0]} samples)")
        clean = np.clip(clean, -1.0, PCM16_MAX)
        noisy = np.clip(noisy, -1.0, PCM16_MAX)
        self._start()
        rel_c = f"{split}/clean/{utt_id}.wav"
        rel_n = f"{split}/noisy/{utt_id}.wav"
        write_audio(self.root / rel_c, clean, self.sample_rate, "PCM_16")
        write_audio(self.root / rel_n, noisy, self.sample_rate, "PCM_16")
        if snr is None:
            snr = measured_snr(clean, noisy)
        utt = Utterance(utt_id, speaker, rel_c, rel_n, int(clean.shape[0]), snr, noise)
        with open(self.root / PROGRESS_NAME, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"split": split, "utt": asdict(utt)}) + "\n")
        self.done[(split, utt_id)] = utt
        self.current.add((split, utt_id))
        return utt

    def finish(self, source: dict[str, Any],
               progress: Callable[[int], None] | None = None) -> Manifest:
        """Build the window caches and statistics, then write the manifest."""
        splits: dict[str, list[Utterance]] = {s: [] for s in SPLITS}
        for key, utt in self.done.items():
            if key in self.current:
                splits[key[0]].append(utt)
        for utts in splits.values():
            utts.sort(key=lambda u: u.id)
        if not splits["train"]:
            raise CorpusError(f"no training utterances were prepared in {self.root}")
        for split, utts in splits.items():
            build_split_cache(self.root, split, utts, progress)
        manifest = Manifest(self.name, self.sample_rate, splits, source=source)
        manifest.stats = corpus_stats(self.root, "train")
        manifest.save(self.root)
        (self.root / PROGRESS_NAME).unlink(missing_ok=True)
        return manifest


def corpus_inputs(root: Path) -> list[Path]:
    """What commands reading a corpus read, hence never replace: the manifest, the
    progress file, the split and cache folders (and the extracted sources and
    downloads of ``prepare voicebank``)."""
    root = Path(root)
    return [root / MANIFEST_NAME, root / PROGRESS_NAME, *(root / s for s in SPLITS),
            root / CACHE_DIR, root / "sources", root / "downloads"]


def _refuse_source_folder(root: Path, sources: Sequence[Path | None]) -> None:
    """A corpus written into (or below) a folder of source recordings mixes its wavs
    with the user's, and the next run reads them back as sources."""
    out = root.resolve()
    for src in sources:
        if src is not None and out.is_relative_to(Path(src).resolve()):
            raise CorpusError(f"--out {root} is inside the source folder {src}: the corpus "
                              "would be written among the recordings it is made from",
                              "choose an --out folder outside the source folders")


def _listed_wavs(root: Path) -> list[Path]:
    """The wavs a (possibly damaged) manifest and progress file say prepare wrote,
    limited to the split folders: a hand-edited path never reaches anything else."""
    records: list[Any] = []
    with contextlib.suppress(OSError, ValueError):
        data = json.loads((root / MANIFEST_NAME).read_text(encoding="utf-8"))
        for utts in (data.get("splits") or {}).values():
            records += utts if isinstance(utts, list) else []
    with contextlib.suppress(OSError, UnicodeDecodeError):
        for line in (root / PROGRESS_NAME).read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError, AttributeError):
                records.append(json.loads(line).get("utt"))
    found = []
    for rec in records:
        for key in ("clean", "noisy"):
            rel = rec.get(key) if isinstance(rec, dict) else None
            if not isinstance(rel, str):
                continue
            parts = Path(rel).parts
            if len(parts) > 1 and parts[0] in SPLITS and ".." not in parts \
                    and not Path(rel).is_absolute() and rel.endswith(".wav"):
                found.append(root / rel)
    return found


def _remove_empty_folders(top: Path) -> None:
    """Remove ``top`` and the folders below it that hold nothing, deepest first."""
    if not top.is_dir() or top.is_symlink():
        return
    for folder, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
        with contextlib.suppress(OSError):
            os.rmdir(folder)  # fails, as it should, while anything is left in it
