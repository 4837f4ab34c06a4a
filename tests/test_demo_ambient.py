"""Everyday recorded noise of the full demo corpus: categories, splits, reserved packages,
and the recipe (decode, drop quiet, cap, level, join, count copies once) on a package
tree of its own (the real packages are GBs)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from segan_cli.core.data.sources import demo_ambient as da
from segan_cli.core.data.sources.demo import _noise_record, package_licences
from segan_cli.core.data.sources.demo_noise import NOISE_RATE, build_noises, noise_specs
from segan_cli.errors import CorpusError


def tone(seconds: float, freq: float, rate: int = 22050, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(int(freq))
    return (level * (np.sin(2 * np.pi * freq * t) + 0.3 * rng.standard_normal(t.size))
            ).astype(np.float32)


def test_categories_keep_splits_apart_and_reserved_packages_out() -> None:
    train = {p for s in da.ambient_specs("train") for p in s.sources}
    valid = {p for s in da.ambient_specs("valid") for p in s.sources}
    assert train == set(da.TRAIN_PACKAGES) and valid == set(da.VALID_PACKAGES)
    assert not train & valid  # validation hears recordings no training mixture holds
    assert not (train | valid) & set(da.RESERVED_PACKAGES)
    assert set(da.ambient_packages()) == train | valid
    names = [s.name for s in da.AMBIENT_NOISES]
    base = {s.name for s in noise_specs("train", "valid", "test")}
    assert len(set(names)) == len(names) and not set(names) & base
    assert {"wind", "rain", "crowd", "traffic", "machinery"} <= set(names)
    licences = package_licences()
    for spec in da.AMBIENT_NOISES:
        rec = _noise_record(spec, licences)
        assert all(f"{p}: " in rec["licence"] for p in spec.sources), rec
        assert rec["role"] == spec.role and rec["package"]


def test_known_copies_and_synthetic_loops_are_excluded() -> None:
    assert da._excluded("megaglest-data/usr/share/games/megaglest/tilesets/forest/sounds/"
                        "rain.ogg")
    assert da._excluded("0ad-data/x/public.zip!audio/ambient/weather/windstorm_11.ogg")
    assert da._excluded("redeclipse-data/usr/share/games/redeclipse/data/sounds/ambience/"
                        "alienwind.ogg")
    assert not da._excluded("redeclipse-data/usr/share/games/redeclipse/data/sounds/"
                            "ambience/wind.ogg")


def make_tree(root: Path) -> dict[str, Path]:
    """Two fake packages: loose files (one a byte copy, one a one-shot, one excluded) and
    a zip of members."""
    a = root / "pkg-a"
    (a / "snd").mkdir(parents=True)
    sf.write(a / "snd/long.wav", tone(70.0, 300.0), 22050)
    sf.write(a / "snd/short.wav", tone(4.0, 900.0, 44100, 0.02), 44100)
    (a / "snd/copy.wav").write_bytes((a / "snd/long.wav").read_bytes())
    sf.write(a / "snd/blip.wav", tone(0.4, 500.0), 22050)
    sf.write(a / "snd/windstorm_11.wav", tone(5.0, 100.0), 22050)
    b = root / "pkg-b"
    b.mkdir()
    sf.write(root / "member.ogg", tone(6.0, 1500.0, 48000), 48000)
    with zipfile.ZipFile(b / "data.zip", "w") as zf:
        zf.write(root / "member.ogg", "audio/ambient/member.ogg")
        zf.writestr("audio/ambient/notes.xml", "<x/>")
    return {"pkg-a": a, "pkg-b": b}


def test_recipe_levels_caps_and_joins_each_file_once(tmp_path: Path) -> None:
    roots = make_tree(tmp_path / "pkgs")
    spec = da._spec("test-category", "train", "fake", "pkg-a:snd/*.wav",
                    "pkg-b:data.zip!audio/ambient/*.ogg")
    assert spec.sources == ("pkg-a", "pkg-b")
    out = build_noises(tmp_path / "noise", roots, lambda: [], specs=[spec], version=1)
    x, sr = sf.read(out["test-category"], dtype="float32")
    assert sr == NOISE_RATE
    # long (capped at 45 s) + short (4 s) + member (6 s); the copy, the one-shot and the
    # excluded loop add nothing; cross-fades take a few ms
    assert abs(x.size / sr - (da.MAX_FILE_SECONDS + 4.0 + 6.0)) < 0.2
    # every part levelled alike: the quiet short file is as loud as the rest
    seg = int(da.MAX_FILE_SECONDS * sr)
    levels = [np.sqrt(np.mean(np.square(p))) for p in (x[:seg], x[seg + 800:seg + 3 * sr])]
    assert abs(20 * np.log10(levels[0] / levels[1])) < 1.0
    spec_names = json.loads((tmp_path / "noise" / "recipe.json").read_text())
    assert spec_names["version"] == 1


def test_recipe_with_nothing_usable_is_a_corpus_error(tmp_path: Path) -> None:
    roots = make_tree(tmp_path / "pkgs")
    spec = da._spec("empty", "train", "fake", "pkg-a:snd/blip.wav")
    with pytest.raises(CorpusError, match="no usable recordings"):
        build_noises(tmp_path / "noise", roots, lambda: [], specs=[spec], version=1)
