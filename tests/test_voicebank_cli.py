"""`segan prepare voicebank` through the real CLI (local data and a local server only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from segan_cli.core.data.pipeline.manifest import load_manifest
from tests.test_download import serve


def _extracted(root: Path, sample: Path) -> Path:
    names = {"clean_trainset_28spk_wav": ("clean", ["p232_005", "p232_006", "p257_008"]),
             "noisy_trainset_28spk_wav": ("noisy", ["p232_005", "p232_006", "p257_008"]),
             "clean_testset_wav": ("clean", ["p232_003", "p257_003"]),
             "noisy_testset_wav": ("noisy", ["p232_003", "p257_003"])}
    rename = {"p232_005": "p226_001", "p232_006": "p286_001", "p257_008": "p287_001"}
    for folder, (kind, files) in names.items():
        (root / folder).mkdir(parents=True)
        for name in files:
            x, sr = sf.read(sample / kind / f"{name}.wav", dtype="float32")
            y = soxr.resample(x[:16000], sr, 48000)
            target = rename.get(name, name) if "train" in folder else name
            sf.write(root / folder / f"{target}.wav", np.clip(y, -1, 0.99), 48000)
    return root


def test_prepare_voicebank_from_extracted_folders(cli, tmp_path: Path, voicebank_sample) -> None:
    src = _extracted(tmp_path / "vbsrc", voicebank_sample)
    res = cli("prepare", "voicebank", "--from", src, "--out", tmp_path / "vb")
    assert "corpus ready" in res.stdout
    m = load_manifest(tmp_path / "vb")
    assert {u.speaker for u in m.splits["valid"]} == {"p286", "p287"}
    assert {u.speaker for u in m.splits["train"]} == {"p226"}
    assert len(m.splits["test"]) == 2
    assert sf.info(tmp_path / "vb" / m.splits["test"][0].clean).samplerate == 16000


def test_prepare_voicebank_needs_a_source(cli, tmp_path: Path) -> None:
    res = cli("prepare", "voicebank", "--out", tmp_path / "vb", code=2)
    assert "--download" in res.stderr and "--from" in res.stderr


def test_download_with_wrong_bytes_is_a_clear_error(cli, tmp_path: Path, monkeypatch) -> None:
    # the local server serves junk under the real names: the md5 check must catch it
    junk = {name: b"not the real zip" * 64 for name in (
        "clean_testset_wav.zip", "clean_trainset_28spk_wav.zip", "noisy_testset_wav.zip",
        "noisy_trainset_28spk_wav.zip")}
    with serve(junk) as srv:
        monkeypatch.setenv("SEGAN_VOICEBANK_URL", f"{srv.base}/bitstream/handle/10283/2791")
        res = cli("prepare", "voicebank", "--download", "--out", tmp_path / "vb", code=2)
    assert "md5" in res.stderr and "Traceback" not in res.output
    assert not list((tmp_path / "vb").rglob("*.zip"))
