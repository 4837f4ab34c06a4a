"""The window cache: each split's audio in one memory-mapped array per signal.

Training never re-opens wav files: ``cache/<split>.clean.npy`` and
``cache/<split>.noisy.npy`` hold every utterance of the split end to end (float32,
exactly the samples of the corpus wavs), ``cache/<split>.bounds.npy`` holds each
utterance's (start, frames). The window index, (utterance, offset) pairs, is derived
from the bounds for any window/hop, so changing the window never rebuilds the cache.

Every array is checked against its own header before it is mapped (a file cut short by
a full disk or an interrupted copy), and the bounds against the arrays and the
manifest, so a damaged cache is one :class:`CorpusError` naming the file and saying
how to rebuild it, never a numpy traceback or windows read past the data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from segan_cli.core.data.pipeline.manifest import Utterance
from segan_cli.core.data.pipeline.windows import window_offsets
from segan_cli.core.io.audio import read_audio, to_mono
from segan_cli.core.io.files import atomic_path
from segan_cli.core.io.output_guard import preallocate
from segan_cli.errors import CorpusError

CACHE_DIR = "cache"
REBUILD_HINT = "re-run the `segan prepare ...` command that built the corpus with --force"


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
        for tmp in (tc, tn):  # a full disk fails here, not as SIGBUS on a mapped page
            preallocate(tmp, tmp.stat().st_size)
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


def open_cache_array(path: Path, dtype: str, ndim: int, mmap: bool = True) -> np.ndarray:
    """One cache array, memory-mapped, after checking its size against its header."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"window cache file {path} is missing", REBUILD_HINT)
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dt = read_header(fh)
            offset = fh.tell()
        size = path.stat().st_size
    except (ValueError, OSError, EOFError) as exc:
        raise CorpusError(f"window cache file {path} is unreadable or not a cache array "
                          f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})",
                          REBUILD_HINT) from exc
    if dt != np.dtype(dtype) or len(shape) != ndim:
        raise CorpusError(f"window cache file {path} holds {dt} {shape}, not a "
                          f"{ndim}-D {dtype} cache array", REBUILD_HINT)
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    if size < expected:
        raise CorpusError(f"window cache file {path} is truncated: it holds {size} of its "
                          f"{expected} bytes", REBUILD_HINT)
    return np.load(path, mmap_mode="r" if mmap else None)


def open_split_arrays(root: Path, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clean, noisy, bounds) of a split's cache, checked for size and consistency."""
    paths = cache_paths(root, split)
    clean = open_cache_array(paths["clean"], "float32", 1)
    noisy = open_cache_array(paths["noisy"], "float32", 1)
    bounds = open_cache_array(paths["bounds"], "int64", 2, mmap=False)
    problem = None
    if clean.shape != noisy.shape:
        problem = f"clean holds {clean.shape[0]} samples, noisy {noisy.shape[0]}"
    elif bounds.shape[1:] != (2,):
        problem = f"bounds have shape {bounds.shape}"
    elif bounds.size and (bounds.min() < 0 or int(bounds.sum(axis=1).max()) > clean.shape[0]):
        problem = "utterance bounds point past the cached audio"
    if problem:
        raise CorpusError(f"window cache of split '{split}' in {root} is inconsistent: "
                          f"{problem}", REBUILD_HINT)
    return clean, noisy, bounds


def check_against_manifest(root: Path, split: str, bounds: np.ndarray,
                           frames: Sequence[int]) -> None:
    """The cache must hold the manifest's utterances, in order, at their lengths."""
    if bounds.shape[0] != len(frames) or not np.array_equal(bounds[:, 1], np.asarray(frames)):
        raise CorpusError(f"window cache of split '{split}' in {root} does not match the "
                          f"manifest ({bounds.shape[0]} cached utterances, "
                          f"{len(frames)} listed)", REBUILD_HINT)


class SplitCache:
    """Random access to one split's utterances and windows, without opening wavs."""

    def __init__(self, root: Path, split: str, window: int, hop: int,
                 frames: Sequence[int] | None = None) -> None:
        paths = cache_paths(root, split)
        missing = [p.name for p in paths.values() if not p.is_file()]
        if missing:
            raise CorpusError(f"window cache of split '{split}' is missing in {root}",
                              REBUILD_HINT)
        self.split = split
        self.window = int(window)
        self.hop = int(hop)
        self.clean, self.noisy, self.bounds = open_split_arrays(root, split)
        if frames is not None:
            check_against_manifest(root, split, self.bounds, frames)
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

