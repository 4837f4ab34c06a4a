"""The window cache: each split's audio in one memory-mapped array per signal.

Training never re-opens wav files: ``cache/<split>.clean.npy`` and
``cache/<split>.noisy.npy`` hold every utterance of the split end to end (float32,
exactly the samples of the corpus wavs), ``cache/<split>.bounds.npy`` holds each
utterance's (start, frames). The window index, (utterance, offset) pairs, is derived
from the bounds for any window/hop, so changing the window never rebuilds the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from segan_cli.core.audio import read_audio, to_mono
from segan_cli.core.data.manifest import Utterance
from segan_cli.core.data.windows import window_offsets
from segan_cli.core.files import atomic_path
from segan_cli.errors import CorpusError

CACHE_DIR = "cache"


def cache_paths(root: Path, split: str) -> dict[str, Path]:
    base = Path(root) / CACHE_DIR
    return {k: base / f"{split}.{k}.npy" for k in ("clean", "noisy", "bounds")}


def build_split_cache(
    root: Path, split: str, utts: list[Utterance],
    progress: Callable[[int], None] | None = None,
) -> None:
    """Write the split's cache arrays by reading its wavs once."""
    paths = cache_paths(root, split)
    total = int(sum(u.frames for u in utts))
    bounds = np.zeros((len(utts), 2), dtype=np.int64)
    paths["clean"].parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(paths["clean"], ".tmp.npy") as tc, \
            atomic_path(paths["noisy"], ".tmp.npy") as tn:
        clean = np.lib.format.open_memmap(tc, mode="w+", dtype=np.float32, shape=(total,))
        noisy = np.lib.format.open_memmap(tn, mode="w+", dtype=np.float32, shape=(total,))
        pos = 0
        for i, utt in enumerate(utts):
            c = to_mono(read_audio(Path(root) / utt.clean)[0])
            n = to_mono(read_audio(Path(root) / utt.noisy)[0])
            if c.size != utt.frames or n.size != utt.frames:
                raise CorpusError(f"{utt.id}: wav length differs from the manifest",
                                  "re-run prepare with --force")
            clean[pos:pos + utt.frames] = c
            noisy[pos:pos + utt.frames] = n
            bounds[i] = (pos, utt.frames)
            pos += utt.frames
            if progress:
                progress(1)
        clean.flush()
        noisy.flush()
        del clean, noisy
        with atomic_path(paths["bounds"], ".tmp.npy") as tb:
            np.save(tb, bounds)


class SplitCache:
    """Random access to one split's utterances and windows, without opening wavs."""

    def __init__(self, root: Path, split: str, window: int, hop: int) -> None:
        paths = cache_paths(root, split)
        missing = [p.name for p in paths.values() if not p.is_file()]
        if missing:
            raise CorpusError(f"window cache of split '{split}' is missing in {root}",
                              "re-run `segan prepare` with --force to rebuild it")
        self.split = split
        self.window = int(window)
        self.hop = int(hop)
        self.clean = np.load(paths["clean"], mmap_mode="r")
        self.noisy = np.load(paths["noisy"], mmap_mode="r")
        self.bounds = np.load(paths["bounds"])
        parts = [np.stack([np.full(len(o), i), o], axis=1)
                 for i, o in ((i, window_offsets(int(f), window, hop))
                              for i, (_, f) in enumerate(self.bounds))]
        self.index = (np.concatenate(parts).astype(np.int64) if parts
                      else np.zeros((0, 2), dtype=np.int64))

    def __len__(self) -> int:
        return int(self.index.shape[0])

    @property
    def num_utterances(self) -> int:
        return int(self.bounds.shape[0])

    def window_at(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(clean, noisy) of window ``i``, zero-padded to the window length."""
        utt, off = self.index[i]
        start, frames = self.bounds[utt]
        a = int(start + off)
        n = int(min(self.window, frames - off))
        clean = np.zeros(self.window, dtype=np.float32)
        noisy = np.zeros(self.window, dtype=np.float32)
        clean[:n] = self.clean[a:a + n]
        noisy[:n] = self.noisy[a:a + n]
        return clean, noisy

    def utterance(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """(clean, noisy) of utterance ``j`` as in-memory arrays."""
        start, frames = (int(v) for v in self.bounds[j])
        return (np.array(self.clean[start:start + frames]),
                np.array(self.noisy[start:start + frames]))

