"""Bad settings files and crafted checkpoint settings: one clear error, never an allocation."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from segan_cli.core.models import build_discriminator, build_generator, count_parameters
from segan_cli.core.training.module import SeganGAN
from segan_cli.errors import SettingsError
from segan_cli.settings import (
    Settings,
    discriminator_weights,
    generator_weights,
    load_settings,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("content", [
    b"\xff\xfe\x00d\x00a\x00t\x00a",           # UTF-16
    b"data:\n  window: 1024 \xe9\n",             # latin-1 byte
    bytes(range(256)) * 4,                       # binary
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",     # an image
    b"data: " + b"[" * 20000,                    # nests too deeply for the parser
    b"data:\n  window: \x00\n",                  # a NUL in valid UTF-8
])
def test_unreadable_settings_file_is_one_settings_error(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(content)
    with pytest.raises(SettingsError) as exc:
        load_settings(bad)
    assert str(bad) in str(exc.value) and "\n" not in str(exc.value)


def test_oversized_settings_file_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (2 << 20) + "\n")
    with pytest.raises(SettingsError, match="not a settings file"):
        load_settings(big)


def test_binary_settings_file_through_the_cli(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"\x80\x81\x82" * 10)
    res = cli("enhance", tmp_path / "x.wav", tmp_path / "y.wav", "--method", "wiener",
              "--config", bad, code=2)
    assert str(bad) in res.stderr and "UTF-8" in res.stderr
    assert "Traceback" not in res.output and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("override,key", [
    ("data.window=999999488", "data.window"),
    ("data.window=1e9", "data.window"),
    ("data.sample_rate=1", "data.sample_rate"),
    ("data.sample_rate=1000000", "data.sample_rate"),
    ("model.kernel_size=100001", "model.kernel_size"),
    ("model.disc_kernel_size=2049", "model.disc_kernel_size"),
    ("model.encoder_channels=[100000]", "encoder_channels"),
    ("model.disc_channels=[16, 100000]", "disc_channels"),
    ("model.encoder_channels=[4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4]", "17 layers"),
    ("model.z_channels=1000000", "model.z_channels"),
    ("model.encoder_channels=[8192,8192,8192,8192]", "generator would have"),
    ("model.disc_channels=[8192,8192,8192,8192]", "discriminator would have"),
    ("train.batch_size=100000000", "train.batch_size"),
    ("train.ref_batch_size=100000000", "train.ref_batch_size"),
    ("train.val_utterances=1000000000", "train.val_utterances"),
    ("train.num_workers=100000", "train.num_workers"),
    ("train.stft_resolutions=[" + ",".join(["[512,128]"] * 17) + "]", "stft_resolutions"),
    ("enhance.batch_size=1000000", "enhance.batch_size"),
    ("enhance.block_seconds=1e12", "enhance.block_seconds"),
    ("evaluate.workers=100000", "evaluate.workers"),
    ("data.train_snrs=[1e308]", "train_snrs"),
    ("data.hop=0", "data.hop"),
    ("enhance.seed=18446744073709551616", "enhance.seed"),   # torch: raw Overflow error
    ("train.seed=4294967296", "train.seed"),     # Lightning: a random seed instead
    ("train.seed=-1", "train.seed"),
    ("data.seed=-1", "data.seed"),               # NumPy: raw ValueError
])
def test_huge_values_are_refused_by_name(override: str, key: str) -> None:
    with pytest.raises(SettingsError) as exc:
        load_settings(None, [override])
    assert key in str(exc.value)
    assert "Value error," not in str(exc.value)


@pytest.mark.parametrize("text,key,lines", [
    ("train:\n  batch_size: 4\nmodel:\n  kernel_size: 31\ntrain:\n  max_steps: 3\n",
     "'train'", "lines 1 and 5"),
    ("train:\n  batch_size: 4\n  batch_size: 8\n", "'batch_size'", "lines 2 and 3"),
    ("data: {window: 1024, window: 2048}\n", "'window'", "on line 1"),
])
def test_a_key_given_twice_is_refused_naming_both_lines(tmp_path: Path, text: str, key: str,
                                                        lines: str) -> None:
    """PyYAML kept the last of two `train:` sections silently."""
    bad = tmp_path / "dup.yaml"
    bad.write_text(text)
    with pytest.raises(SettingsError) as exc:
        load_settings(bad)
    assert str(bad) in str(exc.value) and key in str(exc.value) and lines in str(exc.value)


def test_a_merge_key_may_still_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text("train:\n  batch_size: 4\nenhance:\n  <<: {batch_size: 2}\n"
                    "  batch_size: 3\n")
    assert load_settings(path).enhance.batch_size == 3


def test_seed_bounds_keep_the_extremes() -> None:
    s = load_settings(None, ["enhance.seed=18446744073709551615", "train.seed=4294967295",
                             "data.seed=0"])
    assert (s.enhance.seed, s.train.seed, s.data.seed) == (2**64 - 1, 2**32 - 1, 0)


def test_window_and_widths_together_are_bounded() -> None:
    # each value is allowed on its own; together one window would need 64 GiB
    with pytest.raises(SettingsError, match="GiB per window"):
        load_settings(None, ["data.window=1048576", "model.encoder_channels=[8192]"])
    assert load_settings(None, ["data.window=1048576"]).data.window == 2**20


def test_defaults_and_shipped_configs_stay_valid() -> None:
    assert Settings() == load_settings(arch="segan")
    for path in CONFIGS.glob("*.yaml"):
        load_settings(path)
        load_settings(path, arch="adv")


@pytest.mark.parametrize("arch", ["segan", "adv"])
def test_weight_estimates_match_the_built_models(arch: str) -> None:
    s = load_settings(CONFIGS / "tiny.yaml", arch=arch)
    gen = build_generator(s.model, s.data.window)
    disc = build_discriminator(s.model, s.data.window)
    assert abs(generator_weights(s.model) / count_parameters(gen) - 1) < 0.01
    assert abs(discriminator_weights(s.model) / count_parameters(disc) - 1) < 0.02


@pytest.fixture(scope="module")
def tiny_ckpt_dict() -> dict:
    settings = load_settings(CONFIGS / "tiny.yaml", ["data.window=1024", "data.hop=512"])
    torch.manual_seed(0)
    module = SeganGAN(settings, None)
    return {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
            "global_step": 0}


def _crafted(base: dict, tmp: Path, section: str, key: str, value: object) -> Path:
    ckpt = copy.deepcopy(base)
    ckpt["hyper_parameters"]["settings"][section][key] = value
    path = tmp / f"{section}.{key}.ckpt"
    torch.save(ckpt, path)
    return path


@pytest.mark.parametrize("section,key,value,says", [
    ("data", "sample_rate", 1, "data.sample_rate"),
    ("data", "window", 1e9, "data.window"),
    ("data", "window", 999999488, "data.window"),
    ("model", "encoder_channels", [100000], "encoder_channels"),
    ("model", "kernel_size", 100001, "model.kernel_size"),
    ("model", "encoder_channels", [8192] * 16, "generator would have"),
    # within every bound, but ~290 M weights the file does not hold: refused unallocated
    ("model", "encoder_channels", [512] * 6, "do not match its settings"),
    ("data", "window", 1000, "multiple of 64"),
])
def test_crafted_checkpoint_settings_give_one_line(cli, tiny_ckpt_dict: dict, tmp_path: Path,
                                                   section: str, key: str, value: object,
                                                   says: str) -> None:
    if key == "encoder_channels" and value == [512] * 6:
        tiny_ckpt_dict = copy.deepcopy(tiny_ckpt_dict)
        tiny_ckpt_dict["hyper_parameters"]["settings"]["model"]["kernel_size"] = 101
    crafted = _crafted(tiny_ckpt_dict, tmp_path, section, key, value)
    src = tmp_path / "in.wav"
    sf.write(src, np.zeros(1600, np.float32), 16000)
    res = cli("enhance", src, tmp_path / "out.wav", "--ckpt", crafted, code=2)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and str(crafted) in lines[0], res.stderr
    assert "Traceback" not in res.output and not (tmp_path / "out.wav").exists()
