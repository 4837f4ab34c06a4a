"""The Wiener-conditioned generator: the torch port of the baseline, the two-channel
input, the residual over the Wiener estimate, real Lightning steps and a reload."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from segan_cli.core.dsp.wiener import wiener_enhance
from segan_cli.core.enhancement.inference import GeneratorModel, load_bundle
from segan_cli.core.models import build_generator, count_parameters
from segan_cli.core.models.wiener_input import SILENT_RUN, _silent_frames, wiener_estimate
from segan_cli.core.training.module import SeganGAN
from segan_cli.errors import SettingsError
from segan_cli.settings import Settings, load_settings
from tests.conftest import VOICEBANK_SAMPLE, need_shared
from tests.test_training_module import STATS, WINDOW, SineWindows, loader, make_trainer

TINY = {"encoder_channels": [4, 8, 8, 16], "disc_channels": [4, 8, 8, 16],
        "kernel_size": 15, "disc_kernel_size": 15}


@pytest.fixture(autouse=True)
def _single_thread(one_torch_thread: None) -> None:
    """All tests here run on one torch thread (see conftest)."""


def conditioned(condition: str = "wiener") -> Settings:
    return Settings.model_validate({
        "data": {"window": WINDOW, "hop": WINDOW // 2},
        "model": {"arch": "adv", "preemphasis": 0.0, "input_norm": "zscore",
                  "head": "residual", "head_norm": "none", "window_norm": True,
                  "condition": condition, **TINY},
        "train": {"batch_size": 8, "optimizer": "adam", "lr_g": 1e-3,
                  "adversarial_from_step": 1000000, "stft_weight": 1.0,
                  "stft_resolutions": [(256, 64), (512, 128)]}})


def noisy_windows(n: int, length: int) -> np.ndarray:
    """``n`` windows of a real noisy VoiceBank recording."""
    x, sr = sf.read(need_shared(VOICEBANK_SAMPLE) / "noisy" / "p232_005.wav", dtype="float32")
    assert sr == 16000 and x.size >= n * length
    return x[:n * length].reshape(n, length)


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    return 10 * float(np.log10(np.sum(reference ** 2) / np.sum((reference - estimate) ** 2)))


def test_torch_wiener_is_the_baseline_on_real_speech() -> None:
    """Each window of the batch gets what wiener_enhance gives that window alone."""
    windows = noisy_windows(3, 16384)
    got = wiener_estimate(torch.from_numpy(windows)[:, None]).numpy()[:, 0]
    for w, g in zip(windows, got, strict=True):
        want = wiener_enhance(w, 16000)
        assert snr_db(want, g) > 60  # float32 against float64, same algorithm
        assert snr_db(w, g) < 30  # and it really filtered something
    one = wiener_estimate(torch.from_numpy(windows[1:2])[:, None]).numpy()[0, 0]
    np.testing.assert_allclose(one, got[1], atol=1e-6)  # rows do not see each other


def test_zero_padding_is_left_out_of_the_noise_estimate() -> None:
    """An utterance's last window, zero-padded by the enhancer, is still filtered.

    The padding's zero power used to be the noise minimum, so the filter passed the
    window's noisy part untouched. Now the part with sound is filtered as it is in a
    window of its own, and the padding stays exactly zero.
    """
    sound = noisy_windows(1, 24576)[0]
    part = 10000  # the last 6,384 samples of the 16,384 window are the padding
    padded = np.zeros(16384, dtype=np.float32)
    padded[:part] = sound[8000:8000 + part]
    got = wiener_estimate(torch.from_numpy(padded)[None, None]).numpy()[0, 0]
    alone = wiener_estimate(torch.from_numpy(padded[:part].copy())[None, None]).numpy()[0, 0]
    assert np.all(got[part + 512:] == 0.0)
    assert snr_db(alone[:part - 512], got[:part - 512]) > 20
    # and the filter removed something: the output is not the input
    assert snr_db(padded[:part], got[:part]) < 15
    # in model units (z-scored) the padding is a constant, not zero: the same holds
    mean, std = 3e-4, 0.05
    shifted = torch.from_numpy((padded - mean) / std)[None, None]
    got_z = wiener_estimate(shifted).numpy()[0, 0] * std + mean
    assert snr_db(alone[:part - 512], got_z[:part - 512]) > 20


def test_digital_silence_inside_a_window_does_not_stop_the_filter() -> None:
    """A drop-out of exact zeros mid-window is no noise floor either; a few zeros in a
    row (a zero crossing, quiet integer audio) change nothing."""
    window = noisy_windows(1, 16384)[0].copy()
    plain = wiener_estimate(torch.from_numpy(window)[None, None]).numpy()[0, 0]
    dropped = window.copy()
    dropped[6000:7000] = 0.0
    got = wiener_estimate(torch.from_numpy(dropped)[None, None]).numpy()[0, 0]
    far = np.r_[0:5000, 8000:16384]
    assert snr_db(plain[far], got[far]) > 20
    few = torch.from_numpy(window.copy())[None]
    few[0, 6000:6000 + SILENT_RUN] = 0.0
    assert not _silent_frames(few, 512, 128).any()
    marked = _silent_frames(torch.from_numpy(dropped)[None], 512, 128)[0]
    touched = [t for t in range(marked.numel()) if 6000 - 512 < t * 128 < 7000]
    assert marked.nonzero().flatten().tolist() == touched


def test_short_windows_and_bad_shapes() -> None:
    x = torch.from_numpy(noisy_windows(2, 512))[:, None]
    y = wiener_estimate(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    with pytest.raises(ValueError, match="batch, 1, time"):
        wiener_estimate(x[:, 0])


def test_condition_adds_one_input_channel_and_nothing_else() -> None:
    plain, wiener = (build_generator(conditioned(c).model, WINDOW) for c in ("none", "wiener"))
    first = wiener.encoder[0][0].weight
    assert first.shape[1] == 2 and plain.encoder[0][0].weight.shape[1] == 1
    extra = count_parameters(wiener) - count_parameters(plain)
    k = TINY["kernel_size"]
    assert extra == k * (TINY["encoder_channels"][0] + TINY["encoder_channels"][1])


def test_untrained_conditioned_model_starts_at_the_wiener_estimate() -> None:
    """The residual is taken over the Wiener estimate: an untrained model returns about
    it, much nearer to it than to the noisy input."""
    module = SeganGAN(conditioned(), STATS)
    noisy = torch.from_numpy(noisy_windows(4, WINDOW))[:, None]
    out = module.enhance_windows(noisy)
    estimate = wiener_estimate(noisy)
    to_wiener = float((out - estimate).square().mean())
    to_noisy = float((out - noisy).square().mean())
    assert to_wiener < 0.2 * to_noisy


def test_conditioned_model_trains_and_reloads(tmp_path: Path) -> None:
    """Real Lightning steps lower the loss; the checkpoint rebuilds the two-channel model
    and gives the module's own output."""
    ds = SineWindows(16)
    module = SeganGAN(conditioned(), STATS)
    module.set_reference_batch(ds.clean[:8], ds.noisy[:8])
    before = float((module.enhance_windows(ds.noisy) - ds.clean).abs().mean())
    make_trainer(12).fit(module, loader(ds, shuffle=True))
    after = float((module.enhance_windows(ds.noisy) - ds.clean).abs().mean())
    assert after < before
    path = tmp_path / "wiener.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)},
               path)
    bundle = load_bundle(path, expect_arch="adv")
    assert bundle.settings.model.condition == "wiener"
    out = GeneratorModel.from_bundle(bundle)(ds.noisy[:4, 0].numpy())
    np.testing.assert_allclose(out, module.enhance_windows(ds.noisy[:4])[:, 0].numpy(),
                               atol=1e-5)


