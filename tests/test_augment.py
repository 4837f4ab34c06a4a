"""On-the-fly augmentation: pure per-key mixtures, their levels, noises, loaders and training."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from segan_cli.core.data.pipeline import augment as aug
from segan_cli.core.data.pipeline.augment import (
    FAMILIES,
    PEAK,
    QUIET_REFERENCE,
    SILENT_POWER,
    Augmenter,
)
from segan_cli.core.data.pipeline.cache import SplitCache, cache_paths
from segan_cli.core.data.pipeline.datamodule import (
    AugmentedWindowDataset,
    EpochShuffle,
    SeganDataModule,
    WindowDataset,
)
from segan_cli.settings import AugmentSettings, NoiseMix, load_settings

SR = 16000
WINDOW = 4096
HOP = 2048
TONE_HZ = 500.0


@pytest.fixture
def train_cache(sample_corpus: Path) -> SplitCache:
    """The real training split of the sample corpus (613 windows of 4096)."""
    return SplitCache(sample_corpus, "train", WINDOW, HOP)


@pytest.fixture
def tone_cache(tmp_path: Path) -> SplitCache:
    """A clean-only corpus: 3 s of a 500 Hz tone, then 1 s of digital silence."""
    t = np.arange(3 * SR) / SR
    clean = np.concatenate([0.3 * np.sin(2 * np.pi * TONE_HZ * t), np.zeros(SR)])
    paths = cache_paths(tmp_path, "train")
    paths["clean"].parent.mkdir(parents=True)
    np.save(paths["clean"], clean.astype(np.float32))
    np.save(paths["noisy"], clean.astype(np.float32))
    np.save(paths["bounds"], np.array([[0, 3 * SR], [3 * SR, SR]], dtype=np.int64))
    return SplitCache(tmp_path, "train", WINDOW, HOP)


def settings(**kw) -> AugmentSettings:
    return AugmentSettings(enabled=True, **kw)


def power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


def dominant_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / SR)[spec.argmax()])


# -- determinism ------------------------------------------------------------------------

def test_items_are_a_pure_function_of_the_key(train_cache: SplitCache) -> None:
    """Same key -> identical arrays in any order and instance; another epoch -> new mixture."""
    a, b = Augmenter(train_cache, settings(), SR), Augmenter(train_cache, settings(), SR)
    n = len(a)
    keys = [0, 7, n + 7, 10 * n + 123]
    first = [a.item(k) for k in keys]
    for k, (clean, noisy) in zip(reversed(keys), reversed(first), strict=True):
        c2, n2 = b.item(k)
        assert np.array_equal(clean, c2) and np.array_equal(noisy, n2)
    assert not np.array_equal(a.item(7)[1], a.item(n + 7)[1])  # same window, next epoch
    other_seed = Augmenter(train_cache, settings(seed=1), SR)
    assert not np.array_equal(other_seed.item(7)[1], first[1][1])


def test_items_are_bounded_float32_windows(train_cache: SplitCache) -> None:
    """Every item is finite float32 of window length, peak <= 0.98 even at +-60 dB gain."""
    a = Augmenter(train_cache, settings(gain_db=60.0, snr_db=(-5.0, 5.0)), SR)
    peaks = []
    for key in range(150):
        clean, noisy = a.item(key)
        for x in (clean, noisy):
            assert x.dtype == np.float32 and x.shape == (WINDOW,) and np.isfinite(x).all()
        peaks.append(max(np.abs(clean).max(), np.abs(noisy).max()))
    assert max(peaks) <= PEAK + 1e-6
    assert sum(p > PEAK - 1e-3 for p in peaks) > 30  # loud draws were scaled to the cap


# -- clean share, SNR, gain ---------------------------------------------------------------

def test_clean_share_gives_exactly_clean_pairs(train_cache: SplitCache) -> None:
    """About clean_share of the items have noisy == clean exactly; 0 and 1 are exact."""
    a = Augmenter(train_cache, settings(clean_share=0.3), SR)
    share = np.mean([np.array_equal(*a.item(k)) for k in range(400)])
    assert abs(share - 0.3) < 0.075, share
    none = Augmenter(train_cache, settings(clean_share=0.0), SR)
    every = Augmenter(train_cache, settings(clean_share=1.0), SR)
    assert not any(np.array_equal(*none.item(k)) for k in range(60))
    assert all(np.array_equal(*every.item(k)) for k in range(60))


def test_measured_snr_lies_in_snr_db(train_cache: SplitCache) -> None:
    """Noisy items have SNR (clean vs noisy - clean) inside snr_db, spread across it."""
    a = Augmenter(train_cache, settings(snr_db=(0.0, 20.0), clean_share=0.0, gain_db=0.0), SR)
    snrs = []
    for key in range(250):
        clean, noisy = a.item(key)
        ps, pn = power(clean), power(noisy.astype(np.float64) - clean)
        assert ps > SILENT_POWER  # speech corpus: no silent windows here (see the tone test)
        snrs.append(10 * np.log10(ps / pn))
    assert min(snrs) >= -0.05 and max(snrs) <= 20.05, (min(snrs), max(snrs))
    assert min(snrs) < 2 and max(snrs) > 18


def test_silent_clean_window_gets_noise_at_the_reference_level(tone_cache: SplitCache) -> None:
    """A silent window is not left clean nor drowned: its noise sits at -35 dBFS - snr_db."""
    a = Augmenter(tone_cache, settings(snr_db=(5.0, 10.0), clean_share=0.0, gain_db=0.0), SR)
    silent = [i for i in range(len(a)) if not tone_cache.window_at(i)[0].any()]
    assert silent
    levels = []
    for epoch in range(8):
        for i in silent:
            clean, noisy = a.item(epoch * len(a) + i)
            assert not clean.any() and noisy.any()
            levels.append(10 * np.log10(QUIET_REFERENCE / power(noisy)))
    assert 4.95 <= min(levels) and max(levels) <= 10.05, (min(levels), max(levels))


def test_gain_spans_plus_minus_gain_db(train_cache: SplitCache) -> None:
    """Without speed, tilt and noise, an item is its window times a gain within +-gain_db."""
    a = Augmenter(train_cache, settings(gain_db=10.0, speed=(1.0, 1.0), tilt_db_per_octave=0.0,
                                        clean_share=1.0), SR)
    gains = []
    for key in range(200):
        clean, _ = a.item(key)
        source = train_cache.window_at(key % len(a))[0]
        gains.append(10 * np.log10(power(clean) / power(source)))
    assert min(gains) >= -10.01 and max(gains) <= 10.01
    assert min(gains) < -8.5 and max(gains) > 8.5


# -- speed perturbation -------------------------------------------------------------------

@pytest.mark.parametrize("speed", [(1.2, 1.25), (0.8, 0.84), (1.25, 1.25)])
def test_speed_perturbation_moves_the_pitch(tone_cache: SplitCache, speed) -> None:
    """A 500 Hz tone comes out at 500 x rate (rate within speed, a fixed one too) or unchanged."""
    a = Augmenter(tone_cache, settings(speed=speed, tilt_db_per_octave=0.0, clean_share=1.0,
                                       gain_db=0.0), SR)
    tone = [i for i in range(len(a)) if tone_cache.window_at(i)[0].all()]
    ratios = np.array([dominant_hz(a.item(epoch * len(a) + i)[0]) / TONE_HZ
                       for epoch in range(3) for i in tone])
    moved = ratios[np.abs(ratios - 1) > 0.01]
    assert np.all((moved >= speed[0] - 0.01) & (moved <= speed[1] + 0.01)), moved
    assert 0.5 < moved.size / ratios.size < 0.9  # SPEED_SHARE of the windows, about 0.7


# -- noise families -----------------------------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
def test_each_noise_family_is_finite_and_audible(train_cache: SplitCache, family: str) -> None:
    """Each family gives a finite non-silent window, and a mix of one family draws only it."""
    a = Augmenter(train_cache, settings(), SR)
    for seed in range(3):
        noise = a.noise(family, np.random.default_rng(seed))
        assert noise.shape == (WINDOW,) and np.isfinite(noise).all()
        assert power(noise) > 1e-8
    only = NoiseMix(**{f: float(f == family) for f in FAMILIES})
    b = Augmenter(train_cache, settings(noise=only, clean_share=0.0), SR)
    drawn: list[str] = []
    real_noise = b.noise

    def spy(fam: str, rng: np.random.Generator) -> np.ndarray:
        drawn.append(fam)
        return real_noise(fam, rng)

    b.noise = spy  # type: ignore[method-assign]
    for key in range(12):
        clean, noisy = b.item(key)
        assert np.isfinite(noisy).all() and not np.array_equal(clean, noisy)
    assert drawn == [family] * 12


def test_corpus_noise_falls_back_on_a_clean_corpus(tone_cache: SplitCache) -> None:
    """A corpus with noisy == clean has no noise of its own; 'corpus' still adds noise."""
    a = Augmenter(tone_cache, settings(), SR)
    noise = a.noise("corpus", np.random.default_rng(0))
    assert np.isfinite(noise).all() and power(noise) > 1e-8
    with pytest.raises(ValueError, match="unknown noise family"):
        a.noise("rain", np.random.default_rng(0))


def test_scale_to_snr_is_exact_and_drops_silent_noise() -> None:
    """scale_to_snr hits the SNR exactly, uses the reference level for silence, skips silence."""
    rng = np.random.default_rng(0)
    speech, noise = 0.1 * rng.standard_normal(1000), rng.standard_normal(1000)
    scaled = aug.scale_to_snr(speech, noise, 7.0)
    assert 10 * np.log10(power(speech) / power(scaled)) == pytest.approx(7.0)
    quiet = aug.scale_to_snr(np.zeros(1000), noise, 7.0)
    assert 10 * np.log10(QUIET_REFERENCE / power(quiet)) == pytest.approx(7.0)
    assert not aug.scale_to_snr(speech, np.zeros(1000), 7.0).any()


# -- datasets, sampler, loaders ------------------------------------------------------------

def test_keyed_sampler_gives_each_window_once_with_an_epoch_offset() -> None:
    """keyed=True yields epoch * len + the unkeyed order: every index once per epoch."""
    plain, keyed = EpochShuffle(50, seed=3), EpochShuffle(50, seed=3, keyed=True)
    for epoch in (0, 1, 4):
        plain.set_epoch(epoch)
        keyed.set_epoch(epoch)
        order = list(plain)
        assert sorted(order) == list(range(50))
        assert list(keyed) == [epoch * 50 + i for i in order]
    assert len(keyed) == 50


def _dataset(corpus: Path, **kw) -> AugmentedWindowDataset:
    return AugmentedWindowDataset(corpus, "train", WINDOW, HOP, settings(**kw), SR)


def test_two_workers_yield_the_batches_of_zero_workers(sample_corpus: Path) -> None:
    """Worker processes rebuild the augmenter and produce the very same batch."""
    ds = _dataset(sample_corpus)
    ds[0]  # builds caches and augmenter, which must not travel to workers
    assert len(pickle.dumps(ds)) < 10_000
    batches = []
    for workers in (0, 2):
        sampler = EpochShuffle(len(ds), seed=5, keyed=True)
        sampler.set_epoch(2)
        dl = DataLoader(ds, batch_size=4, sampler=sampler, num_workers=workers)
        it = iter(dl)
        batches.append([next(it), next(it)])
    for a, b in zip(*batches, strict=True):
        assert torch.equal(a["clean"], b["clean"]) and torch.equal(a["noisy"], b["noisy"])
    assert batches[0][0]["clean"].shape == (4, 1, WINDOW)


def test_datamodule_augments_only_when_enabled_and_only_training(sample_corpus: Path) -> None:
    """enabled=false keeps the corpus windows (paper); true remixes training windows only."""
    base = ["data.window=4096", "data.hop=2048", "train.batch_size=4", "train.num_workers=0"]
    plain = SeganDataModule(sample_corpus, load_settings(None, base))
    mixed = SeganDataModule(sample_corpus,
                            load_settings(None, base + ["data.augment.enabled=true"]))
    assert type(plain.train_set) is WindowDataset
    assert isinstance(mixed.train_set, AugmentedWindowDataset)
    assert type(mixed.valid_set) is WindowDataset
    assert not plain.train_dataloader().sampler.keyed
    sampler = mixed.train_dataloader().sampler
    assert sampler.keyed and not isinstance(mixed.val_dataloader().sampler, EpochShuffle)
    sampler.set_epoch(1)
    assert min(sampler) >= len(mixed.train_set)
    key = len(mixed.train_set) + 3
    assert not torch.equal(mixed.train_set[key]["noisy"], plain.train_set[3]["noisy"])
    vb_plain, vb_mixed = next(iter(plain.val_dataloader())), next(iter(mixed.val_dataloader()))
    assert torch.equal(vb_plain["noisy"], vb_mixed["noisy"])


def test_training_with_augmentation_through_the_cli(cli, sample_corpus: Path,
                                                     tmp_path: Path) -> None:
    """`segan train --arch adv` with data.augment.enabled=true runs its steps to the end."""
    from segan_cli.core.enhancement.inference import load_bundle

    run = tmp_path / "aug"
    cli("train", "--data", sample_corpus, "--out", run, "--arch", "adv",
        "--config", Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml",
        "--max-steps", "3", "--batch-size", "4", "--set", "data.window=2048",
        "--set", "data.hop=1024", "--set", "train.num_workers=0",
        "--set", "train.val_utterances=1", "--set", "data.augment.enabled=true",
        "--set", "data.augment.noise.babble=1")
    last = run / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 6  # 3 GAN steps
    bundle = load_bundle(last)
    assert bundle.settings.data.augment.enabled and bundle.settings.data.augment.noise.babble == 1
    assert all(torch.isfinite(p).all() for p in bundle.generator.parameters())
    assert "enabled: true" in (run / "settings.yaml").read_text()
