"""Opt-in training recipe: settings, heads, STFT loss, warm-up and EMA, on real Lightning steps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn

from segan_cli.core.enhancement.inference import GeneratorModel, checkpoint_info, load_bundle
from segan_cli.core.models import build_generator, count_parameters
from segan_cli.core.models.adv_generator import HEADS
from segan_cli.core.training.losses import relative_floor, stft_loss
from segan_cli.core.training.module import SeganGAN
from segan_cli.errors import SettingsError
from segan_cli.settings import Settings, load_settings, settings_to_yaml
from tests.test_training_module import (
    STATS,
    WINDOW,
    LossRecorder,
    SineWindows,
    loader,
    make_trainer,
)

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
TINY = {"encoder_channels": [4, 8, 8, 16], "disc_channels": [4, 8, 8, 16],
        "kernel_size": 15, "disc_kernel_size": 15}


@pytest.fixture(autouse=True)
def _single_thread(one_torch_thread: None) -> None:
    """All tests here run on one torch thread (see conftest)."""


def adv_settings(head: str = "seed", **train) -> Settings:
    """Tiny ``adv`` settings (z-score, Adam) with ``model.head`` and train overrides."""
    return Settings.model_validate({
        "data": {"window": WINDOW, "hop": WINDOW // 2},
        "model": {"arch": "adv", "preemphasis": 0.0, "input_norm": "zscore", "head": head,
                  **TINY},
        "train": {"batch_size": 8, "optimizer": "adam", "lr_g": 1e-3, "lr_d": 1e-3, **train}})


def adv_module(ds: SineWindows | None = None, head: str = "seed", **train) -> SeganGAN:
    module = SeganGAN(adv_settings(head, **train), STATS)
    if ds is not None:
        module.set_reference_batch(ds.clean[:8], ds.noisy[:8])
    return module


def params(net: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


# -- settings ---------------------------------------------------------------------------

def test_recipe_defaults_are_the_papers() -> None:
    """Every recipe switch defaults to the paper: seed head, no STFT, no warm-up, no EMA."""
    for s in (Settings(), load_settings(arch="adv"), load_settings(CONFIGS / "segan.yaml"),
              load_settings(CONFIGS / "adv.yaml")):
        assert s.model.head == "seed"
        assert s.train.stft_weight == 0 and s.train.adversarial_from_step == 0
        assert s.train.ema_decay is None and not s.data.augment.enabled
    for name in ("segan.yaml", "adv.yaml"):  # the shipped paper configs name none of them
        text = (CONFIGS / name).read_text()
        assert not any(k in text for k in ("head:", "stft_", "adversarial_from_step",
                                           "ema_decay", "augment:"))
    module = SeganGAN(adv_settings(), STATS)
    assert module.generator_ema is None and module.inference_generator is module.generator
    assert module.adversarial_now()  # from the first step, as in the paper


def test_head_other_than_seed_needs_arch_adv() -> None:
    """``model.head`` is an adv option: on segan it is a settings error naming the key."""
    with pytest.raises(SettingsError, match=r"model.*model\.head applies to arch 'adv'"):
        load_settings(None, ["model.head=residual"])
    assert load_settings(None, ["model.head=residual"], arch="adv").model.head == "residual"
    with pytest.raises(SettingsError, match=r"model\.head"):
        load_settings(None, ["model.head=resnet"], arch="adv")


@pytest.mark.parametrize(("override", "message"), [
    ("train.stft_resolutions=[[8, 4]]", r"train:.*stft_resolutions: \(8, 4\)"),
    ("train.stft_resolutions=[[512, 0]]", r"stft_resolutions: \(512, 0\)"),
    ("train.stft_resolutions=[[256, 512]]", r"stft_resolutions: \(256, 512\)"),
    ("train.stft_resolutions=[[16384, 256]]", "16 <= fft <= 8192"),
    ("train.stft_resolutions=[[512]]", r"train\.stft_resolutions"),
    ("train.stft_weight=-1", r"train\.stft_weight"),
    ("train.adversarial_from_step=-1", r"train\.adversarial_from_step"),
    ("train.ema_decay=1.0", r"train\.ema_decay"),
    ("train.ema_decay=0", r"train\.ema_decay"),
    ("data.augment.snr_db=[20, 5]", r"data\.augment:.*snr_db must be \[low, high\]"),
    ("data.augment.speed=[1.2, 0.9]", r"data\.augment:.*speed must be"),
    ("data.augment.speed=[0.3, 1.0]", r"data\.augment:.*within 0\.5\.\.2\.0"),
    ("data.augment.clean_share=1.5", r"data\.augment\.clean_share"),
    ("data.augment.gain_db=-3", r"data\.augment\.gain_db"),
    ("data.augment.seed=-1", r"data\.augment\.seed"),
    ("data.augment.noise={corpus: 0, coloured: 0, speech_shaped: 0, babble: 0, tonal: 0, "
     "impulsive: 0}", r"data\.augment\.noise:.*at least one noise family"),
    ("data.augment.noise.babble=-0.1", r"data\.augment\.noise\.babble"),
])
def test_bad_recipe_values_are_settings_errors(override: str, message: str) -> None:
    """Out-of-range recipe values fail at load time, naming where the problem is."""
    with pytest.raises(SettingsError, match=message):
        load_settings(None, [override], arch="adv")


def test_augment_typo_names_key_and_file(tmp_path: Path) -> None:
    """A typo under data.augment (or its noise mix) suggests the real key and names the file."""
    bad = tmp_path / "recipe.yaml"
    bad.write_text("data:\n  augment:\n    enabled: true\n    clen_share: 0.5\n")
    with pytest.raises(SettingsError) as exc:
        load_settings(bad)
    msg = str(exc.value)
    assert str(bad) in msg and "data.augment.clen_share" in msg
    assert "did you mean 'clean_share'" in msg
    bad.write_text("data:\n  augment:\n    noise:\n      babel: 0.5\n")
    with pytest.raises(SettingsError, match=r"data\.augment\.noise\.babel.*'babble'"):
        load_settings(bad)


def test_recipe_settings_round_trip_through_yaml_and_checkpoint_json(tmp_path: Path) -> None:
    """A full recipe file loads as written and survives run-folder YAML and checkpoint JSON."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "model: {arch: adv, head: residual}\n"
        "train: {stft_weight: 2.5, stft_resolutions: [[256, 64], [128, 32]],\n"
        "        adversarial_from_step: 7, ema_decay: 0.999}\n"
        "data:\n  augment: {enabled: true, clean_share: 0.1, snr_db: [0, 30], speed: [0.9, 1.1],\n"
        "            noise: {corpus: 0, tonal: 2}}\n")
    s = load_settings(recipe)
    assert s.model.head == "residual" and s.train.stft_resolutions == [(256, 64), (128, 32)]
    assert s.train.adversarial_from_step == 7 and s.train.ema_decay == 0.999
    a = s.data.augment
    assert a.enabled and a.snr_db == (0.0, 30.0) and a.speed == (0.9, 1.1)
    assert a.noise.corpus == 0 and a.noise.tonal == 2 and a.noise.babble == 0.15
    assert Settings.model_validate(json.loads(json.dumps(s.model_dump(mode="json")))) == s
    saved = tmp_path / "settings.yaml"
    saved.write_text(settings_to_yaml(s))
    assert load_settings(saved) == s


