"""train.adversarial=metric (MetricGAN): the discriminator as a learned PESQ, on real
Lightning steps over real VoiceBank speech windows (tiny widths, 1-s windows)."""

from __future__ import annotations

import copy
import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn
from torch.utils.data import DataLoader, Dataset

import segan_cli.core.training.module as module_code
from segan_cli.core.enhancement.inference import load_bundle
from segan_cli.core.metrics.pesq_stoi import pesq_score
from segan_cli.core.models.transforms import preemphasize
from segan_cli.core.training.metric_gan import normalise_pesq
from segan_cli.core.training.module import SeganGAN
from segan_cli.errors import SettingsError
from segan_cli.settings import Settings, load_settings
from tests.conftest import VOICEBANK_SAMPLE, need_shared
from tests.test_training_module import (
    STEPS,
    LossRecorder,
    SineWindows,
    make_trainer,
    tiny_settings,
)

REPO = Path(__file__).resolve().parents[1]
WINDOW = 16384  # 1.024 s at 16 kHz: PESQ needs at least 0.25 s
BATCH = 4
TINY = {"encoder_channels": [4, 8, 8, 16], "disc_channels": [4, 8, 8, 16],
        "kernel_size": 15, "disc_kernel_size": 15}
#: real pairs whose windows at these offsets hold speech PESQ scores (noisy PESQ 1.2-4.1)
PAIRS = ("p232_003", "p232_005", "p232_011", "p232_015")
OFFSETS = (8000, 24000)


@pytest.fixture(autouse=True)
def _single_thread(one_torch_thread: None) -> None:
    """All tests here run on one torch thread (see conftest)."""


class SpeechWindows(Dataset):
    """1-s (clean, noisy) windows cut from real VoiceBank pairs, in signal units."""

    def __init__(self) -> None:
        root = need_shared(VOICEBANK_SAMPLE)
        clean, noisy = [], []
        for name in PAIRS:
            c, sr = sf.read(root / "clean" / f"{name}.wav", dtype="float32")
            n, _ = sf.read(root / "noisy" / f"{name}.wav", dtype="float32")
            assert sr == 16000
            for off in OFFSETS:
                clean.append(c[off:off + WINDOW])
                noisy.append(n[off:off + WINDOW])
        self.clean = torch.from_numpy(np.stack(clean))[:, None]
        self.noisy = torch.from_numpy(np.stack(noisy))[:, None]

    def stats(self) -> dict[str, float]:
        return {"noisy_mean": float(self.noisy.mean()), "noisy_std": float(self.noisy.std()),
                "clean_mean": float(self.clean.mean()), "clean_std": float(self.clean.std())}

    def __len__(self) -> int:
        return len(self.clean)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"clean": self.clean[i], "noisy": self.noisy[i]}


class Fixed(Dataset):
    """The first ``BATCH`` windows of ``base``, ``times`` over: one fixed batch per step."""

    def __init__(self, base: Dataset, times: int) -> None:
        self.base, self.times = base, times

    def __len__(self) -> int:
        return BATCH * self.times

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.base[i % BATCH]


@pytest.fixture(scope="module")
def speech() -> SpeechWindows:
    return SpeechWindows()


