"""The corpus manifest: what a prepared corpus holds and where it came from.

``manifest.json`` is written last, once every split is complete; its presence is
what marks a corpus as finished. Paths inside it are relative to the corpus folder.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from segan_cli.core.io.files import write_text_atomic
from segan_cli.errors import CorpusError

MANIFEST_NAME = "manifest.json"
SPLITS = ("train", "valid", "test")
FORMAT_VERSION = 1


@dataclass
class Utterance:
    """One (clean, noisy) pair at the corpus sample rate."""

    id: str
    speaker: str
    clean: str
    noisy: str
    frames: int
    snr: float | None = None
    noise: str | None = None

    def duration(self, sample_rate: int) -> float:
        return self.frames / sample_rate


@dataclass
class Manifest:
    """Splits, statistics and provenance of a prepared corpus."""

    name: str
    sample_rate: int
    splits: dict[str, list[Utterance]]
    stats: dict[str, float] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    version: int = FORMAT_VERSION

    def utterances(self, split: str) -> list[Utterance]:
        if split not in self.splits:
            raise CorpusError(f"corpus has no split '{split}'",
                              f"available: {', '.join(self.splits)}")
        return self.splits[split]

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, indent=1)

    def save(self, root: Path) -> None:
        write_text_atomic(Path(root) / MANIFEST_NAME, self.to_json())


def missing_files(root: Path, manifest: Manifest) -> list[str]:
    """The audio files ``manifest`` lists that are not files in the corpus ``root``."""
    return [rel for utts in manifest.splits.values() for u in utts for rel in (u.clean, u.noisy)
            if not (Path(root) / rel).is_file()]


#: sample rates a corpus can have (every later division and resampling assumes one)
RATE_RANGE = (1000, 384_000)


def _check_values(manifest: Manifest) -> None:
    """ValueError for values no prepare writes (a hand-edited or damaged manifest), so
    that they are named here instead of failing deep inside stats or training."""
    low, high = RATE_RANGE
    if not low <= manifest.sample_rate <= high:
        raise ValueError(f"sample_rate {manifest.sample_rate} is outside {low}..{high} Hz")
    if not isinstance(manifest.stats, dict) or not isinstance(manifest.source, dict):
        raise ValueError("'stats' and 'source' must be mappings")
    for split, utts in manifest.splits.items():
        for u in utts:
            if not all(isinstance(v, str) and v for v in (u.id, u.speaker, u.clean, u.noisy)):
                raise ValueError(f"{split} utterance {u.id!r}: id, speaker, clean and noisy "
                                 "must be non-empty text")
            for rel in (u.clean, u.noisy):  # a corpus's files live inside its folder
                parts = Path(rel).parts
                if Path(rel).is_absolute() or ".." in parts:
                    raise ValueError(f"{split} utterance {u.id}: {rel!r} points outside the "
                                     "corpus folder")
            if not isinstance(u.frames, int) or isinstance(u.frames, bool) or u.frames < 0:
                raise ValueError(f"{split} utterance {u.id}: frames {u.frames!r} is not a "
                                 "count of samples")


def load_manifest(root: Path) -> Manifest:
    """Read ``root/manifest.json``; a clear CorpusError if absent or malformed."""
    root = Path(root)
    path = root / MANIFEST_NAME
    if not root.is_dir():
        raise CorpusError(f"corpus folder not found: {root}",
                          "build one with `segan prepare` first")
    if not path.is_file():
        raise CorpusError(f"{root} is not a prepared corpus (no {MANIFEST_NAME})",
                          "run `segan prepare ... --out` on it, or finish an interrupted prepare")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("splits"), dict):
            raise ValueError("'splits' is not a mapping of split names to utterance lists")
        splits = {name: [Utterance(**u) for u in utts]
                  for name, utts in data["splits"].items()}
        manifest = Manifest(name=data["name"], sample_rate=int(data["sample_rate"]),
                            splits=splits, stats=data.get("stats", {}),
                            source=data.get("source", {}), version=int(data.get("version", 1)))
        _check_values(manifest)
        return manifest
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # wrong JSON shapes
        raise CorpusError(f"{path} is malformed: {exc}", "re-run prepare with --force") from exc