def test_condition_needs_arch_adv() -> None:
    with pytest.raises(SettingsError, match=r"model\.condition"):
        load_settings(None, ["model.condition=wiener"])
    with pytest.raises(SettingsError, match="condition"):
        load_settings(None, ["model.condition=kalman"], arch="adv")
    assert load_settings(None, ["model.condition=wiener"], arch="adv").model.condition == \
        "wiener"


def test_conditioned_model_exports_to_torchscript_at_any_batch(tmp_path: Path) -> None:
    """The exported module computes the Wiener channel itself, for any batch size, as
    the checkpoint does."""
    from segan_cli.core.packaging.export import ScriptedModel, export_torchscript

    ds = SineWindows(8)
    module = SeganGAN(conditioned(), STATS)
    module.set_reference_batch(ds.clean[:8], ds.noisy[:8])
    path = tmp_path / "wiener.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)},
               path)
    bundle = load_bundle(path, expect_arch="adv")
    export_torchscript(bundle, tmp_path / "w.pt")
    scripted = ScriptedModel(tmp_path / "w.pt")
    reference = GeneratorModel.from_bundle(bundle)
    for n in (1, 3):
        x = noisy_windows(n, WINDOW)
        np.testing.assert_allclose(scripted(x), reference(x), atol=1e-4)
