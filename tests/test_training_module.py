"""The SeganGAN LightningModule: real Lightning fits on in-memory windows (CPU, tiny widths)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, Dataset

import segan_cli
from segan_cli.core.training.module import SeganGAN
from segan_cli.errors import CheckpointError
from segan_cli.settings import Settings

WINDOW = 1024
STATS = {"noisy_mean": 0.001, "noisy_std": 0.25, "clean_mean": -0.002, "clean_std": 0.2}
STEPS = SeganGAN.optimizer_steps_per_batch


@pytest.fixture(autouse=True)
def _single_thread(one_torch_thread: None) -> None:
    """All tests here run on one torch thread (see conftest)."""


class SineWindows(Dataset):
    """Clean sine mixtures (3 partials) and noisy copies with white noise, seeded."""

    def __init__(self, n: int = 32, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        t = torch.arange(WINDOW) / 16000
        freq = torch.rand(n, 3, 1, generator=g) * 900 + 100
        amp = torch.rand(n, 3, 1, generator=g) * 0.3
        phase = torch.rand(n, 3, 1, generator=g) * 2 * math.pi
        self.clean = (amp * torch.sin(2 * math.pi * freq * t + phase)).sum(1, keepdim=True)
        self.noisy = self.clean + 0.05 * torch.randn(self.clean.shape, generator=g)

    def __len__(self) -> int:
        return len(self.clean)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"clean": self.clean[i], "noisy": self.noisy[i]}


class Repeated(Dataset):
    """The same few windows, ``times`` over: a fixed batch in one epoch."""

    def __init__(self, base: SineWindows, times: int) -> None:
        self.base, self.times = base, times

    def __len__(self) -> int:
        return len(self.base) * self.times

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.base[i % len(self.base)]


class LossRecorder(Callback):
    """Keeps the losses ``training_step`` returns, one row per batch."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.rows.append({k: float(v) for k, v in outputs.items()})


class ParamsInSync(Callback):
    """Under DDP, checks that every rank ends with the same weights and reference."""

    def on_train_end(self, trainer, pl_module) -> None:
        local = torch.stack([sum(p.double().sum() for p in pl_module.parameters()),
                             pl_module.discriminator.ref_batch.double().sum()])
        gathered = trainer.strategy.all_gather(local)
        assert gathered.shape == (2, 2)
        assert torch.allclose(gathered[0], gathered[1], rtol=0, atol=1e-9)


