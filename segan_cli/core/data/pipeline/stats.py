"""Per-split statistics of a prepared corpus, computed from its window cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from segan_cli.core.data.pipeline.cache import (
    cache_paths,
    check_against_manifest,
    open_cache_array,
    open_split_arrays,
)
from segan_cli.core.data.pipeline.manifest import MANIFEST_NAME, Manifest, missing_files
from segan_cli.errors import CorpusError, name_list

CLIP_LEVEL = 32767 / 32768 - 1e-6


def signal_stats(path: Path, chunk: int = 1 << 22) -> dict[str, float]:
    """Mean, std, peak and clipped-sample count of a cached signal, read in chunks."""
    return array_stats(open_cache_array(path, "float32", 1), chunk)


def array_stats(arr: np.ndarray, chunk: int = 1 << 22) -> dict[str, float]:
    """:func:`signal_stats` of a (memory-mapped) 1-D array."""
    n = int(arr.shape[0])
    s = s2 = peak = 0.0
    clipped = 0
    for a in range(0, n, chunk):
        block = np.asarray(arr[a:a + chunk], dtype=np.float64)
        s += block.sum()
        s2 += np.square(block).sum()
        if block.size:
            peak = max(peak, float(np.abs(block).max()))
        clipped += int(np.count_nonzero(np.abs(block) >= CLIP_LEVEL))
    mean = s / n if n else 0.0
    std = float(np.sqrt(max(s2 / n - mean * mean, 0.0))) if n else 0.0
    return {"mean": float(mean), "std": std, "peak": peak, "clipped": clipped}


def corpus_stats(root: Path, split: str = "train") -> dict[str, float]:
    """Mean and std of noisy and clean audio over a split (used by arch ``adv``)."""
    out: dict[str, float] = {}
    for key, path in cache_paths(root, split).items():
        if key != "bounds":
            s = signal_stats(path)
            out[f"{key}_mean"] = s["mean"]
            out[f"{key}_std"] = s["std"] or 1.0
    return out


def split_stats(root: Path, manifest: Manifest, split: str) -> dict[str, Any]:
    """Counts, durations, SNR distribution and signal levels of one split."""
    utts = manifest.utterances(split)
    sr = manifest.sample_rate
    durs = np.array([u.frames / sr for u in utts], dtype=np.float64)
    snrs = np.array([u.snr for u in utts if u.snr is not None], dtype=np.float64)
    out: dict[str, Any] = {
        "utterances": len(utts),
        "speakers": len({u.speaker for u in utts}),
        "speaker_names": sorted({u.speaker for u in utts}),
        "hours": float(durs.sum() / 3600.0),
        "duration": {
            "min": float(durs.min()) if durs.size else 0.0,
            "median": float(np.median(durs)) if durs.size else 0.0,
            "max": float(durs.max()) if durs.size else 0.0,
        },
        "snr": None,
        "noises": sorted({u.noise for u in utts if u.noise}),
    }
    if snrs.size:
        out["snr"] = {
            "min": float(snrs.min()), "mean": float(snrs.mean()),
            "median": float(np.median(snrs)), "max": float(snrs.max()),
            "histogram": _snr_histogram(snrs),
        }
    out["noisy"] = out["clean"] = None
    if utts:
        clean, noisy, bounds = open_split_arrays(root, split)
        check_against_manifest(root, split, bounds, [u.frames for u in utts])
        out["noisy"], out["clean"] = array_stats(noisy), array_stats(clean)
    return out


def _snr_histogram(snrs: np.ndarray) -> dict[str, int]:
    """Counts per 2.5 dB bin, labelled by bin centre (VoiceBank SNRs are multiples)."""
    bins = np.round(snrs / 2.5) * 2.5
    values, counts = np.unique(bins, return_counts=True)
    return {f"{v:g}": int(c) for v, c in zip(values, counts, strict=True)}


def corpus_summary(root: Path, manifest: Manifest) -> dict[str, Any]:
    """All splits' statistics plus the corpus-level facts (name, rate, provenance).

    A corpus whose listed audio files are not all there is damaged: a CorpusError
    naming them, not statistics of a corpus that no longer exists as summarised."""
    gone = missing_files(root, manifest)
    if gone:
        raise CorpusError(f"{len(gone)} audio file(s) listed in {Path(root) / MANIFEST_NAME} "
                          f"are missing: {name_list(gone, 4)}",
                          "restore them, or rebuild the corpus with `segan prepare ... --force`")
    return {
        "corpus": str(Path(root)),
        "name": manifest.name,
        "sample_rate": manifest.sample_rate,
        "normalisation": manifest.stats,
        "source": manifest.source,
        "splits": {s: split_stats(root, manifest, s) for s in manifest.splits},
    }


def plot_summary(root: Path, manifest: Manifest, out: Path, overwrite: bool = False) -> None:
    """Write duration and SNR histograms per split to a PNG file (through the guard)."""
    from segan_cli.core.io.figures import publish_png, pyplot

    plt = pyplot()
    splits = [s for s in manifest.splits if manifest.splits[s]]
    fig, axes = plt.subplots(2, max(len(splits), 1), figsize=(4 * max(len(splits), 1), 6),
                             squeeze=False)
    for col, split in enumerate(splits):
        utts = manifest.splits[split]
        axes[0][col].hist([u.frames / manifest.sample_rate for u in utts], bins=30)
        axes[0][col].set_title(f"{split}: duration (s)")
        snrs = [u.snr for u in utts if u.snr is not None]
        axes[1][col].hist(snrs, bins=30, color="tab:orange")
        axes[1][col].set_title(f"{split}: SNR (dB)")
    fig.suptitle(f"{manifest.name} ({root})")
    fig.tight_layout()
    publish_png(fig, out, overwrite)