def metric_settings(arch: str = "adv", **train) -> Settings:
    model = {"arch": arch, **TINY}
    if arch == "adv":
        model.update(preemphasis=0.0, input_norm="zscore", head="residual", head_norm="none")
    return Settings.model_validate({
        "data": {"window": WINDOW, "hop": WINDOW // 2},
        "model": model,
        "train": {"batch_size": BATCH, "optimizer": "adam", "lr_g": 1e-3, "lr_d": 1e-3,
                  "latent": "zeros", "adversarial": "metric", **train}})


def metric_module(ds: SpeechWindows, arch: str = "adv", **train) -> SeganGAN:
    module = SeganGAN(metric_settings(arch, **train), ds.stats() if arch == "adv" else None)
    module.set_reference_batch(ds.clean[:BATCH], ds.noisy[:BATCH])
    return module


def loader(ds: Dataset) -> DataLoader:
    return DataLoader(ds, batch_size=BATCH, shuffle=False)


def params(net: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


class Spy:
    """Records every call of the module's ``pesq_targets`` and every discriminator pass."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, module: SeganGAN) -> None:
        self.pesq: list[tuple[np.ndarray, np.ndarray, torch.Tensor, torch.Tensor]] = []
        self.disc: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.gen: list[torch.Tensor] = []
        real = module_code.pesq_targets

        def spy(clean, candidates, sr):
            targets, mask = real(clean, candidates, sr)
            self.pesq.append((clean.copy(), candidates.copy(), targets.clone(), mask.clone()))
            return targets, mask

        monkeypatch.setattr(module_code, "pesq_targets", spy)
        module.discriminator.register_forward_hook(
            lambda m, i, o: self.disc.append((i[0].detach().clone(), o.detach().clone())))
        module.generator.register_forward_hook(
            lambda m, i, o: self.gen.append(o.detach().clone()))


# -- the targets -------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ["adv", "segan"])
def test_discriminator_targets_are_the_normalised_pesq_of_the_pairs(
        arch: str, speech: SpeechWindows, monkeypatch: pytest.MonkeyPatch) -> None:
    """One real step: PESQ is scored on the generator's output (signal units, de-emphasised
    for segan) and the noisy input against the clean windows, normalised as
    (PESQ - 1) / 3.5 in [0, 1]; the discriminator is fit by MSE to them, (clean, clean) to 1."""
    torch.manual_seed(0)
    module = metric_module(speech, arch)
    ref = module.discriminator.ref_batch.clone()  # metric mode's reference: (clean, clean)
    assert torch.equal(ref[:, :1], ref[:, 1:])
    spy, recorder = Spy(monkeypatch, module), LossRecorder()
    make_trainer(1, [recorder]).fit(module, loader(speech))
    clean, noisy = speech.clean[:BATCH, 0].double().numpy(), speech.noisy[:BATCH, 0].numpy()

    assert len(spy.pesq) == 2  # enhanced, then noisy: 2 x batch PESQ calls, no more
    (ref_e, enhanced, q_fake, m_fake), (ref_n, noisy_seen, q_noisy, m_noisy) = spy.pesq
    np.testing.assert_array_equal(ref_e, clean)
    np.testing.assert_array_equal(ref_n, clean)
    np.testing.assert_array_equal(noisy_seen, noisy)
    # the enhanced candidates are the generator's output in signal units
    output = module.transform.from_model_output(spy.gen[0]).double()
    back = preemphasize(torch.from_numpy(enhanced)[:, None], module.settings.model.preemphasis)
    assert torch.allclose(back, output, atol=1e-5)
    if arch == "segan":
        assert not torch.allclose(torch.from_numpy(enhanced)[:, None], output, atol=1e-3)
    # each target is the project's PESQ wrapper, normalised
    for targets, mask, candidates in ((q_fake, m_fake, enhanced), (q_noisy, m_noisy, noisy)):
        for i in range(BATCH):
            try:
                want = min(max((pesq_score(clean[i], candidates[i], 16000) - 1) / 3.5, 0), 1)
            except ValueError:
                assert not mask[i]
                continue
            assert mask[i] and float(targets[i]) == pytest.approx(want, abs=1e-6)
    assert m_noisy.all() and 0 < float(q_noisy.min()) < float(q_noisy.max()) < 1

    # the discriminator's update: (enhanced, clean), (clean, clean), (noisy, clean)
    pairs, out = spy.disc[0]
    assert pairs.shape == (3 * BATCH, 2, WINDOW)
    clean_m = module.transform.to_model_target(speech.clean[:BATCH])
    assert torch.allclose(pairs[:, 1:], clean_m.repeat(3, 1, 1))
    assert torch.equal(pairs[BATCH:2 * BATCH, :1], clean_m)
    assert torch.allclose(pairs[2 * BATCH:, :1],
                          module.transform.to_model_target(speech.noisy[:BATCH]))
    targets = torch.cat([q_fake, torch.ones(BATCH), q_noisy])
    mask = torch.cat([m_fake, m_fake | m_noisy, m_noisy])
    pred = torch.sigmoid(out).flatten()
    d_loss = float(((pred - targets)[mask]).square().mean())
    row = recorder.rows[0]
    assert row["d_loss"] == pytest.approx(d_loss, rel=1e-5)
    if m_fake.any():
        assert row["d_metric_true"] == pytest.approx(float(q_fake[m_fake].mean()), rel=1e-6)
        assert row["d_metric_pred"] == pytest.approx(float(pred[:BATCH][m_fake].mean()),
                                                     rel=1e-5)
    # the VBN reference of metric mode is (clean, clean), kept as set
    assert torch.equal(module.discriminator.ref_batch, ref)
    assert torch.allclose(ref[:, :1], clean_m)


def test_normalisation_clips_to_the_unit_interval() -> None:
    assert normalise_pesq(4.64) == 1.0 and normalise_pesq(1.0) == 0.0
    assert normalise_pesq(0.5) == 0.0 and normalise_pesq(2.75) == pytest.approx(0.5)


def test_a_few_steps_fit_the_discriminator_to_pesq(speech: SpeechWindows) -> None:
    """Trained on one fixed batch, the discriminator's MSE to the PESQ targets falls, both
    in its logged loss and measured afterwards on the (clean, clean) and (noisy, clean)
    pairs."""
    torch.manual_seed(0)
    module = metric_module(speech, lr_g=1e-5)
    clean_m = module.transform.to_model_target(speech.clean[:BATCH])
    noisy_m = module.transform.to_model_target(speech.noisy[:BATCH])
    targets = torch.tensor([1.0] * BATCH + [
        normalise_pesq(pesq_score(c[0].numpy(), n[0].numpy(), 16000))
        for c, n in zip(speech.clean[:BATCH], speech.noisy[:BATCH], strict=True)])

    def mse() -> float:
        with torch.no_grad():
            pairs = torch.cat([torch.cat([clean_m, noisy_m]), clean_m.repeat(2, 1, 1)], dim=1)
            pred = torch.sigmoid(module.discriminator(pairs)).flatten()
        return float((pred - targets).square().mean())

    before = mse()
    recorder = LossRecorder()
    make_trainer(8, [recorder]).fit(module, loader(Fixed(speech, 8)))
    d_loss = [row["d_loss"] for row in recorder.rows]
    assert len(d_loss) == 8 and all(math.isfinite(v) for v in d_loss)
    assert sum(d_loss[-2:]) / 2 < 0.7 * sum(d_loss[:2]) / 2, d_loss
    assert mse() < 0.5 * before, (before, mse())


# -- the generator's term -------------------------------------------------------------------

@pytest.mark.parametrize("metric_weight", [0.0, 2.0])
def test_generator_learns_from_the_metric_term(
        metric_weight: float, speech: SpeechWindows, monkeypatch: pytest.MonkeyPatch) -> None:
    """With L1 and STFT off, the generator moves only through the metric term, whose value
    is metric_weight * mean (sigmoid(D(G(noisy), clean)) - 1)^2."""
    torch.manual_seed(0)
    module = metric_module(speech, l1_weight=0.0, metric_weight=metric_weight)
    spy, recorder = Spy(monkeypatch, module), LossRecorder()
    before = params(module.generator)
    make_trainer(1, [recorder]).fit(module, loader(speech))
    assert same(before, params(module.generator)) == (metric_weight == 0)
    pairs, out = spy.disc[1]  # the generator's pass, after the discriminator's update
    assert pairs.shape == (BATCH, 2, WINDOW)
    assert torch.equal(pairs[:, :1], spy.gen[0])
    assert torch.equal(pairs[:, 1:], module.transform.to_model_target(speech.clean[:BATCH]))
    want = metric_weight * float((torch.sigmoid(out) - 1).square().mean())
    assert recorder.rows[0]["g_adv"] == pytest.approx(want, rel=1e-5, abs=1e-12)
    if metric_weight:
        assert recorder.rows[0]["g_adv"] > 0


def test_the_metric_term_reaches_the_generator_weights(speech: SpeechWindows) -> None:
    """The metric term's gradient is non-zero in the generator's first layer."""
    torch.manual_seed(0)
    module = metric_module(speech)
    noisy = module.transform.to_model_input(speech.noisy[:BATCH])
    clean = module.transform.to_model_target(speech.clean[:BATCH])
    fake = module.generator(noisy, module.generator.latent(BATCH, zeros=True, length=WINDOW))
    score = torch.sigmoid(module.discriminator(torch.cat([fake, clean], dim=1)))
    (score - 1).square().mean().backward()
    grad = module.generator.encoder[0][0].weight.grad
    assert grad is not None and grad.abs().max() > 0


# -- what PESQ cannot score --------------------------------------------------------------

def test_silent_windows_are_masked_not_fatal(
        speech: SpeechWindows, monkeypatch: pytest.MonkeyPatch) -> None:
    """A window of digital silence in the batch is left out of the discriminator's loss
    (its three pairs masked); the rest train as usual."""
    clean, noisy = speech.clean[:BATCH].clone(), speech.noisy[:BATCH].clone()
    clean[1], noisy[1] = 0.0, 0.0
    rows = [{"clean": c, "noisy": n} for c, n in zip(clean, noisy, strict=True)]
    torch.manual_seed(0)
    module = metric_module(speech)
    spy, recorder = Spy(monkeypatch, module), LossRecorder()
    make_trainer(1, [recorder]).fit(module, DataLoader(rows, batch_size=BATCH))
    (_, _, q_fake, m_fake), (_, _, q_noisy, m_noisy) = spy.pesq
    assert not m_fake[1] and not m_noisy[1] and m_noisy[[0, 2, 3]].all()
    assert q_noisy[1] == 0 and q_fake[1] == 0
    _, out = spy.disc[0]
    pred = torch.sigmoid(out).flatten()
    targets = torch.cat([q_fake, torch.ones(BATCH), q_noisy])
    mask = torch.cat([m_fake, m_fake | m_noisy, m_noisy])
    assert int(mask.sum()) <= 3 * BATCH - 3
    row = recorder.rows[0]
    assert row["d_loss"] == pytest.approx(float((pred - targets)[mask].square().mean()),
                                          rel=1e-5)
    assert all(math.isfinite(v) for v in row.values())


def test_a_batch_pesq_cannot_score_skips_the_discriminator_update(
        speech: SpeechWindows) -> None:
    """All-silent clean windows: no discriminator update (weights unchanged, no d_loss),
    the generator still trains, and Lightning still counts two optimiser steps a batch."""
    rows = [{"clean": torch.zeros(1, WINDOW), "noisy": 0.01 * speech.noisy[i]}
            for i in range(BATCH)]
    torch.manual_seed(0)
    module = metric_module(speech)
    d0, g0 = params(module.discriminator), params(module.generator)
    recorder = LossRecorder()
    trainer = make_trainer(2, [recorder])
    trainer.fit(module, DataLoader(rows * 2, batch_size=BATCH))
    assert trainer.global_step == 2 * STEPS and len(recorder.rows) == 2
    assert same(d0, params(module.discriminator))
    assert not same(g0, params(module.generator))
    for row in recorder.rows:
        assert "d_loss" not in row and "d_metric_pred" not in row
        assert math.isfinite(row["g_adv"]) and row["g_adv"] > 0


def test_ddp_rank_without_scorable_windows_stays_in_step(speech: SpeechWindows) -> None:
    """Two processes, one of which sees only silence: it still runs the discriminator's
    backward (a zero loss), so neither waits on the other, the discriminator learns
    from the other rank's windows and both end with the same weights."""
    from datetime import timedelta

    from lightning.pytorch.strategies import DDPStrategy

    from tests.test_training_module import ParamsInSync

    torch.manual_seed(0)
    module = metric_module(speech)
    d0 = params(module.discriminator)
    strategy = DDPStrategy(start_method="spawn", timeout=timedelta(seconds=120))
    seen = SilentRankSeen()
    make_trainer(1, [ParamsInSync(), seen], strategy=strategy, devices=2).fit(
        module, DataLoader(SilentOnRankOne(speech), batch_size=BATCH))
    assert not same(d0, params(module.discriminator))


class SilentOnRankOne(Dataset):
    """The speech windows on rank 0; on rank 1 silent clean windows PESQ cannot score."""

    def __init__(self, speech: SpeechWindows) -> None:
        self.speech = speech

    def __len__(self) -> int:
        return 2 * BATCH

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = self.speech[i % BATCH]
        if torch.distributed.is_initialized() and torch.distributed.get_rank() == 1:
            return {"clean": torch.zeros(1, WINDOW), "noisy": 0.01 * item["noisy"]}
        return item


class SilentRankSeen(Callback):
    """Checks inside each rank that rank 1 had nothing to score and rank 0 had."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        silent = not batch["clean"].any()
        assert silent == (trainer.global_rank == 1)
        assert ("d_loss" in outputs) == (not silent)


# -- lsgan stays as it was -----------------------------------------------------------------

def test_lsgan_mode_is_the_papers_step_bit_for_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    """adversarial=lsgan (the default) is the step the module always took: the same losses
    and weights, bit for bit, as the paper's LSGAN + L1 step written out here, whether
    the key is given or not; PESQ is never called."""

    def no_pesq(*args):
        raise AssertionError("lsgan mode scored PESQ")

    monkeypatch.setattr(module_code, "pesq_targets", no_pesq)
    ds = SineWindows(8)
    settings = tiny_settings("adv", latent="zeros", stft_weight=1.0)
    assert settings.train.adversarial == "lsgan"
    stats = {"noisy_mean": 0.001, "noisy_std": 0.25, "clean_mean": -0.002, "clean_std": 0.2}
    torch.manual_seed(0)
    default = SeganGAN(settings, stats)
    default.set_reference_batch(ds.clean, ds.noisy)
    explicit_settings = settings.model_copy(deep=True)
    explicit_settings.train.adversarial = "lsgan"
    explicit = SeganGAN(explicit_settings, stats)
    explicit.load_state_dict(default.state_dict())
    by_hand = copy.deepcopy(default)

    runs = []
    for module in (default, explicit):
        recorder = LossRecorder()
        make_trainer(1, [recorder]).fit(module, DataLoader(ds, batch_size=8))
        runs.append((recorder.rows[0], params(module)))

    # the pre-metric step, written out: D on (clean, noisy) / (fake, noisy), then G
    from segan_cli.core.training.losses import stft_loss

    opt_g, opt_d = by_hand.configure_optimizers()
    t, train = by_hand.transform, settings.train
    noisy, clean = t.to_model_input(ds.noisy), t.to_model_target(ds.clean)
    fake = by_hand.generator(noisy, by_hand.generator.latent(8, zeros=True, length=1024))
    opt_d.zero_grad(set_to_none=True)
    scores = by_hand.discriminator(torch.cat([torch.cat([clean, noisy], dim=1),
                                              torch.cat([fake.detach(), noisy], dim=1)]))
    d_loss = 0.5 * (scores[:8] - 1).square().mean() + 0.5 * scores[8:].square().mean()
    d_loss.backward()
    opt_d.step()
    g_adv = 0.5 * (by_hand.discriminator(torch.cat([fake, noisy], dim=1)) - 1).square().mean()
    output, target = t.from_model_output(fake), t.to_output_signal(ds.clean)
    g_l1 = (output - target).abs().mean()
    g_stft = stft_loss(output, target, train.stft_resolutions)
    opt_g.zero_grad(set_to_none=True)
    (g_adv + train.l1_weight * g_l1 + train.stft_weight * g_stft).backward()
    opt_g.step()
    scores = scores.detach()
    want = {"d_loss": float(d_loss.detach()), "d_real": float(scores[:8].mean()),
            "d_fake": float(scores[8:].mean()), "g_adv": float(g_adv.detach()),
            "g_l1": float(g_l1.detach()), "g_stft": float(g_stft.detach())}
    for row, weights in runs:
        assert row == want
        assert same(weights, params(by_hand))
    ref = default.discriminator.ref_batch
    assert not torch.equal(ref[:, :1], ref[:, 1:])  # lsgan keeps (clean, noisy)


# -- settings ----------------------------------------------------------------------------

def test_defaults_keep_the_lsgan_and_configs_name_neither() -> None:
    for s in (Settings(), load_settings(arch="adv"),
              load_settings(REPO / "configs" / "default.yaml")):
        assert s.train.adversarial == "lsgan" and s.train.metric_weight == 1.0
    s = load_settings(None, ["train.adversarial=metric", "train.metric_weight=0.5"],
                      arch="adv")
    assert s.train.adversarial == "metric" and s.train.metric_weight == 0.5


@pytest.mark.parametrize(("override", "message"), [
    ("train.adversarial=wgan", r"train\.adversarial"),
    ("train.adversarial=Metric", r"train\.adversarial"),
    ("train.metric_weight=-1", r"train\.metric_weight"),
    ("train.metric_weight=.inf", r"train\.metric_weight"),
    ("train.metric_weight=high", r"train\.metric_weight"),
    ("train.metrik_weight=1", r"train\.metrik_weight.*'metric_weight'"),
])
def test_bad_metric_values_are_settings_errors(override: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(None, [override], arch="adv")


def test_metric_mode_refuses_windows_pesq_cannot_score() -> None:
    """A rate other than 16 kHz (wide-band PESQ) or a window under 0.25 s would mask every
    window: refused when the module is built, naming the keys."""
    s = metric_settings()
    s.data.sample_rate = 8000
    with pytest.raises(SettingsError, match=r"train\.adversarial.*data\.sample_rate 16000"):
        SeganGAN(s, SpeechWindows().stats())
    short = metric_settings().model_dump()
    short["data"].update(window=2048, hop=1024)
    with pytest.raises(SettingsError, match=r"data\.window of at least 4000"):
        SeganGAN(short, SpeechWindows().stats())
    short["train"]["adversarial"] = "lsgan"
    SeganGAN(short, SpeechWindows().stats())  # lsgan takes any window


# -- checkpoints, resume, warm start -----------------------------------------------------

def test_metric_checkpoint_round_trip_and_resume(speech: SpeechWindows, tmp_path: Path) -> None:
    """A metric run's checkpoint reloads (from_checkpoint, load_bundle) with its settings,
    (clean, clean) reference and weights, and a resumed fit continues it."""
    torch.manual_seed(0)
    module = metric_module(speech, ema_decay=0.9)
    trainer = make_trainer(2)
    trainer.fit(module, loader(speech))
    path = tmp_path / "metric.ckpt"
    trainer.save_checkpoint(path, weights_only=False)
    expected = module.enhance_windows(speech.noisy)

    again = SeganGAN.from_checkpoint(path, expected_arch="adv")
    assert again.settings.train.adversarial == "metric"
    assert torch.equal(again.enhance_windows(speech.noisy), expected)
    assert torch.equal(again.discriminator.ref_batch, module.discriminator.ref_batch)
    bundle = load_bundle(path, expect_arch="adv")
    assert bundle.settings.train.adversarial == "metric"
    for key, value in bundle.generator.state_dict().items():
        assert torch.equal(value, module.generator_ema.state_dict()[key]), key

    resumed = SeganGAN(metric_settings(ema_decay=0.9), speech.stats())
    recorder = LossRecorder()
    more = make_trainer(3, [recorder])
    more.fit(resumed, loader(speech), ckpt_path=path)
    assert more.global_step == 3 * STEPS and len(recorder.rows) == 1
    assert "d_loss" in recorder.rows[0]
    assert torch.equal(resumed.discriminator.ref_batch, module.discriminator.ref_batch)


def test_an_lsgan_reference_becomes_clean_clean_in_metric_mode(speech: SpeechWindows) -> None:
    """A (clean, noisy) reference (an lsgan run continued in metric mode) is replaced by
    its clean half, with a warning, before the metric discriminator uses it."""
    lsgan = SeganGAN(metric_settings(adversarial="lsgan"), speech.stats())
    lsgan.set_reference_batch(speech.clean[:BATCH], speech.noisy[:BATCH])
    module = metric_module(speech)
    module.discriminator.set_reference(lsgan.discriminator.ref_batch)
    with pytest.warns(UserWarning, match=r"\(clean, noisy\)"):
        make_trainer(1).fit(module, loader(speech))
    ref = module.discriminator.ref_batch
    assert torch.equal(ref[:, 1:], lsgan.discriminator.ref_batch[:, :1])
    assert torch.equal(ref[:, :1], ref[:, 1:])


RUN = ["--config", REPO / "configs" / "tiny.yaml", "--arch", "adv", "--batch-size", "4",
       "--set", "data.window=8192", "--set", "data.hop=4096",
       "--set", "model.encoder_channels=[4,8,8,16]", "--set", "model.disc_channels=[4,8,8,16]",
       "--set", "model.kernel_size=15", "--set", "model.disc_kernel_size=15",
       "--set", "train.val_utterances=1", "--set", "train.log_every_n_steps=1"]


def test_fine_tune_a_regression_run_with_the_metric_discriminator(
        cli, short_train_corpus: Path, tmp_path: Path) -> None:
    """`segan train --init-from` a regression-only checkpoint with train.adversarial=metric:
    its (untrained) discriminator is loaded, the reference is the new run's (clean, clean),
    the metric losses are logged, and the run resumes and reloads."""
    source, tune = tmp_path / "regression", tmp_path / "metric"
    cli("train", "--data", short_train_corpus, "--out", source, "--max-epochs", "1", *RUN,
        "--set", "train.adversarial_from_step=1000000")
    metric = [*RUN, "--set", "train.adversarial=metric", "--set", "train.metric_weight=1"]
    cli("train", "--data", short_train_corpus, "--out", tune, "--max-epochs", "1",
        "--init-from", source / "checkpoints" / "last.ckpt", *metric)
    record = json.loads((tune / "init_from.json").read_text())
    assert record["loaded"][:2] == ["generator", "discriminator"]
    cli("train", "--data", short_train_corpus, "--out", tune, "--max-epochs", "2", "--resume",
        *metric)
    logged = [row for path in sorted((tune / "logs").glob("version_*/metrics.csv"))
              for row in csv.DictReader(path.open())]
    d_loss = [float(r["d_loss"]) for r in logged if r.get("d_loss")]
    pred = [float(r["d_metric_pred"]) for r in logged if r.get("d_metric_pred")]
    true = [float(r["d_metric_true"]) for r in logged if r.get("d_metric_true")]
    assert len(d_loss) >= 2 and all(math.isfinite(v) for v in d_loss)
    assert pred and all(0 <= v <= 1 for v in pred + true)
    last = torch.load(tune / "checkpoints" / "last.ckpt", weights_only=True)
    ref = last["state_dict"]["discriminator.ref_batch"]
    assert torch.equal(ref[:, :1], ref[:, 1:])
    bundle = load_bundle(tune / "best.ckpt")
    assert bundle.settings.train.adversarial == "metric"
    assert SeganGAN.from_checkpoint(tune / "checkpoints" / "last.ckpt").metric_mode