def tiny_settings(arch: str = "segan", **train) -> Settings:
    model = {"arch": arch, "encoder_channels": [4, 8, 8, 16], "disc_channels": [4, 8, 8, 16],
             "kernel_size": 15, "disc_kernel_size": 15}
    if arch == "adv":
        model.update(preemphasis=0.0, input_norm="zscore")
        train = {"optimizer": "adam", "lr_g": 1e-4, "lr_d": 1e-4, **train}
    return Settings.model_validate({"data": {"window": WINDOW, "hop": WINDOW // 2},
                                    "model": model, "train": {"batch_size": 8, **train}})


def make_module(arch: str = "segan", ds: SineWindows | None = None, **train) -> SeganGAN:
    module = SeganGAN(tiny_settings(arch, **train), STATS if arch == "adv" else None)
    if ds is not None:
        module.set_reference_batch(ds.clean[:8], ds.noisy[:8])
    return module


def make_trainer(batches: int, callbacks: list | None = None, **kw) -> pl.Trainer:
    options = {"accelerator": "cpu", "devices": 1, "logger": False,
               "enable_checkpointing": False, "enable_progress_bar": False,
               "enable_model_summary": False, "num_sanity_val_steps": 0, **kw}
    return pl.Trainer(max_steps=batches * STEPS, callbacks=callbacks or [], **options)


def loader(ds: Dataset, shuffle: bool = False) -> DataLoader:
    return DataLoader(ds, batch_size=8, shuffle=shuffle)


def test_hyperparameters_are_json_safe_and_self_contained():
    module = make_module("adv")
    hp = dict(module.hparams)
    json.dumps(hp)
    assert hp["arch"] == "adv" and hp["sample_rate"] == 16000 and hp["window"] == WINDOW
    assert hp["stats"] == STATS and hp["input_norm"] == "zscore" and hp["preemphasis"] == 0.0
    assert hp["version"] == segan_cli.__version__
    assert Settings.model_validate(hp["settings"]) == module.settings


def test_optimisers_follow_settings():
    opt_g, opt_d = make_module("segan").configure_optimizers()
    assert isinstance(opt_g, torch.optim.RMSprop) and opt_g.defaults["lr"] == 2e-4
    opt_g, opt_d = make_module("adv", lr_d=3e-4).configure_optimizers()
    assert isinstance(opt_d, torch.optim.Adam) and opt_d.defaults["lr"] == 3e-4
    assert opt_g.defaults["betas"] == (0.5, 0.999) and opt_g.defaults["lr"] == 1e-4


def test_reference_batch_is_transformed_in_clean_noisy_order():
    ds = SineWindows(8)
    module = make_module("adv")
    assert module.set_reference_batch(ds.clean, ds.noisy)
    ref = module.state_dict()["discriminator.ref_batch"]
    assert ref.shape == (8, 2, WINDOW)
    expected_clean = (ds.clean - STATS["clean_mean"]) / STATS["clean_std"]
    expected_noisy = (ds.noisy - STATS["noisy_mean"]) / STATS["noisy_std"]
    assert torch.allclose(ref[:, :1], expected_clean, atol=1e-6)
    assert torch.allclose(ref[:, 1:], expected_noisy, atol=1e-6)
    # An existing reference (e.g. from a checkpoint) is kept unless forced.
    assert not module.set_reference_batch(ds.noisy, ds.clean)
    assert torch.equal(module.discriminator.ref_batch, ref)
    assert module.set_reference_batch(ds.clean[:4], ds.noisy[:4], force=True)
    assert module.discriminator.ref_batch.shape[0] == 4


@pytest.mark.parametrize("arch", ["segan", "adv"])
def test_fit_a_few_steps(arch):
    torch.manual_seed(0)
    ds = SineWindows()
    module = make_module(arch, ds)
    ref = module.discriminator.ref_batch.clone()
    recorder = LossRecorder()
    trainer = make_trainer(4, [recorder], limit_val_batches=2)
    trainer.fit(module, loader(ds, shuffle=True), loader(ds))
    assert len(recorder.rows) == 4
    for row in recorder.rows:
        assert set(row) >= {"d_loss", "g_adv", "g_l1"}
        assert all(math.isfinite(v) for v in row.values())
    assert math.isfinite(float(trainer.callback_metrics["val_l1"]))
    assert torch.equal(module.discriminator.ref_batch, ref)  # the reference never moves


def test_fit_without_reference_takes_the_first_batch():
    ds = SineWindows(16)
    module = make_module("segan", ref_batch_size=4)
    with pytest.warns(UserWarning, match="reference batch"):
        make_trainer(1).fit(module, loader(ds))
    assert module.discriminator.ref_batch.shape == (4, 2, WINDOW)
    assert torch.allclose(module.discriminator.ref_batch[:, 1:],
                          module.transform.to_model_input(ds.noisy[:4]))


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_mixed_precision_steps_are_finite(precision):
    torch.manual_seed(0)
    ds = SineWindows(16)
    recorder = LossRecorder()
    make_trainer(2, [recorder], precision=precision).fit(make_module("segan", ds), loader(ds))
    assert all(math.isfinite(v) for row in recorder.rows for v in row.values())


@pytest.mark.parametrize("arch", ["segan", "adv"])
def test_overfitting_a_fixed_batch_lowers_l1(arch):
    torch.manual_seed(0)
    ds = SineWindows(8)
    module = make_module(arch, ds, lr_g=1e-3)
    recorder = LossRecorder()
    make_trainer(40, [recorder]).fit(module, loader(Repeated(ds, 40)))
    l1 = [row["g_l1"] for row in recorder.rows]
    assert len(l1) == 40
    first, last = sum(l1[:3]) / 3, sum(l1[-3:]) / 3
    assert last < 0.75 * first, (first, last)


def test_enhance_windows_is_deterministic_and_restores_mode():
    ds = SineWindows(4)
    module = make_module("segan", ds).train()
    a = module.enhance_windows(ds.noisy)
    b = module.enhance_windows(ds.noisy)
    assert torch.equal(a, b) and a.dtype == torch.float32 and a.shape == ds.noisy.shape
    assert module.generator.training
    seeded = module.generator.latent(4, generator=torch.Generator().manual_seed(3))
    assert not torch.equal(module.enhance_windows(ds.noisy, z=seeded), a)
    # Output stays pre-emphasised: exactly the generator's output on pre-emphasised input.
    module.eval()
    with torch.no_grad():
        direct = module.generator(module.transform.to_model_input(ds.noisy))
    assert torch.equal(direct, a)


@pytest.mark.parametrize("arch", ["segan", "adv"])
def test_checkpoint_reload_gives_identical_output(tmp_path: Path, arch):
    torch.manual_seed(0)
    ds = SineWindows(16)
    module = make_module(arch, ds)
    trainer = make_trainer(2)
    trainer.fit(module, loader(ds))
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path, weights_only=False)
    expected = module.enhance_windows(ds.noisy)

    loaded = SeganGAN.load_from_checkpoint(path, weights_only=True, map_location="cpu")
    assert torch.equal(loaded.enhance_windows(ds.noisy), expected)
    assert torch.equal(loaded.discriminator.ref_batch, module.discriminator.ref_batch)
    assert not loaded.set_reference_batch(ds.clean[:2], ds.noisy[:2])  # kept on resume

    again = SeganGAN.from_checkpoint(path, expected_arch=arch)
    assert not again.training
    assert torch.equal(again.enhance_windows(ds.noisy), expected)
    assert again.hparams["stats"] == (STATS if arch == "adv" else None)


def test_from_checkpoint_rejects_bad_files(tmp_path: Path):
    with pytest.raises(CheckpointError, match="not found"):
        SeganGAN.from_checkpoint(tmp_path / "missing.ckpt")
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        SeganGAN.from_checkpoint(garbage)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="not a segan training checkpoint"):
        SeganGAN.from_checkpoint(foreign)
    module = make_module("segan", SineWindows(8))
    ckpt = tmp_path / "segan.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)},
               ckpt)
    with pytest.raises(CheckpointError, match="holds a 'segan' model, expected 'adv'"):
        SeganGAN.from_checkpoint(ckpt, expected_arch="adv")
    assert SeganGAN.from_checkpoint(ckpt, expected_arch="segan").hparams["arch"] == "segan"


def test_ddp_two_cpu_processes_stay_in_sync():
    torch.manual_seed(0)
    ds = SineWindows(32)
    module = make_module("adv", ds)
    before = module.generator.encoder[0][0].weight.detach().clone()
    # The sync check runs inside the workers; a failure there fails fit().
    trainer = make_trainer(2, [ParamsInSync()], strategy="ddp_spawn", devices=2,
                           limit_val_batches=1)
    trainer.fit(module, loader(ds, shuffle=True), loader(ds))
    assert math.isfinite(float(trainer.callback_metrics["val_l1"]))
    assert math.isfinite(float(trainer.callback_metrics["g_l1"]))
    # ddp_spawn hands rank 0's trained weights back to this process.
    assert not torch.equal(module.generator.encoder[0][0].weight, before)