# -- output heads -----------------------------------------------------------------------

def _heads() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {h: build_generator(adv_settings(h).model, WINDOW) for h in HEADS}


def test_heads_differ_only_by_relu_and_skip_buffers() -> None:
    """seed keeps BN-ReLU-conv, linear/residual drop the ReLU; no head adds parameters."""
    gens = _heads()
    assert [type(m) for m in gens["seed"].head] == [nn.BatchNorm1d, nn.ReLU, nn.Conv1d]
    assert [type(m) for m in gens["linear"].head] == [nn.BatchNorm1d, nn.Conv1d]
    assert [type(m) for m in gens["residual"].head] == [nn.BatchNorm1d, nn.Conv1d]
    counts = {h: count_parameters(g) for h, g in gens.items()}
    assert counts["seed"] == counts["linear"] == counts["residual"], counts
    extra = set(gens["residual"].state_dict()) - set(gens["linear"].state_dict())
    assert extra == {"skip_scale", "skip_shift"}
    outside_head = {k for k in gens["seed"].state_dict() if not k.startswith("head.")}
    assert outside_head == {k for k in gens["linear"].state_dict() if not k.startswith("head.")}
    with pytest.raises(ValueError, match="residual"):
        gens["linear"].set_skip_affine(2.0, 0.0)
    with pytest.raises(ValueError, match="unknown head"):
        type(gens["seed"])(TINY["encoder_channels"], 15, WINDOW, head="tanh")


