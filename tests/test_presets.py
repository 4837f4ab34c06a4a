"""Presets as package data: `--config NAME` finds a built-in preset from a wheel
(issue 19, item 5)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import soundfile as sf
import yaml

from segan_cli.presets import find_config, preset_names
from segan_cli.settings import load_settings

REPO = Path(__file__).resolve().parents[1]


def test_names_find_the_presets_of_configs() -> None:
    shipped = sorted(p.stem for p in (REPO / "configs").glob("*.yaml"))
    assert set(shipped) <= set(preset_names()) and "tiny" in shipped
    for name in shipped:
        for spelled in (name, f"{name}.yaml", f"configs/{name}.yaml"):
            found = find_config(spelled)
            assert yaml.safe_load(found.read_text()) == \
                yaml.safe_load((REPO / "configs" / f"{name}.yaml").read_text())


def test_config_by_name_through_the_cli(cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no configs/ here
    tiny = load_settings(REPO / "configs" / "tiny.yaml")
    assert find_config("tiny") != REPO / "tiny"
    res = cli("train", "--data", tmp_path / "nowhere", "--config", "tiny", code=2)
    assert "nowhere" in res.stderr and "preset" not in res.stderr  # past the settings
    res = cli("train", "--data", tmp_path, "--config", "tinyy", code=2)
    assert "no settings file or built-in preset named 'tinyy'" in res.stderr
    assert "tiny" in res.stderr and "Traceback" not in res.output
    assert tiny.model.arch == load_settings(find_config("tiny")).model.arch


def _wheel(tmp_path: Path) -> Path:
    """A wheel built from this checkout's sources, as pip would build it."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("configs", "segan_cli"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path / "dist"), str(src)],
                   check=True, capture_output=True, timeout=600)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    return wheel


@pytest.mark.slow
def test_wheel_carries_the_presets_and_config_name_works(tmp_path: Path,
                                                         voicebank_sample: Path) -> None:
    """A pip-installed user's `--config tiny` failed: configs/ was not in the wheel."""
    wheel = _wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    for preset in (REPO / "configs").glob("*.yaml"):
        assert f"segan_cli/configs/{preset.name}" in names
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), str(wheel)], check=True, capture_output=True, timeout=600)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    where = subprocess.run([sys.executable, "-c", "import segan_cli; print(segan_cli.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True)
    assert where.stdout.startswith(str(site))  # the installed copy, not the checkout
    src = voicebank_sample / "noisy" / "p232_005.wav"
    run = subprocess.run([sys.executable, "-m", "segan_cli", "enhance", str(src), "out.wav",
                          "--method", "wiener", "--config", "tiny"], cwd=work, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert sf.info(work / "out.wav").frames == sf.info(src).frames
    run = subprocess.run([sys.executable, "-m", "segan_cli", "enhance", str(src), "o2.wav",
                          "--method", "wiener", "--config", "nope"], cwd=work, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 2 and "built-in presets: adv, default, segan, tiny" in run.stderr
