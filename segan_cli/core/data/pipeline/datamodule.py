"""Training data over the window cache: datasets and the Lightning DataModule.

Batches are ``{"clean": (B, 1, T), "noisy": (B, 1, T)}`` float32 tensors in raw signal
units; the LightningModule applies the arch's transform (pre-emphasis or z-score)
on the device. Memory maps are opened lazily inside each worker process, so nothing
large is pickled when workers start. Under DDP, Lightning adds the distributed
sampler itself.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from segan_cli.core.data.pipeline.augment import Augmenter
from segan_cli.core.data.pipeline.cache import SplitCache, check_against_manifest
from segan_cli.core.data.pipeline.manifest import Manifest, Utterance, load_manifest
from segan_cli.errors import CorpusError
from segan_cli.settings import AugmentSettings, Settings


class WindowDataset(Dataset):
    """(clean, noisy) windows of one split, read from the memory-mapped cache."""

    def __init__(self, root: Path, split: str, window: int, hop: int) -> None:
        self.root, self.split, self.window, self.hop = Path(root), split, window, hop
        self._cache: SplitCache | None = None
        self._len = len(SplitCache(self.root, split, window, hop))

    @property
    def cache(self) -> SplitCache:
        if self._cache is None:
            self._cache = SplitCache(self.root, self.split, self.window, self.hop)
        return self._cache

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_cache"] = None  # reopen the memmaps in the worker
        return state

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        clean, noisy = self.cache.window_at(i)
        return {"clean": torch.from_numpy(clean)[None], "noisy": torch.from_numpy(noisy)[None]}


class AugmentedWindowDataset(WindowDataset):
    """Training windows remixed on the fly (:mod:`segan_cli.core.data.pipeline.augment`).

    Items are addressed by sampler keys ``epoch * len + index`` (see
    :class:`EpochShuffle` with ``keyed=True``), so every epoch draws new mixtures and
    each one is a pure function of the key.
    """

    def __init__(self, root: Path, split: str, window: int, hop: int,
                 settings: AugmentSettings, sample_rate: int) -> None:
        super().__init__(root, split, window, hop)
        self.augment_settings = settings
        self.sample_rate = sample_rate
        self._augmenter: Augmenter | None = None

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_augmenter"] = None
        return state

    def __getitem__(self, key: int) -> dict[str, torch.Tensor]:
        if self._augmenter is None:
            self._augmenter = Augmenter(self.cache, self.augment_settings, self.sample_rate)
        clean, noisy = self._augmenter.item(int(key))
        return {"clean": torch.from_numpy(clean)[None], "noisy": torch.from_numpy(noisy)[None]}


class EpochShuffle(DistributedSampler):
    """A random order that depends only on (seed, epoch), so a resumed run replays it.

    Lightning calls :meth:`set_epoch` before every epoch. ``keyed`` yields
    ``epoch * length + index`` instead of the index, for datasets that draw a new item
    per epoch.

    Under DDP (``replicas`` > 1) it shards the order itself as DistributedSampler
    does (padded to a multiple of the replicas, every ``replicas``-th item from
    ``rank``); being a DistributedSampler, Lightning then leaves it alone rather than
    wrapping it in a second, differently seeded shuffle of its own.

    :meth:`resume_at` makes a run resumed in the middle of an epoch see the rest of
    that epoch: this rank's items already trained on are moved to the end (the length
    stays the same, so Lightning's batch count is unchanged), where the epoch, ended by
    Lightning's restored batch count, never reaches them.
    """

    def __init__(self, length: int, seed: int, keyed: bool = False, replicas: int = 1,
                 rank: int = 0) -> None:
        super().__init__(range(int(length)), num_replicas=replicas, rank=rank,
                         shuffle=False, drop_last=False)
        self.length = int(length)
        self.seed = int(seed)
        self.keyed = keyed
        self.resume_epoch = -1
        self.resume_items = 0

    def resume_at(self, epoch: int, items: int) -> None:
        """Continue epoch ``epoch`` after this rank's first ``items`` items."""
        self.set_epoch(epoch)
        self.resume_epoch = int(epoch)
        self.resume_items = int(items) % max(self.num_samples, 1)

    def __iter__(self):
        g = torch.Generator()
        g.manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.length, generator=g)
        if self.keyed:
            order = order + self.epoch * self.length
        if self.num_replicas > 1:
            order = order.repeat(-(-self.total_size // max(self.length, 1)))[:self.total_size]
            order = order[self.rank::self.num_replicas]
        if self.epoch == self.resume_epoch and self.resume_items:
            order = torch.cat([order[self.resume_items:], order[:self.resume_items]])
        return iter(order.tolist())

    def __len__(self) -> int:
        return self.num_samples


# Lightning warns that a mid-epoch resume replays the epoch unless the loader is
# "stateful"; EpochShuffle resumes where the checkpoint stopped (resume_position).
warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended "
                        "before the epoch ended")


def resume_position(trainer: L.Trainer | None, batches_per_epoch: int) -> tuple[int, int]:
    """(epoch, batches of it already trained) of the checkpoint Lightning restored.

    Lightning restores its loops' progress before asking for the training loader, and
    counts the batches of a resumed epoch from where the checkpoint was written; the
    sampler must then skip those batches, or the resumed epoch trains on its first
    batches again. (0, 0) for a new run; (next epoch, 0) at an epoch boundary.
    """
    if trainer is None:
        return 0, 0
    loop = trainer.fit_loop
    epochs = loop.epoch_progress.current
    if not loop.restarting or epochs.started <= epochs.processed:
        return epochs.processed, 0
    done = loop.epoch_loop.batch_progress.current.processed
    if done >= batches_per_epoch:
        return epochs.processed + 1, 0
    return epochs.processed, done


def fixed_subset(utts: list[Utterance], k: int) -> list[int]:
    """``k`` evenly spread utterance indices: the same every run and on every rank."""
    if k >= len(utts):
        return list(range(len(utts)))
    return [int(i) for i in np.linspace(0, len(utts) - 1, k).round()]


class SeganDataModule(L.LightningDataModule):
    """Train/validation loaders over a prepared corpus, per the settings."""

    def __init__(self, corpus: Path, settings: Settings) -> None:
        super().__init__()
        self.corpus = Path(corpus)
        self.settings = settings
        self.manifest: Manifest = load_manifest(self.corpus)
        if self.manifest.sample_rate != settings.data.sample_rate:
            raise CorpusError(
                f"corpus {self.corpus} is at {self.manifest.sample_rate} Hz but the settings "
                f"say data.sample_rate={settings.data.sample_rate}",
                "prepare the corpus again or change the setting")
        if not self.manifest.splits.get("train"):
            raise CorpusError(f"corpus {self.corpus} has no training utterances")
        if not self.manifest.splits.get("valid"):
            raise CorpusError(f"corpus {self.corpus} has no validation split",
                              "prepare it with validation speakers held out")
        d = settings.data
        self.train_set: WindowDataset
        if d.augment.enabled:
            self.train_set = AugmentedWindowDataset(self.corpus, "train", d.window, d.hop,
                                                    d.augment, d.sample_rate)
        else:
            self.train_set = WindowDataset(self.corpus, "train", d.window, d.hop)
        self.valid_set = WindowDataset(self.corpus, "valid", d.window, d.hop)
        for ds in (self.train_set, self.valid_set):
            check_against_manifest(self.corpus, ds.split, ds.cache.bounds,
                                   [u.frames for u in self.manifest.splits[ds.split]])

    @property
    def stats(self) -> dict[str, float]:
        return dict(self.manifest.stats)

    def _loader(self, ds: Dataset, shuffle: bool, drop_last: bool) -> DataLoader:
        t = self.settings.train
        workers = t.num_workers
        keyed = isinstance(ds, AugmentedWindowDataset)
        sampler = None
        if shuffle:
            trainer = self.trainer
            world, rank = ((trainer.world_size, trainer.global_rank) if trainer is not None
                           else (1, 0))
            sampler = EpochShuffle(len(ds), t.seed, keyed, world, rank)
            self._resume_sampler(sampler, drop_last)
        return DataLoader(
            ds, batch_size=t.batch_size, sampler=sampler, drop_last=drop_last,
            num_workers=workers, pin_memory=t.pin_memory and torch.cuda.is_available(),
            persistent_workers=workers > 0,
        )

    def _resume_sampler(self, sampler: EpochShuffle, drop_last: bool) -> None:
        """Start the sampler where a restored checkpoint stopped (see resume_position).

        Setting the epoch here, not only in ``set_epoch``, matters with loader workers:
        they draw the first indices as soon as the loader is iterated, before Lightning
        sets the epoch.
        """
        batch = self.settings.train.batch_size
        per_rank = len(sampler)
        batches = per_rank // batch if drop_last else -(-per_rank // batch)
        epoch, done = resume_position(self.trainer, batches)
        sampler.resume_at(epoch, done * batch)

    def train_dataloader(self) -> DataLoader:
        drop = len(self.train_set) >= self.settings.train.batch_size
        return self._loader(self.train_set, shuffle=True, drop_last=drop)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.valid_set, shuffle=False, drop_last=False)

    def reference_batch(self, size: int | None = None, seed: int | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        """A fixed batch of training windows for virtual batch norm: (clean, noisy)."""
        t = self.settings.train
        size = size or t.ref_batch_size or t.batch_size
        rng = np.random.default_rng(t.seed if seed is None else seed)
        n = len(self.train_set)
        picks = rng.choice(n, size=size, replace=n < size)
        items = [self.train_set[int(i)] for i in picks]
        return (torch.stack([it["clean"] for it in items]),
                torch.stack([it["noisy"] for it in items]))

    def validation_utterances(self, k: int | None = None) -> list[tuple[str, np.ndarray,
                                                                        np.ndarray]]:
        """A fixed subset of whole validation utterances: (id, clean, noisy)."""
        utts = self.manifest.splits["valid"]
        k = k or self.settings.train.val_utterances
        cache = SplitCache(self.corpus, "valid", self.settings.data.window,
                           self.settings.data.hop)
        out = []
        for j in fixed_subset(utts, k):
            clean, noisy = cache.utterance(j)
            out.append((utts[j].id, clean, noisy))
        return out