def test_seed_head_zeroes_negative_inputs_to_its_conv() -> None:
    """The seed head's ReLU really acts: the conv sees no negatives; linear passes them."""
    gens = _heads()
    seen: dict[str, torch.Tensor] = {}
    for h in ("seed", "linear"):
        gens[h].head[-1].register_forward_hook(lambda m, i, o, h=h: seen.update({h: i[0]}))
        gens[h].eval()(torch.randn(2, 1, WINDOW))
    assert seen["seed"].min() >= 0 and seen["linear"].min() < 0


def test_residual_head_starts_near_the_identity_and_can_learn() -> None:
    """Untrained residual adv returns about the noisy input (z-score and all), linear does
    not; the last conv is small but not zero, so the layers behind it get gradients."""
    noisy = SineWindows(4).noisy
    module = SeganGAN(adv_settings("residual"), STATS)
    scale, shift = module.transform.identity_affine()
    assert float(module.generator.skip_scale) == pytest.approx(scale) != 1.0
    assert float(module.generator.skip_shift) == pytest.approx(shift) != 0.0
    out = module.enhance_windows(noisy)
    error = (out - noisy).square().mean().sqrt() / noisy.square().mean().sqrt()
    assert 0 < float(error) < 0.3
    linear = SeganGAN(adv_settings("linear"), STATS)
    lin_error = (linear.enhance_windows(noisy) - noisy).square().mean().sqrt()
    assert float(lin_error) > 3 * float(error) * float(noisy.square().mean().sqrt())
    conv = module.generator.head[-1]
    assert conv.weight.abs().max() > 0 and not conv.bias.any()
    module.generator.train()
    x = module.transform.to_model_input(noisy)
    module.generator(x).square().mean().backward()
    first = module.generator.encoder[0][0].weight.grad
    assert first is not None and first.abs().max() > 0


def test_residual_skip_affine_survives_checkpoint_reload(tmp_path: Path) -> None:
    """skip_scale/skip_shift are saved, and load_bundle's generator gives the module's output."""
    noisy = SineWindows(4).noisy
    module = adv_module(SineWindows(8), head="residual")
    state = module.state_dict()
    assert {"generator.skip_scale", "generator.skip_shift"} <= set(state)
    path = tmp_path / "residual.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": dict(module.hparams)}, path)
    bundle = load_bundle(path, expect_arch="adv")
    assert bundle.settings.model.head == "residual"
    assert torch.equal(bundle.generator.skip_scale, module.generator.skip_scale)
    assert torch.equal(bundle.generator.skip_shift, module.generator.skip_shift)
    out = GeneratorModel.from_bundle(bundle)(noisy[:, 0].numpy())
    np.testing.assert_allclose(out, module.enhance_windows(noisy)[:, 0].numpy(), atol=1e-5)
    again = SeganGAN.from_checkpoint(path, expected_arch="adv")
    assert torch.equal(again.enhance_windows(noisy), module.enhance_windows(noisy))


