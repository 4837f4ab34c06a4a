"""``prepare_voicebank`` on small VoiceBank-shaped zips of real audio, served on 127.0.0.1.

The zips mimic the DataShare layout: 48 kHz wavs (upsampled with soxr from the
16 kHz reference sample) inside a folder named like the zip. Training speakers
p286/p287 exercise the validation split.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from segan_cli.core.data.pipeline.corpus import CorpusExistsError
from segan_cli.core.data.pipeline.manifest import load_manifest
from segan_cli.core.data.sources import download as dl
from segan_cli.core.data.sources.voicebank import (
    DATASHARE_URL,
    NOT_VERIFIABLE,
    URL_ENV,
    VOICEBANK_FILES,
    VoiceBankFile,
    prepare_voicebank,
    voicebank_url,
)
from segan_cli.errors import CorpusError, DownloadError
from segan_cli.settings import DataSettings
from tests.test_download import FileServer, serve

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "voicebank-sample"
SECONDS = 2.5  # of each reference file, to keep the zips small
# zip-internal name -> reference file it is made from
TRAIN = {"p226_001": "p232_005", "p226_002": "p232_006", "p227_001": "p257_008",
         "p286_001": "p232_011", "p286_002": "p257_011", "p287_001": "p232_014"}
TEST = {"p232_003": "p232_003", "p257_003": "p257_003"}
SEQ = {"clean_testset_wav": 1, "clean_trainset_28spk_wav": 2, "noisy_testset_wav": 5,
       "noisy_trainset_28spk_wav": 6}


@pytest.fixture(autouse=True)
def _no_retry_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dl, "RETRY_DELAY", 0.0)


@pytest.fixture(scope="module")
def zips(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, bytes], tuple]:
    """The four zips (name -> bytes) and a file table with their md5s and sizes."""
    if not SAMPLE.is_dir():
        pytest.skip(f"reference audio not found at {SAMPLE} (../shared/data is not beside "
                    "this checkout)")
    root = tmp_path_factory.mktemp("zips")
    blobs: dict[str, bytes] = {}
    for stem, kind, names in (("clean_trainset_28spk_wav", "clean", TRAIN),
                              ("noisy_trainset_28spk_wav", "noisy", TRAIN),
                              ("clean_testset_wav", "clean", TEST),
                              ("noisy_testset_wav", "noisy", TEST)):
        path = root / f"{stem}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
            for name, ref in names.items():
                x, sr = sf.read(SAMPLE / kind / f"{ref}.wav", dtype="float32")
                y = soxr.resample(x[: int(SECONDS * sr)], sr, 48000, "VHQ")
                wav = root / f"{stem}-{name}.wav"
                sf.write(wav, np.clip(y, -1, 32767 / 32768), 48000, subtype="PCM_16")
                zf.write(wav, f"{stem}/{name}.wav")
            zf.writestr(f"__MACOSX/{stem}/._{name}.wav", b"resource fork, not audio")
        blobs[path.name] = path.read_bytes()
    table = tuple(VoiceBankFile(n, SEQ[n.removesuffix(".zip")], len(b),
                                hashlib.md5(b).hexdigest()) for n, b in sorted(blobs.items()))
    return blobs, table


@pytest.fixture
def server(zips: tuple[dict[str, bytes], tuple]) -> Iterator[FileServer]:
    with serve(zips[0]) as srv:
        yield srv


def base(srv: FileServer) -> str:
    return f"{srv.base}/bitstream/handle/10283/2791"


def check_corpus(out: Path) -> dict:
    """The splits, rates and lengths every prepared VoiceBank corpus must have."""
    m = load_manifest(out)
    assert m.name == "voicebank-demand" and m.sample_rate == 16000
    speakers = {s: sorted({u.speaker for u in utts}) for s, utts in m.splits.items()}
    assert speakers == {"train": ["p226", "p227"], "valid": ["p286", "p287"],
                        "test": ["p232", "p257"]}
    assert sorted(u.id for u in m.splits["test"]) == ["p232_003", "p257_003"]
    for utts in m.splits.values():
        for u in utts:
            for rel in (u.clean, u.noisy):
                info = sf.info(out / rel)
                assert info.samplerate == 16000 and info.channels == 1
                assert abs(info.frames - SECONDS * 16000) <= 1
    assert (out / "cache" / "train.clean.npy").is_file()
    src = m.source
    assert src["kind"] == "voicebank" and src["doi"] == "10.7488/ds/2117"
    assert src["licence"] == "CC-BY 4.0" and src["source_sample_rate"] == 48000
    assert src["resampler"]["library"] == "soxr" and src["resampler"]["quality"] == "VHQ"
    return src


def test_download_end_to_end(server: FileServer, zips: tuple, tmp_path: Path) -> None:
    blobs, table = zips
    server.drops, server.drop_after = 1, 50_000  # the first transfer breaks and resumes
    out = tmp_path / "vb"
    prepare_voicebank(out, download=True, data=DataSettings(), base_url=base(server),
                      files=table)
    src = check_corpus(out)
    assert {f["name"]: f["md5"] for f in src["files"]} == {f.name: f.md5 for f in table}
    assert all(f["verified"] for f in src["files"])
    paths = sorted(p for p, _ in server.requests)
    assert paths[0].startswith("/bitstream/handle/10283/2791/clean_testset_wav.zip?")
    assert all(f"{f.name}?sequence={f.seq}&isAllowed=y" in " ".join(paths) for f in table)
    assert any(r is not None for _, r in server.requests)  # the resumed request
    for f in table:
        assert hashlib.md5((out / "downloads" / f.name).read_bytes()).hexdigest() == f.md5
    assert not list((out / "downloads").glob("*.part"))
    assert not list((out / "sources").glob(".*"))  # no extraction left half-done

    with pytest.raises(CorpusExistsError):  # finished: not rebuilt without --force
        prepare_voicebank(out, download=True, data=DataSettings(), base_url=base(server),
                          files=table)
    n = len(server.requests)
    prepare_voicebank(out, download=True, data=DataSettings(), base_url=base(server),
                      files=table, force=True)
    assert len(server.requests) == n  # sources are reused, nothing is fetched again
    check_corpus(out)


def test_interrupted_prepare_resumes(server: FileServer, zips: tuple, tmp_path: Path) -> None:
    _, table = zips
    out = tmp_path / "vb"
    server.corrupt = True
    with pytest.raises(DownloadError, match="corrupted"):
        prepare_voicebank(out, download=True, data=DataSettings(), base_url=base(server),
                          files=table)
    assert not list((out / "downloads").glob("*.zip*"))
    # an extraction cut short by an earlier crash is discarded and redone
    stale = out / "sources" / ".clean_testset_wav.extracting"
    stale.mkdir(parents=True)
    (stale / "junk.wav").write_bytes(b"half")
    server.corrupt = False
    prepare_voicebank(out, download=True, data=DataSettings(), base_url=base(server),
                      files=table)
    check_corpus(out)
    assert not stale.exists()


def test_from_extracted_folders_and_zips(zips: tuple, tmp_path: Path) -> None:
    blobs, table = zips
    src_dir = tmp_path / "from"
    src_dir.mkdir()
    for name, data in blobs.items():
        stem = name.removesuffix(".zip")
        (tmp_path / name).write_bytes(data)
        with zipfile.ZipFile(tmp_path / name) as zf:
            if stem.startswith("clean_train"):  # given as the zip itself
                (src_dir / name).write_bytes(data)
            elif stem.startswith("noisy_train"):  # nested, as `unzip` in its own folder
                zf.extractall(src_dir / stem)
            else:  # extracted beside the others
                zf.extractall(src_dir)
    out = tmp_path / "vb"
    prepare_voicebank(out, from_path=src_dir, data=DataSettings(),
                      base_url="http://127.0.0.1:9/never-used", files=table)
    src = check_corpus(out)
    md5s = {f["name"]: f["md5"] for f in src["files"]}
    assert md5s == {"clean_trainset_28spk_wav.zip": table[1].md5,
                    "noisy_trainset_28spk_wav/": NOT_VERIFIABLE,
                    "clean_testset_wav/": NOT_VERIFIABLE,
                    "noisy_testset_wav/": NOT_VERIFIABLE}
    assert (out / "sources" / "clean_trainset_28spk_wav").is_dir()
    assert not (out / "downloads").exists()


def test_missing_pieces_are_named(zips: tuple, tmp_path: Path) -> None:
    blobs, table = zips
    src_dir = tmp_path / "from"
    src_dir.mkdir()
    (src_dir / "clean_testset_wav.zip").write_bytes(blobs["clean_testset_wav.zip"])
    with zipfile.ZipFile(src_dir / "clean_testset_wav.zip") as zf:
        zf.extractall(src_dir)  # both forms of one piece; three are missing
    partial = tmp_path / "vb" / "downloads" / "noisy_testset_wav.zip.part"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"first bytes")
    with pytest.raises(CorpusError) as err:
        prepare_voicebank(tmp_path / "vb", from_path=src_dir, data=DataSettings(),
                          files=table)
    text = str(err.value)
    for f in table[1:]:
        assert f.name in text
    assert "clean_testset_wav.zip" not in text
    assert "--download" in text and "--from" in text
    assert "partial downloads of noisy_testset_wav.zip resume" in text


def test_wrong_zip_is_refused(zips: tuple, tmp_path: Path) -> None:
    blobs, table = zips
    src_dir = tmp_path / "from"
    src_dir.mkdir()
    for name, data in blobs.items():
        (src_dir / name).write_bytes(data[:-10] if name.startswith("noisy_test") else data)
    with pytest.raises(CorpusError, match="noisy_testset_wav.zip: md5 is"):
        prepare_voicebank(tmp_path / "vb", from_path=src_dir, data=DataSettings(),
                          files=table)


def test_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    f = VOICEBANK_FILES[1]
    assert voicebank_url(f) == (f"{DATASHARE_URL}/clean_trainset_28spk_wav.zip"
                                "?sequence=2&isAllowed=y")
    monkeypatch.setenv(URL_ENV, "http://127.0.0.1:1/mirror/")
    assert voicebank_url(f).startswith("http://127.0.0.1:1/mirror/clean_trainset")
    assert voicebank_url(f, "http://x/y").startswith("http://x/y/clean_trainset")
    assert {g.name for g in VOICEBANK_FILES} == {
        "clean_trainset_28spk_wav.zip", "noisy_trainset_28spk_wav.zip",
        "clean_testset_wav.zip", "noisy_testset_wav.zip"}
    assert all(len(g.md5) == 32 for g in VOICEBANK_FILES)
