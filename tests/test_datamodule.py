"""The DataModule over the window cache: shapes, determinism, worker pickling."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from segan_cli.core.data.pipeline.datamodule import SeganDataModule, WindowDataset, fixed_subset
from segan_cli.errors import CorpusError
from segan_cli.settings import load_settings


@pytest.fixture
def corpus(sample_corpus: Path) -> Path:
    return sample_corpus


def _settings(**train):
    sets = [f"train.{k}={v}" for k, v in train.items()]
    return load_settings(None, sets + ["data.window=4096", "data.hop=2048"])


def test_batches_have_the_contract_shape(corpus: Path) -> None:
    dm = SeganDataModule(corpus, _settings(batch_size=4, num_workers=0))
    batch = next(iter(dm.train_dataloader()))
    assert batch["clean"].shape == (4, 1, 4096) and batch["noisy"].dtype == torch.float32
    assert not torch.equal(batch["clean"], batch["noisy"])
    vb = next(iter(dm.val_dataloader()))
    assert vb["clean"].shape[1:] == (1, 4096)


def test_workers_reopen_memmaps(corpus: Path) -> None:
    ds = WindowDataset(corpus, "train", 4096, 2048)
    _ = ds[0]
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._cache is None and len(pickle.dumps(ds)) < 10_000
    assert torch.equal(clone[3]["noisy"], ds[3]["noisy"])
    dm = SeganDataModule(corpus, _settings(batch_size=2, num_workers=1))
    assert next(iter(dm.train_dataloader()))["clean"].shape == (2, 1, 4096)


def test_reference_batch_and_validation_subset_are_fixed(corpus: Path) -> None:
    dm = SeganDataModule(corpus, _settings(batch_size=4, num_workers=0, val_utterances=3))
    c1, n1 = dm.reference_batch()
    c2, n2 = dm.reference_batch()
    assert c1.shape == (4, 1, 4096) and torch.equal(c1, c2) and torch.equal(n1, n2)
    utts = dm.validation_utterances()
    assert len(utts) == min(3, len(dm.manifest.splits["valid"]))
    uid, clean, noisy = utts[0]
    assert clean.shape == noisy.shape and clean.ndim == 1
    assert fixed_subset(list(range(10)), 3) == [0, 4, 9]  # type: ignore[arg-type]


def test_sample_rate_mismatch_is_an_error(corpus: Path) -> None:
    s = load_settings(None, ["data.sample_rate=8000"])
    with pytest.raises(CorpusError, match="16000 Hz"):
        SeganDataModule(corpus, s)


def test_windows_stay_inside_utterances(corpus: Path) -> None:
    ds = WindowDataset(corpus, "train", 4096, 2048)
    cache = ds.cache
    for utt, off in cache.index:
        assert off + min(4096, cache.bounds[utt][1]) <= cache.bounds[utt][1]
    assert np.all(np.diff(cache.bounds[:, 0]) == cache.bounds[:-1, 1])