# -- multi-resolution STFT loss -----------------------------------------------------------

RESOLUTIONS = [(256, 64), (128, 32)]


def _speechlike(batch: int = 2) -> torch.Tensor:
    return SineWindows(batch, seed=3).clean


def test_stft_loss_is_zero_for_identical_signals_and_grows_with_distortion() -> None:
    """0 for a perfect estimate; positive, and larger for more noise or a muffled estimate."""
    ref = _speechlike()
    noise = torch.randn(ref.shape, generator=torch.Generator().manual_seed(1))
    assert float(stft_loss(ref, ref, RESOLUTIONS)) == 0.0
    mild = float(stft_loss(ref + 0.003 * noise, ref, RESOLUTIONS))
    strong = float(stft_loss(ref + 0.03 * noise, ref, RESOLUTIONS))
    assert 0 < mild < strong
    assert float(stft_loss(0.5 * ref, ref, RESOLUTIONS)) > 0  # level errors count too
    assert stft_loss(ref, ref + 0.03 * noise, RESOLUTIONS).shape == ()


def test_stft_loss_is_finite_on_silence_and_passes_gradients() -> None:
    """All-zero windows give a finite loss and gradients; a gradient step lowers the loss."""
    zeros = torch.zeros(2, 1, WINDOW)
    silent = zeros.clone().requires_grad_()
    loss = stft_loss(silent, zeros, RESOLUTIONS)
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(silent.grad).all()
    against_speech = zeros.clone().requires_grad_()
    loss = stft_loss(against_speech, _speechlike(), RESOLUTIONS)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(against_speech.grad).all()

    ref = _speechlike()
    est = (ref + 0.05 * torch.randn(ref.shape, generator=torch.Generator().manual_seed(2))
           ).requires_grad_()
    before = stft_loss(est, ref, RESOLUTIONS)
    before.backward()
    assert torch.isfinite(est.grad).all() and est.grad.abs().max() > 0
    with torch.no_grad():
        after = stft_loss(est - 1e-3 * est.grad / est.grad.abs().max(), ref, RESOLUTIONS)
    assert after.item() < before.item()


