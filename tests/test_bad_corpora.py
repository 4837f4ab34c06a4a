"""Damaged caches and ambiguous or mismatched source folders: one clear line each."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from segan_cli.core.data.pipeline.cache import SplitCache, cache_paths
from segan_cli.core.data.sources.pairs import prepare_pairs
from segan_cli.errors import CorpusError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SPEAKERS = ("p1", "p2", "p3", "p4")


def _speech(n: int, seed: int) -> np.ndarray:
    t = np.arange(n) / 16000
    rng = np.random.default_rng(seed)
    return (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
            + 0.01 * rng.standard_normal(n)).astype(np.float32)


def _pair_folders(root: Path, n: int = 9000) -> tuple[Path, Path]:
    clean, noisy = root / "clean", root / "noisy"
    clean.mkdir(parents=True)
    noisy.mkdir(parents=True)
    for i, spk in enumerate(SPEAKERS):
        for j in range(2):
            x = _speech(n, 10 * i + j)
            sf.write(clean / f"{spk}_{j}.wav", x, 16000)
            noise = 0.05 * np.random.default_rng(i + j).standard_normal(n)
            sf.write(noisy / f"{spk}_{j}.wav", (x + noise).astype(np.float32), 16000)
    return clean, noisy


@pytest.fixture(scope="module")
def corpus_template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad_corpora")
    clean, noisy = _pair_folders(root / "src")
    prepare_pairs(clean, noisy, root / "corpus", test_speakers=["p4"])
    return root / "corpus"


@pytest.fixture
def corpus(corpus_template: Path, tmp_path: Path) -> Path:
    out = tmp_path / "corpus"
    shutil.copytree(corpus_template, out)
    return out


def _one_line(res) -> str:
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.output, res.output
    return lines[0]


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _damage(corpus: Path, how: str) -> Path:
    paths = cache_paths(corpus, "train")
    if how == "truncated clean":
        _truncate(paths["clean"])
        return paths["clean"]
    if how == "truncated noisy, header only":
        _truncate(paths["noisy"], 0.0)
        paths["noisy"].write_bytes(paths["clean"].read_bytes()[:128])
        return paths["noisy"]
    if how == "truncated bounds":
        _truncate(paths["bounds"], 0.9)
        return paths["bounds"]
    if how == "not an npy":
        paths["clean"].write_bytes(b"RIFF....WAVEfmt " * 40)
        return paths["clean"]
    if how == "shorter but whole":
        full = np.load(paths["noisy"])
        np.save(paths["noisy"], full[: full.size // 2])
        return paths["noisy"].parent
    if how == "bounds of another corpus":
        bounds = np.load(paths["bounds"])
        np.save(paths["bounds"], bounds[:-1])
        return paths["bounds"].parent
    raise AssertionError(how)


DAMAGES = ["truncated clean", "truncated noisy, header only", "truncated bounds",
           "not an npy", "shorter but whole", "bounds of another corpus"]


@pytest.mark.parametrize("how", DAMAGES)
def test_damaged_cache_stats_is_one_line(cli, corpus: Path, how: str) -> None:
    named = _damage(corpus, how)
    line = _one_line(cli("stats", corpus, code=2))
    assert "--force" in line and "segan prepare" in line
    assert str(named) in line or str(corpus) in line


@pytest.mark.parametrize("how", ["truncated clean", "bounds of another corpus"])
def test_damaged_cache_train_is_one_line(cli, corpus: Path, tmp_path: Path, how: str) -> None:
    _damage(corpus, how)
    res = cli("train", "--data", corpus, "--config", CONFIGS / "tiny.yaml", "--max-steps", "1",
              "--out", tmp_path / "run", "--set", "data.window=1024", "--set", "data.hop=512",
              code=2)
    line = _one_line(res)
    assert "--force" in line and "window cache" in line


def test_truncated_cache_never_maps_past_the_file(corpus: Path) -> None:
    _damage(corpus, "truncated clean")
    with pytest.raises(CorpusError, match="truncated: it holds"):
        SplitCache(corpus, "train", 1024, 512)


def _prepare(cli, clean: Path, noisy: Path, out: Path, code: int = 0):
    return cli("prepare", "pairs", "--clean", clean, "--noisy", noisy, "--out", out, code=code)


@pytest.mark.parametrize("layout", [
    ("p1_0.wav", "p1_0.flac"),                 # one name, two formats
    ("p1_0.wav", "p1_0.WAV"),                  # suffix case
    ("spk/p1_0.wav", "spk__p1_0.wav"),         # folder vs flattened id
    ("SPK/p1_0.wav", "spk__p1_0.flac"),        # the same up to letter case
    ("a/b/c.wav", "a__b/c.wav"),               # deeper folders
])
@pytest.mark.parametrize("side", ["clean", "noisy"])
def test_colliding_ids_are_refused_naming_both(cli, tmp_path: Path, layout: tuple[str, str],
                                               side: str) -> None:
    clean, noisy = _pair_folders(tmp_path, 4000)
    x = _speech(4000, 99)
    for rel in layout:
        for folder in (clean, noisy):
            # the other side gets a plain partner for each name, so only `side` collides
            name = rel if folder.name == side else rel.rsplit(".", 1)[0] + ".wav"
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                sf.write(path, x, 16000, format=path.suffix[1:].upper())
    res = _prepare(cli, clean, noisy, tmp_path / "out", code=2)
    line = _one_line(res)
    for rel in layout:
        assert rel.rsplit(".", 1)[0] in line
    assert not (tmp_path / "out" / "manifest.json").exists()


@pytest.mark.parametrize("noisy_rate,short_by", [(4000, 0), (4000, 1), (8000, 2), (48000, 3),
                                                 (22050, 1)])
def test_lengths_compared_after_resampling(cli, tmp_path: Path, noisy_rate: int,
                                           short_by: int) -> None:
    """Equal durations at different rates pass; `short_by` source samples is rounding."""
    clean, noisy = tmp_path / "c", tmp_path / "n"
    clean.mkdir()
    noisy.mkdir()
    for i, spk in enumerate(SPEAKERS):
        n = 114960 + 16 * i
        sf.write(clean / f"{spk}_0.wav", _speech(n, i), 16000)
        m = round(n * noisy_rate / 16000) - short_by
        t = np.arange(m) / noisy_rate
        sf.write(noisy / f"{spk}_0.wav", (0.2 * np.sin(2 * np.pi * 300 * t)).astype(np.float32),
                 noisy_rate)
    _prepare(cli, clean, noisy, tmp_path / "out")
    assert (tmp_path / "out" / "manifest.json").is_file()


@pytest.mark.parametrize("noisy_rate", [4000, 16000, 44100])
def test_real_length_mismatch_is_still_refused(cli, tmp_path: Path, noisy_rate: int) -> None:
    clean, noisy = tmp_path / "c", tmp_path / "n"
    clean.mkdir()
    noisy.mkdir()
    for i, spk in enumerate(SPEAKERS):
        sf.write(clean / f"{spk}_0.wav", _speech(16000, i), 16000)
        short = 160 if spk == "p2" else 0  # 10 ms
        m = round((16000 - short) * noisy_rate / 16000)
        sf.write(noisy / f"{spk}_0.wav", np.zeros(m, np.float32) + 0.01, noisy_rate)
    line = _one_line(_prepare(cli, clean, noisy, tmp_path / "out", code=2))
    assert "p2_0" in line and "lengths differ" in line and "p1_0" not in line


@pytest.mark.parametrize("shape", [
    {"splits": 5}, {"splits": []}, {"splits": {"train": 5}}, {"splits": {"train": [5]}},
    {"sample_rate": "fast"}, {"sample_rate": 0}, {"sample_rate": 10**9}, [], "manifest"])
def test_manifest_of_the_wrong_shape_is_one_line(cli, corpus: Path, shape) -> None:
    """A hand-edited manifest with the right keys but wrong JSON types: one line naming
    the file for `stats` and `train`, never an AttributeError."""
    import json

    path = corpus / "manifest.json"
    data = json.loads(path.read_text())
    data = {**data, **shape} if isinstance(shape, dict) else shape
    path.write_text(json.dumps(data))
    for args in (["stats", corpus], ["train", "--data", corpus, "--out", corpus / "run",
                                     "--config", CONFIGS / "tiny.yaml"]):
        line = _one_line(cli(*args, code=2))
        assert "manifest.json is malformed" in line


def test_stats_names_missing_audio_and_escaping_paths(cli, corpus: Path) -> None:
    import json

    gone = next((corpus / "train" / "clean").glob("*.wav"))
    gone.unlink()
    line = _one_line(cli("stats", corpus, code=2))
    assert "1 audio file(s) listed" in line and gone.name in line
    path = corpus / "manifest.json"
    data = json.loads(path.read_text())
    data["splits"]["train"][0]["noisy"] = "../../victim/rec.wav"
    path.write_text(json.dumps(data))
    line = _one_line(cli("stats", corpus, code=2))
    assert "points outside the corpus folder" in line
