"""Generators, discriminator, virtual batch norm and signal transforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.signal import lfilter

from segan_cli.core.io.audio import preemphasis as np_preemphasis
from segan_cli.core.models import (
    AdvancedGenerator,
    Discriminator,
    SeganGenerator,
    VirtualBatchNorm1d,
    build_discriminator,
    build_generator,
    count_parameters,
)
from segan_cli.core.models.transforms import SignalTransform, preemphasize
from segan_cli.errors import CorpusError, SettingsError
from segan_cli.settings import ModelSettings

TINY = {"encoder_channels": [4, 8, 8, 16], "disc_channels": [4, 8, 8, 16],
        "kernel_size": 15, "disc_kernel_size": 15}
WINDOW = 1024
STATS = {"noisy_mean": 0.01, "noisy_std": 0.2, "clean_mean": -0.02, "clean_std": 0.1}


@pytest.fixture(autouse=True)
def _single_thread(one_torch_thread: None) -> None:
    """All tests here run on one torch thread (see conftest)."""


def tiny(arch: str = "segan", **extra) -> ModelSettings:
    return ModelSettings(arch=arch, **{**TINY, **extra})


# -- full size: counts and shapes on the meta device (no memory, no compute) -----------

@pytest.mark.parametrize(("arch", "which", "expected", "exact"), [
    ("segan", "generator", 73.1e6, 73_100_049),
    ("adv", "generator", 117.7e6, 117_726_726),
    ("segan", "discriminator", 24.4e6, 24_373_082),
])
def test_full_size_parameter_counts(arch, which, expected, exact):
    model = ModelSettings(arch=arch)
    with torch.device("meta"):
        net = (build_generator if which == "generator" else build_discriminator)(model, 16384)
    n = count_parameters(net)
    assert n == exact
    assert abs(n - expected) / expected < 0.002


@pytest.mark.parametrize("arch", ["segan", "adv"])
def test_full_size_shapes(arch):
    model = ModelSettings(arch=arch)
    with torch.device("meta"):
        g = build_generator(model, 16384)
        d = build_discriminator(model, 16384)
        x = torch.empty(2, 1, 16384)
        assert g.latent(2).shape == (2, 1024, 8)
        y = g(x)
        d.set_reference(torch.empty(3, 2, 16384))
        score = d(torch.cat([y, x], dim=1))
    assert y.shape == (2, 1, 16384)
    assert score.shape == (2, 1)
    assert isinstance(g, AdvancedGenerator if arch == "adv" else SeganGenerator)


def test_decoder_input_channels_follow_the_paper():
    g = build_generator(ModelSettings(), 16384)
    assert [m.in_channels for m in g.decoder] == [2048, 1024, 512, 512, 256, 256, 128, 128,
                                                  64, 64, 32]
    assert [m.out_channels for m in g.decoder] == [512, 256, 256, 128, 128, 64, 64, 32, 32,
                                                   16, 1]
    assert [m.num_parameters for m in g.encoder_act] == g.channels  # per-channel PReLU


# -- tiny widths: forward and backward --------------------------------------------------

@pytest.mark.parametrize("arch", ["segan", "adv"])
def test_tiny_forward_backward(arch):
    torch.manual_seed(0)
    g = build_generator(tiny(arch), WINDOW)
    d = build_discriminator(tiny(arch), WINDOW)
    d.set_reference(torch.randn(4, 2, WINDOW))
    x = torch.randn(3, 1, WINDOW)
    y = g(x)
    assert y.shape == x.shape
    if arch == "segan":
        assert y.abs().max() <= 1  # tanh output
    loss = d(torch.cat([y, x], dim=1)).square().mean() + y.abs().mean()
    loss.backward()
    for name, p in [*g.named_parameters(), *d.named_parameters()]:
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("kernel", [1, 4, 15, 16])
@pytest.mark.parametrize("arch", ["segan", "adv"])
def test_any_kernel_size_keeps_lengths(arch, kernel):
    model = tiny(arch, kernel_size=kernel, disc_kernel_size=kernel)
    g, d = build_generator(model, 256), build_discriminator(model, 256)
    d.set_reference(torch.randn(2, 2, 256))
    y = g(torch.randn(2, 1, 256))
    assert y.shape == (2, 1, 256)
    assert d(torch.cat([y, y], dim=1)).shape == (2, 1)


def test_generator_accepts_longer_inputs_and_rejects_bad_lengths():
    g = build_generator(tiny(), WINDOW).eval()
    assert g(torch.randn(1, 1, 3 * WINDOW)).shape == (1, 1, 3 * WINDOW)
    with pytest.raises(ValueError, match="multiple of 16"):
        g(torch.randn(1, 1, WINDOW + 8))
    with pytest.raises(ValueError, match="latent"):
        g(torch.randn(1, 1, WINDOW), torch.zeros(1, 16, 3))


def test_window_must_divide_by_depth():
    with pytest.raises(SettingsError, match="multiple of 16"):
        build_generator(tiny(), 1000)
    with pytest.raises(SettingsError, match="disc_channels"):
        build_discriminator(tiny(disc_channels=[4] * 11), WINDOW)


def test_z_channels_from_settings():
    g = build_generator(tiny(z_channels=5), WINDOW)
    assert g.latent(2).shape == (2, 5, WINDOW // 16)
    assert g.decoder[0].in_channels == 16 + 5
    assert g(torch.randn(2, 1, WINDOW)).shape == (2, 1, WINDOW)


@pytest.mark.parametrize("arch", ["segan", "adv"])
def test_latent_zero_or_seeded_is_deterministic(arch):
    torch.manual_seed(1)
    g = build_generator(tiny(arch), WINDOW)
    x = torch.randn(2, 1, WINDOW)
    g.eval()
    with torch.no_grad():
        a, b = g(x), g(x)
        zeros = g(x, g.latent(2, zeros=True))
        s1 = g(x, g.latent(2, generator=torch.Generator().manual_seed(7)))
        s2 = g(x, g.latent(2, generator=torch.Generator().manual_seed(7)))
        s3 = g(x, g.latent(2, generator=torch.Generator().manual_seed(8)))
    assert torch.equal(a, b) and torch.equal(a, zeros)  # eval default is z = 0
    assert torch.equal(s1, s2) and not torch.equal(s1, s3)
    g.train()
    with torch.no_grad():
        assert not torch.equal(g(x), g(x))  # N(0, I) in training


# -- virtual batch norm -----------------------------------------------------------------

def test_vbn_statistics_are_per_channel():
    torch.manual_seed(0)
    scales = torch.tensor([1.0, 100.0, 0.01]).view(1, 3, 1)
    offsets = torch.tensor([0.0, 50.0, -3.0]).view(1, 3, 1)
    ref = torch.randn(32, 3, 256) * scales + offsets
    live = torch.randn(4, 3, 256) * scales + offsets
    vbn = VirtualBatchNorm1d(3)
    with torch.no_grad():
        vbn.gamma.fill_(1.0)
        out = vbn(torch.cat([ref, live]), n_ref=32)[32:]
    # Every channel is centred and scaled by its own statistics, whatever its scale.
    assert torch.allclose(out.mean(dim=(0, 2)), torch.zeros(3), atol=0.1)
    assert torch.allclose(out.std(dim=(0, 2)), torch.ones(3), atol=0.1)


def test_vbn_matches_the_formula_and_samples_are_independent():
    torch.manual_seed(0)
    ref, live = torch.randn(5, 2, 64) * 3 + 1, torch.randn(3, 2, 64)
    vbn = VirtualBatchNorm1d(2)
    with torch.no_grad():
        vbn.beta.fill_(0.25)
        out = vbn(torch.cat([ref, live]), n_ref=5)
        alone = vbn(torch.cat([ref, live[1:2]]), n_ref=5)
    mu_ref, msq_ref = ref.mean((0, 2), keepdim=True), ref.square().mean((0, 2), keepdim=True)
    x = live[1:2]
    mu = x.mean(2, keepdim=True) / 6 + mu_ref * 5 / 6
    msq = x.square().mean(2, keepdim=True) / 6 + msq_ref * 5 / 6
    expected = vbn.gamma * (x - mu) / torch.sqrt(1e-5 + msq - mu**2) + vbn.beta
    assert torch.allclose(out[6:7], expected.detach(), atol=1e-5)
    assert torch.allclose(alone[5:], out[6:7], atol=1e-6)  # no dependence on other samples
    ref_expected = vbn.gamma * (ref - mu_ref) / torch.sqrt(1e-5 + msq_ref - mu_ref**2) + 0.25
    assert torch.allclose(out[:5], ref_expected.detach(), atol=1e-5)


def test_vbn_gamma_beta_initialisation():
    torch.manual_seed(0)
    vbn = VirtualBatchNorm1d(4096)
    assert abs(vbn.gamma.mean().item() - 1) < 0.002
    assert abs(vbn.gamma.std().item() - 0.02) < 0.002
    assert torch.equal(vbn.beta, torch.zeros_like(vbn.beta))


def test_discriminator_reference_lives_in_state_dict_and_reloads():
    torch.manual_seed(0)
    d = Discriminator([4, 8], kernel_size=5, window=64)
    with pytest.raises(RuntimeError, match="reference"):
        d(torch.randn(1, 2, 64))
    ref = torch.randn(6, 2, 64)
    d.set_reference(ref)
    state = d.state_dict()
    assert torch.equal(state["ref_batch"], ref)
    fresh = Discriminator([4, 8], kernel_size=5, window=64)
    assert not fresh.has_reference
    fresh.load_state_dict(state)  # the buffer takes the saved batch size
    pair = torch.randn(3, 2, 64)
    assert torch.equal(fresh(pair), d(pair))
    # A sample's score does not depend on the rest of its batch.
    assert torch.allclose(d(pair)[1:2], d(pair[1:2]), atol=1e-6)
    with pytest.raises(ValueError, match="expected"):
        d.set_reference(torch.randn(6, 1, 64))


# -- transforms ---------------------------------------------------------------------------

def test_preemphasis_is_inverted_by_iir_deemphasis():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 1, 4096)).astype(np.float32)
    y = preemphasize(torch.from_numpy(x), 0.95).numpy()
    back = lfilter([1.0], [1.0, -0.95], y.astype(np.float64), axis=-1)
    np.testing.assert_allclose(back, x, atol=1e-5)
    np.testing.assert_allclose(y[0, 0], np_preemphasis(x[0, 0], 0.95), atol=1e-7)


def test_window_preemphasis_with_prev_matches_whole_file():
    rng = np.random.default_rng(1)
    whole = rng.standard_normal(4096).astype(np.float32)
    full = np_preemphasis(whole, 0.95)
    starts = [0, 1024, 2048]
    windows = torch.from_numpy(np.stack([whole[s:s + 1024] for s in starts]))[:, None]
    prev = torch.tensor([[0.0], [whole[1023]], [whole[2047]]])
    t = SignalTransform(preemphasis=0.95)
    out = t.to_model_input(windows, prev).numpy()
    for i, s in enumerate(starts):
        np.testing.assert_allclose(out[i, 0], full[s:s + 1024], atol=1e-6)


def test_zscore_paths_invert():
    t = SignalTransform.from_settings(ModelSettings(arch="adv", preemphasis=0.0,
                                                    input_norm="zscore"), STATS)
    x = torch.randn(2, 1, 512, dtype=torch.float64) * 0.3
    assert torch.allclose(t.from_model_output(t.to_model_target(x)), x, atol=1e-12)
    z = t.to_model_input(x)
    assert torch.allclose(z * STATS["noisy_std"] + STATS["noisy_mean"], x, atol=1e-12)
    assert torch.equal(t.to_output_signal(x), x)  # adv: L1 in raw signal units


def test_segan_transform_is_preemphasis_only():
    t = SignalTransform.from_settings(ModelSettings(), STATS)  # stats ignored for segan
    x = torch.randn(1, 1, 64)
    assert t.stats is None
    assert torch.equal(t.to_model_input(x), preemphasize(x, 0.95))
    assert torch.equal(t.from_model_output(x), x)
    assert torch.equal(SignalTransform.from_settings(ModelSettings(preemphasis=0.0))
                       .to_model_input(x), x)


def test_zscore_needs_statistics():
    adv = ModelSettings(arch="adv", preemphasis=0.0, input_norm="zscore")
    with pytest.raises(CorpusError, match="noisy_mean"):
        SignalTransform.from_settings(adv, None)
    with pytest.raises(CorpusError, match="standard deviation"):
        SignalTransform.from_settings(adv, {**STATS, "clean_std": 0.0})