def test_stft_log_magnitude_floor_follows_each_reference_window() -> None:
    """Digital silence in a target cannot dominate the loss: bins more than 60 dB below
    the reference window's peak count as the floor, for estimate and reference alike, so
    a hiss 90 dB down costs next to nothing while audible noise still costs."""
    ref = _speechlike()
    ref[..., WINDOW // 2:] = 0.0  # a clean target with a gap of exact zeros
    noise = torch.randn(ref.shape, generator=torch.Generator().manual_seed(2))
    hiss = float(stft_loss(ref + 3e-5 * noise, ref, RESOLUTIONS))
    audible = float(stft_loss(ref + 0.01 * noise, ref, RESOLUTIONS))
    assert hiss < 0.02 and audible > 10 * hiss
    # the floor is each window's own: 60 dB under its loudest bin, whatever the batch holds
    mags = torch.stack([torch.ones(4, 5), 100 * torch.ones(4, 5)])
    mags[1, 2, 3] = 1000.0
    np.testing.assert_allclose(relative_floor(mags).flatten().numpy(), [1e-3, 1.0], rtol=1e-5)


def test_stft_loss_takes_windows_shorter_than_its_fft() -> None:
    """data.window may be as short as 64: an FFT longer than the window must not crash."""
    ref = _speechlike()[..., :256]
    loss = stft_loss(ref + 0.01, ref, [(512, 128), (1024, 256), (256, 64)])
    assert torch.isfinite(loss) and loss.item() > 0
    # and so a 512-sample run with the default resolutions trains
    torch.manual_seed(0)
    ds = SineWindows(8)
    settings = adv_settings(stft_weight=1.0).model_dump()
    settings["data"].update(window=512, hop=256)
    module = SeganGAN(settings, STATS)
    module.set_reference_batch(ds.clean[:4, :, :512], ds.noisy[:4, :, :512])
    recorder = LossRecorder()
    short = [{"clean": ds.clean[i, :, :512], "noisy": ds.noisy[i, :, :512]} for i in range(8)]
    make_trainer(1, [recorder]).fit(module, loader(short))
    assert np.isfinite(recorder.rows[0]["g_stft"])


@pytest.mark.parametrize("stft_weight", [0.0, 1.0])
def test_stft_weight_enters_the_generator_loss(stft_weight: float) -> None:
    """With L1 and GAN terms off, the generator moves only when stft_weight > 0."""
    torch.manual_seed(0)
    ds = SineWindows(16)
    module = adv_module(ds, l1_weight=0.0, stft_weight=stft_weight,
                        stft_resolutions=RESOLUTIONS, adversarial_from_step=100)
    before = params(module.generator)
    recorder = LossRecorder()
    make_trainer(2, [recorder]).fit(module, loader(ds))
    assert same(before, params(module.generator)) == (stft_weight == 0)
    assert all(("g_stft" in row) == (stft_weight > 0) for row in recorder.rows)
    assert all(np.isfinite(v) for row in recorder.rows for v in row.values())


# -- regression warm-up (adversarial_from_step) ------------------------------------------

class Trace(Callback):
    """After every batch: the discriminator's and generator's weights."""

    def __init__(self) -> None:
        self.disc: list[list[torch.Tensor]] = []
        self.gen: list[list[torch.Tensor]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.disc.append(params(pl_module.discriminator))
        self.gen.append(params(pl_module.generator))


def test_adversarial_from_step_keeps_the_discriminator_out_of_the_first_steps() -> None:
    """3 regression-only steps: no D forward, D unchanged, G learning; D trains from step 3."""
    torch.manual_seed(0)
    ds = SineWindows(32)
    module = adv_module(ds, adversarial_from_step=3)
    d0, g0 = params(module.discriminator), params(module.generator)
    calls: list[int] = []
    module.discriminator.register_forward_hook(lambda m, i, o: calls.append(module.gan_step))
    trace, recorder = Trace(), LossRecorder()
    trainer = make_trainer(4, [trace, recorder])
    trainer.fit(module, loader(ds))
    assert len(recorder.rows) == 4 and trainer.global_step == 4 * 2  # max_steps respected
    assert calls == [3, 3]  # one D update and one G adversarial term, both in step 3
    assert all(same(d0, d) for d in trace.disc[:3])
    assert not same(d0, trace.disc[3])
    assert not same(g0, trace.gen[0])  # the generator learns by regression meanwhile
    for row in recorder.rows[:3]:
        assert "d_loss" not in row and row["g_adv"] == 0.0
    assert {"d_loss", "d_real", "d_fake"} <= set(recorder.rows[3])
    assert recorder.rows[3]["g_adv"] > 0


# -- EMA of the generator's weights ----------------------------------------------------

DECAY = 0.2  # the warm-up (1 + s) / (10 + s) is below it at s = 1, above from s = 2


def test_ema_follows_the_warmed_up_average_and_serves_validation(tmp_path: Path) -> None:
    """generator_ema is the documented running average; validation and best/inference use it."""
    torch.manual_seed(0)
    ds = SineWindows(32)
    module = adv_module(ds, ema_decay=DECAY)
    assert module.inference_generator is module.generator_ema
    assert not any(p.requires_grad for p in module.generator_ema.parameters())
    expected = params(module.generator_ema)
    trace = Trace()
    trainer = make_trainer(3, [trace], limit_val_batches=0)
    trainer.fit(module, loader(ds, shuffle=True))
    for step, live in enumerate(trace.gen, start=1):
        decay = min(DECAY, (1 + step) / (10 + step))
        expected = [decay * e + (1 - decay) * p for e, p in zip(expected, live, strict=True)]
    ema = params(module.generator_ema)
    for e, got in zip(expected, ema, strict=True):
        assert torch.allclose(e, got, atol=1e-6)
    assert not same(ema, params(module.generator))
    for avg, live in zip(module.generator_ema.buffers(), module.generator.buffers(),
                         strict=True):
        assert torch.equal(avg, live)  # BN statistics are copied, not averaged

    # validation scores the EMA weights
    val_l1 = make_trainer(1).validate(module, loader(ds), verbose=False)[0]["val_l1"]
    target = ds.clean

    def l1(gen: nn.Module) -> float:
        gen.eval()
        with torch.no_grad():
            x = module.transform.to_model_input(ds.noisy)
            y = gen(x, gen.latent(len(x), zeros=True))
        return float((module.transform.from_model_output(y) - target).abs().mean())

    assert val_l1 == pytest.approx(l1(module.generator_ema), rel=1e-5)
    assert val_l1 != pytest.approx(l1(module.generator), rel=1e-3)

    # the checkpoint's generator for enhance/evaluate is the EMA one
    path = tmp_path / "ema.ckpt"
    trainer.save_checkpoint(path)
    bundle = load_bundle(path)
    for key, value in bundle.generator.state_dict().items():
        assert torch.equal(value, module.generator_ema.state_dict()[key]), key
    assert not same(params(bundle.generator), params(module.generator))
    again = SeganGAN.from_checkpoint(path)
    assert torch.equal(again.enhance_windows(ds.noisy), module.enhance_windows(ds.noisy))


def test_tiny_ema_decay_tracks_the_live_weights() -> None:
    """With decay near 0 the average is the live generator (the lerp goes the right way)."""
    torch.manual_seed(0)
    ds = SineWindows(16)
    module = adv_module(ds, ema_decay=1e-9)
    make_trainer(2).fit(module, loader(ds))
    for avg, live in zip(params(module.generator_ema), params(module.generator), strict=True):
        assert torch.allclose(avg, live, atol=1e-7)


# -- EMA through `segan train --resume` ---------------------------------------------------

@pytest.fixture(scope="module")
def short_corpus(short_train_corpus: Path) -> Path:
    """Real VoiceBank speech cut to 1 s (tests/conftest.py)."""
    return short_train_corpus


EMA_RUN = ["--config", CONFIGS / "tiny.yaml", "--arch", "adv", "--batch-size", "16",
           "--set", "data.window=2048", "--set", "data.hop=1024",
           "--set", "train.val_utterances=1", "--set", "train.num_workers=0",
           "--set", "train.ema_decay=0.9", "--set", "model.head=residual"]


def _ema_state(ckpt: Path) -> dict[str, torch.Tensor]:
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith("generator_ema.")}


def test_resumed_run_keeps_the_ema(cli, short_corpus: Path, tmp_path: Path) -> None:
    """1+1 resumed epochs end with the same EMA weights as 2 uninterrupted epochs."""
    full, part = tmp_path / "full", tmp_path / "part"
    cli("train", "--data", short_corpus, "--out", full, "--max-epochs", "2", *EMA_RUN)
    cli("train", "--data", short_corpus, "--out", part, "--max-epochs", "1", *EMA_RUN)
    first = torch.load(part / "checkpoints" / "last.ckpt", weights_only=True)
    one = first["global_step"]
    cli("train", "--data", short_corpus, "--out", part, "--max-epochs", "2", "--resume",
        *EMA_RUN)
    a = torch.load(full / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(part / "checkpoints" / "last.ckpt", weights_only=True)
    assert b["global_step"] == a["global_step"] == 2 * one >= 4  # at least 2 + 2 GAN steps
    ea, eb = _ema_state(full / "checkpoints" / "last.ckpt"), \
        _ema_state(part / "checkpoints" / "last.ckpt")
    assert ea and set(ea) == set(eb)
    for key in ea:
        assert torch.allclose(ea[key], eb[key], atol=1e-5), key
    live = a["state_dict"]
    assert any(not torch.equal(ea[k], live["generator." + k[len("generator_ema."):]])
               for k in ea)
    bundle = load_bundle(part / "best.ckpt")
    assert bundle.settings.train.ema_decay == 0.9 and bundle.settings.model.head == "residual"
    # the run's CPU time adds up over its sessions and is what segan info reports
    spent = [c["callbacks"]["CpuTime"]["cpu_seconds"] for c in (first, b)]
    assert 0 < spent[0] < spent[1]
    info = checkpoint_info(part / "checkpoints" / "last.ckpt")
    assert info["cpu_hours"] == round(spent[1] / 3600, 3)


@pytest.mark.parametrize("latent", ["random", "zeros"])
def test_training_latent_is_random_or_the_inference_zeros(latent: str) -> None:
    """train.latent=zeros feeds the generator z = 0 in training, as inference does."""
    ds = SineWindows(16)
    module = adv_module(ds, head="residual", latent=latent,
                        adversarial_from_step=100)
    seen: list[torch.Tensor] = []
    module.generator.register_forward_pre_hook(
        lambda mod, args: seen.append(args[1]) if len(args) > 1 else seen.append(None))
    make_trainer(2).fit(module, train_dataloaders=loader(ds))
    assert len(seen) == 2
    if latent == "zeros":
        assert all(z is not None and not z.any() for z in seen)
    else:
        assert all(z is None for z in seen)  # drawn inside the generator: N(0, I)


def test_window_norm_makes_the_generator_level_equivariant() -> None:
    """model.window_norm: scaling an input window scales the output by the same factor
    (eval mode, running BN statistics), so the model meets every recording level alike."""
    settings = adv_settings("residual")
    settings.model.window_norm = True
    module = SeganGAN(settings, STATS)
    gen = module.generator.eval()
    x = SineWindows(4).noisy
    with torch.no_grad():
        base = gen(x)
        for factor in (0.03, 10.0):
            # the skip path is affine (shift), so compare the corrections
            shift = gen.skip_shift
            y = gen(x * factor)
            assert torch.allclose(y - shift, (base - shift) * factor, rtol=1e-4, atol=1e-5)
    plain = SeganGAN(adv_settings("residual"), STATS).generator.eval()
    with torch.no_grad():
        assert not torch.allclose(plain(x * 10.0) - plain.skip_shift,
                                  (plain(x) - plain.skip_shift) * 10.0, rtol=1e-3, atol=1e-4)


def test_window_norm_needs_arch_adv() -> None:
    with pytest.raises(SettingsError, match="window_norm"):
        load_settings(None, ["model.window_norm=true"])


def test_decoder_last_conv_gives_the_head_a_signed_signal() -> None:
    """model.decoder_last=conv drops the last decoder block's BN and ReLU: the head's
    input takes negative values; the seed's bn_relu block keeps it non-negative
    before its residual projection is added."""
    settings = adv_settings("linear")
    settings.model.decoder_last = "conv"
    gen = SeganGAN(settings, STATS).generator.eval()
    last = gen.decoder[-1]
    assert not any(isinstance(m, (nn.ReLU, nn.BatchNorm1d)) for m in last.modules())
    seed = SeganGAN(adv_settings("linear"), STATS).generator
    assert any(isinstance(m, nn.ReLU) for m in seed.decoder[-1].modules())
    assert count_parameters(seed) - count_parameters(gen) == 2  # the BN's affine pair
    seen: list[torch.Tensor] = []
    last.register_forward_hook(lambda mod, args, out: seen.append(out))
    with torch.no_grad():
        gen(gen_input := torch.randn(2, 1, WINDOW))
    assert gen_input.shape == (2, 1, WINDOW) and (seen[0] < 0).any()
    with pytest.raises(SettingsError, match="decoder_last"):
        load_settings(None, ["model.decoder_last=conv"])


def test_head_norm_none_makes_the_head_see_the_scale_of_its_input() -> None:
    """The seed's head BatchNorm is blind to the decoder output's scale (in training it
    divides it out, so nothing pins it and it drifts); head_norm=none drops it: the
    head is then a plain conv whose output follows its input's scale, in train and
    eval mode alike, and the residual head still starts near the identity."""
    h = torch.randn(4, 1, WINDOW)
    batch = SeganGAN(adv_settings("residual"), STATS).generator.train()
    assert torch.allclose(batch.head(h), batch.head(3 * h), atol=1e-4)  # scale-blind
    settings = adv_settings("residual")
    settings.model.head_norm = "none"
    module = SeganGAN(settings, STATS)
    gen = module.generator
    assert not any(isinstance(m, nn.BatchNorm1d) for m in gen.head.modules())
    assert count_parameters(batch) - count_parameters(gen) == 2  # the BN's affine pair
    conv = gen.head[-1]
    for mode in (True, False):
        gen.train(mode)
        with torch.no_grad():
            assert torch.allclose(gen.head(3 * h) - conv.bias, 3 * (gen.head(h) - conv.bias),
                                  atol=1e-5)
    noisy = SineWindows(4).noisy
    error = (module.enhance_windows(noisy) - noisy).square().mean().sqrt()
    assert 0 < float(error) < 0.3 * float(noisy.square().mean().sqrt())
    with pytest.raises(SettingsError, match="head_norm"):
        load_settings(None, ["model.head_norm=none"])
    with pytest.raises(SettingsError, match=r"model\.head_norm"):
        load_settings(None, ["model.head_norm=layer"], arch="adv")


def test_keep_checkpoints_keeps_every_validation_named_by_gan_step(
        cli, short_corpus: Path, tmp_path: Path) -> None:
    """train.keep_checkpoints: one loadable checkpoint per validation, its name holding
    the GAN step `segan info` shows and the validation PESQ; best and last as ever."""
    run = tmp_path / "keep"
    cli("train", "--data", short_corpus, "--out", run, "--max-epochs", "2", *EMA_RUN,
        "--set", "train.keep_checkpoints=true")
    kept = sorted((run / "checkpoints").glob("step-*.ckpt"))
    assert len(kept) == 2 and (run / "best.ckpt").is_file()
    steps = []
    for path in kept:
        gan_step = checkpoint_info(path)["gan_steps"]
        assert path.name.startswith(f"step-{gan_step}-pesq")
        steps.append(gan_step)
        assert load_bundle(path).settings.train.keep_checkpoints
    assert steps[0] < steps[1] == checkpoint_info(run / "checkpoints" / "last.ckpt")["gan_steps"]


def test_linear_upsampling_decoder_has_the_same_weights_and_no_checkerboard() -> None:
    """model.upsample=linear swaps each strided transposed conv of the decoder for linear
    interpolation + conv: same weight count, same shapes, and an untrained decoder fed a
    constant gives a constant (a transposed conv gives a periodic pattern)."""
    base = adv_settings("residual")
    gens = {}
    for up in ("transposed", "linear"):
        s = base.model_copy(deep=True)
        s.model.upsample = up
        gens[up] = build_generator(s.model, WINDOW).eval()
    assert count_parameters(gens["linear"]) == count_parameters(gens["transposed"])
    x = torch.randn(2, 1, WINDOW)
    assert gens["linear"](x).shape == gens["transposed"](x).shape == x.shape
    for up, gen in gens.items():
        layer = gen.decoder[0][0]
        with torch.no_grad():
            for p in layer.parameters():
                p.fill_(0.01)
            flat = layer(torch.ones(1, layer_in(layer), 32))[..., 8:-8]
        spread = float(flat.max() - flat.min())
        assert (spread < 1e-5) == (up == "linear"), (up, spread)
    with pytest.raises(SettingsError, match=r"model\.upsample"):
        load_settings(None, ["model.upsample=linear"])


def layer_in(layer: nn.Module) -> int:
    """Input channels of an upsampling layer (a transposed conv or interpolation + conv)."""
    conv = layer if not isinstance(layer, nn.Sequential) else layer[-1]
    return conv.in_channels
