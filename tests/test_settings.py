"""Settings files: presets, validation errors naming file and key, CLI overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from segan_cli.errors import SettingsError
from segan_cli.settings import PAPER_CHANNELS, Settings, load_settings, parse_override

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_shipped_configs_match_presets() -> None:
    assert load_settings(CONFIGS / "segan.yaml") == load_settings(arch="segan")
    assert load_settings(CONFIGS / "adv.yaml") == load_settings(arch="adv")


def test_paper_defaults() -> None:
    s = load_settings(CONFIGS / "segan.yaml")
    assert s.model.encoder_channels == PAPER_CHANNELS
    assert (s.data.window, s.data.hop, s.data.sample_rate) == (16384, 8192, 16000)
    assert s.train.optimizer == "rmsprop" and s.train.lr_g == 2e-4 and s.train.l1_weight == 100
    assert s.model.preemphasis == 0.95
    adv = load_settings(CONFIGS / "adv.yaml")
    assert adv.model.arch == "adv" and adv.train.optimizer == "adam" and adv.train.lr_g == 1e-4
    assert adv.model.input_norm == "zscore" and adv.model.preemphasis == 0.0


def test_tiny_config_is_small() -> None:
    s = load_settings(CONFIGS / "tiny.yaml")
    assert max(s.model.encoder_channels) <= 64 and s.data.window <= 8192


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  batchsize: 8\n")
    with pytest.raises(SettingsError) as exc:
        load_settings(bad)
    msg = str(exc.value)
    assert str(bad) in msg and "train.batchsize" in msg and "batch_size" in msg


def test_unknown_section(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("trian:\n  batch_size: 8\n")
    with pytest.raises(SettingsError, match="trian.*did you mean 'train'"):
        load_settings(bad)


def test_wrong_type_and_range(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  batch_size: many\n")
    with pytest.raises(SettingsError, match=r"train\.batch_size"):
        load_settings(bad)
    bad.write_text("train:\n  batch_size: 0\n")
    with pytest.raises(SettingsError, match=r"train\.batch_size.*greater than or equal to 1"):
        load_settings(bad)
    bad.write_text("data:\n  window: 1024\n  hop: 2048\n")
    with pytest.raises(SettingsError, match="hop"):
        load_settings(bad)


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings(bad)
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "missing.yaml")


def test_overrides_apply_and_validate() -> None:
    s = load_settings(CONFIGS / "tiny.yaml", ["train.batch_size=3", "model.encoder_channels=[4,8]",
                                              "enhance.chunking=paper"])
    assert s.train.batch_size == 3 and s.model.encoder_channels == [4, 8]
    assert s.enhance.chunking == "paper"
    with pytest.raises(SettingsError, match=r"overrides.*train\.batch_sz"):
        load_settings(CONFIGS / "tiny.yaml", ["train.batch_sz=3"])
    with pytest.raises(SettingsError, match="KEY=VALUE"):
        parse_override("train.batch_size")


def test_extra_flags_ignore_none_and_arch_override() -> None:
    s = load_settings(None, [], arch="adv", extra={"train": {"max_steps": 5, "seed": None}})
    assert s.train.max_steps == 5 and s.train.seed == Settings().train.seed
    assert s.model.arch == "adv" and s.train.optimizer == "adam"


def test_configs_are_plain_yaml() -> None:
    for path in CONFIGS.glob("*.yaml"):
        assert isinstance(yaml.safe_load(path.read_text()), dict), path
