"""The files of a corpus run as a Lightning dataset: ids in the batch, longest first.

Each item carries its own id and job (input, output), so the writer never needs
Lightning's ``batch_indices`` (which under DDP index a rank's shard, not the corpus).
The DataLoader is a plain one: Lightning's own distributed sampler
(``UnrepeatedDistributedSampler`` in predict) gives each rank every N-th item, with no
duplicates and no padding repeats.

Rank 0 alone reads the headers and orders the files by duration, longest first, and
broadcasts the list, so every rank shards the same list (a file added or finished
between two ranks' planning cannot shift the shards). Striding a longest-first list
gives each rank a run of similar durations and nearly equal hours of audio, so the
ranks finish together. Should there be fewer files than ranks, empty items make up
the difference (Lightning's sampler needs one item per rank); they enhance nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lightning as L
from torch.utils.data import DataLoader, Dataset

from segan_cli.core.enhancement.batch_enhance import Job
from segan_cli.core.io.audio import audio_info
from segan_cli.errors import SeganError


@dataclass(frozen=True)
class Item:
    """One dataset entry: the file's id in the plan, its job, its duration (None: an
    empty item that only keeps a rank from having nothing)."""

    id: int
    job: Job | None
    seconds: float = 0.0


def by_length(jobs: Sequence[Job]) -> list[Item]:
    """The jobs as items, longest first (ties in plan order); a file whose header
    cannot be read goes last, and fails by name when its turn comes."""
    items = []
    for i, job in enumerate(jobs):
        try:
            seconds = audio_info(job.src).duration
        except SeganError:
            seconds = -1.0
        items.append(Item(i, job, seconds))
    return sorted(items, key=lambda it: (-it.seconds, it.id))


def padded(items: list[Item], world_size: int) -> list[Item]:
    """``items`` plus empty ones up to one per rank."""
    fill = max(0, world_size - len(items))
    return items + [Item(-1 - k, None) for k in range(fill)]


class ItemDataset(Dataset):
    """A list of :class:`Item` (a map-style dataset, so it has a length to shard)."""

    def __init__(self, items: list[Item]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Item:
        return self.items[index]


def keep_items(batch: list[Item]) -> list[Item]:
    """The collate function: a batch is its items as they are (paths are not tensors)."""
    return list(batch)


class CorpusData(L.LightningDataModule):
    """The planned jobs, ordered on rank 0 and broadcast at setup."""

    def __init__(self, jobs: Sequence[Job], files_per_step: int = 1) -> None:
        super().__init__()
        self.jobs = list(jobs)
        self.files_per_step = int(files_per_step)
        self.items: list[Item] = []

    def setup(self, stage: str) -> None:
        trainer: Any = self.trainer
        world = trainer.world_size if trainer is not None else 1
        ordered = by_length(self.jobs) if trainer is None or trainer.is_global_zero else None
        if trainer is not None and world > 1:
            ordered = trainer.strategy.broadcast(ordered, src=0)
        assert ordered is not None
        self.items = padded(ordered, world)

    def transfer_batch_to_device(self, batch: Any, device: Any, dataloader_idx: int) -> Any:
        return batch  # paths, not tensors: each file is read where it is enhanced

    def predict_dataloader(self) -> DataLoader:
        # no sampler of ours: Lightning puts its distributed one in under DDP
        return DataLoader(ItemDataset(self.items), batch_size=self.files_per_step,
                          shuffle=False, num_workers=0, collate_fn=keep_items)
