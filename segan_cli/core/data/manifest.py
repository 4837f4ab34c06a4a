"""The corpus manifest: what a prepared corpus holds and where it came from.

``manifest.json`` is written last, once every split is complete; its presence is
what marks a corpus as finished. Paths inside it are relative to the corpus folder.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from segan_cli.core.files import write_text_atomic
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
        splits = {name: [Utterance(**u) for u in utts]
                  for name, utts in data["splits"].items()}
        return Manifest(name=data["name"], sample_rate=int(data["sample_rate"]),
                        splits=splits, stats=data.get("stats", {}),
                        source=data.get("source", {}), version=int(data.get("version", 1)))
    except (ValueError, KeyError, TypeError) as exc:
        raise CorpusError(f"{path} is malformed: {exc}", "re-run prepare with --force") from exc
