"""``prepare voicebank``: VoiceBank-DEMAND from DataShare zips or extracted folders.

Published SEGAN numbers are on this corpus, and other toolkits fail to reproduce
them when the 48 -> 16 kHz path differs, so the manifest records the source
checksums and the resampler. Every step resumes: downloads continue their
``.part``, each zip is extracted into a temporary folder renamed only when
complete, and the corpus writer skips utterances already written.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segan_cli.core.data.pipeline.corpus import CorpusBuilder
from segan_cli.core.data.pipeline.manifest import MANIFEST_NAME, Manifest
from segan_cli.core.data.sources.download import download as fetch
from segan_cli.core.data.sources.download import file_md5, part_path
from segan_cli.core.data.sources.pairs import (
    add_pairs,
    finish_corpus,
    match_pairs,
    resampler_record,
    split_by_speaker,
)
from segan_cli.core.io.audio import audio_info
from segan_cli.core.runtime.progress import Progress, SilentProgress
from segan_cli.errors import CorpusError
from segan_cli.settings import DataSettings

DATASHARE_URL = "https://datashare.ed.ac.uk/bitstream/handle/10283/2791"
URL_ENV = "SEGAN_VOICEBANK_URL"
DOI = "10.7488/ds/2117"
LICENCE = "CC-BY 4.0"
CORPUS_NAME = "voicebank-demand"
STAMP = ".segan-source.json"
NOT_VERIFIABLE = "extracted folder, md5 not verifiable"


@dataclass(frozen=True)
class VoiceBankFile:
    """One DataShare zip: its name, bitstream sequence, size in bytes (if known), md5."""

    name: str
    seq: int
    size: int | None
    md5: str

    @property
    def stem(self) -> str:
        """The folder the zip extracts to (``clean_testset_wav``)."""
        return self.name.removesuffix(".zip")


# DESIGN.md section 4; the test zips' exact byte sizes are not published (147.1 and
# 162.6 MiB), so their progress total comes from the server's Content-Length.
VOICEBANK_FILES: tuple[VoiceBankFile, ...] = (
    VoiceBankFile("clean_testset_wav.zip", 1, None, "34eb1c0ba7ef667e9b966866c542fc16"),
    VoiceBankFile("clean_trainset_28spk_wav.zip", 2, 2_486_057_279,
                  "d2d5a45ec32f8fcbf201bde0447e20ba"),
    VoiceBankFile("noisy_testset_wav.zip", 5, None, "fb1b86caa31e8ba5b506c0c64da9aab5"),
    VoiceBankFile("noisy_trainset_28spk_wav.zip", 6, 2_830_205_201,
                  "1fca9e8bafb8cd069f6653c6d92f9e9c"),
)
CLEAN_TRAIN = "clean_trainset_28spk_wav"
NOISY_TRAIN = "noisy_trainset_28spk_wav"
CLEAN_TEST = "clean_testset_wav"
NOISY_TEST = "noisy_testset_wav"
ROLES = (CLEAN_TRAIN, NOISY_TRAIN, CLEAN_TEST, NOISY_TEST)


def voicebank_url(file: VoiceBankFile, base_url: str | None = None) -> str:
    """DataShare address of ``file``; ``base_url`` or $SEGAN_VOICEBANK_URL override the host."""
    base = (base_url or os.environ.get(URL_ENV) or DATASHARE_URL).rstrip("/")
    return f"{base}/{file.name}?sequence={file.seq}&isAllowed=y"


def prepare_voicebank(
    out: Path, *, download: bool = False, from_path: Path | None = None,
    cache_dir: Path | None = None, data: DataSettings, force: bool = False,
    progress: Progress | None = None, base_url: str | None = None,
    files: Sequence[VoiceBankFile] = VOICEBANK_FILES,
) -> Manifest:
    """Build the VoiceBank-DEMAND corpus in ``out`` (train/valid by speaker, test)."""
    out = Path(out)
    progress = progress or SilentProgress()
    table = {f.stem: f for f in files}
    if set(table) != set(ROLES):
        raise ValueError(f"files must be exactly {', '.join(r + '.zip' for r in ROLES)}")
    if from_path is not None and not Path(from_path).is_dir():
        raise CorpusError(f"--from folder not found: {from_path}",
                          "give the folder holding the VoiceBank-DEMAND zips or their "
                          "extracted folders")
    if not force and (out / MANIFEST_NAME).is_file():
        CorpusBuilder(out, CORPUS_NAME, data.sample_rate)  # raises CorpusExistsError
    cache = Path(cache_dir) if cache_dir is not None else out / "downloads"
    sources = out / "sources"
    plans = {stem: _plan(table[stem], sources, from_path, cache, download) for stem in ROLES}
    missing = [table[s] for s, plan in plans.items() if plan is None]
    if missing:  # checked before --force clears anything
        raise _missing_error(missing, from_path, cache)
    builder = CorpusBuilder(out, CORPUS_NAME, data.sample_rate, force)

    dirs: dict[str, Path] = {}
    records: list[dict[str, Any]] = []
    for stem in ROLES:
        folder, record = _materialise(table[stem], plans[stem], sources, cache, base_url,
                                      progress)
        dirs[stem] = folder
        records.append(record)

    train = match_pairs(dirs[CLEAN_TRAIN], dirs[NOISY_TRAIN])
    splits = split_by_speaker(train, data.valid_speakers)
    splits["test"] = match_pairs(dirs[CLEAN_TEST], dirs[NOISY_TEST])
    if builder.resumed:
        progress.note(f"resuming: {builder.resumed} utterances already prepared")
    for split, items in splits.items():
        add_pairs(builder, split, items, data.resample_quality, progress)
    source = {
        "kind": "voicebank",
        "title": "VoiceBank-DEMAND (Valentini-Botinhao et al. 2017), 28 speakers",
        "doi": DOI,
        "url": f"https://doi.org/{DOI}",
        "licence": LICENCE,
        "files": records,
        "source_sample_rate": audio_info(train[0].clean).sample_rate,
        "valid_speakers": sorted({p.speaker for p in splits["valid"]}),
        "resampler": resampler_record(data.resample_quality),
    }
    return finish_corpus(builder, source, progress)


# A plan says where one of the four pieces comes from: ("extracted", folder),
# ("folder", folder), ("zip", path) or ("download", None); None means missing.
_Plan = tuple[str, Path | None]


def _plan(f: VoiceBankFile, sources: Path, from_path: Path | None, cache: Path,
          download: bool) -> _Plan | None:
    """Where ``f`` comes from, without doing any work yet (so all gaps are reported at once)."""
    done = sources / f.stem
    if (done / STAMP).is_file() and wav_dir(done, f.stem):
        return ("extracted", done)
    if from_path is not None:
        from_path = Path(from_path)
        for cand in [from_path / f.stem, *sorted(from_path.glob(f"*/{f.stem}"))]:
            if (found := wav_dir(cand, f.stem)) is not None:
                return ("folder", found)
        if (from_path / f.name).is_file():
            return ("zip", from_path / f.name)
    if download:
        return ("download", None)
    if (cache / f.name).is_file():
        return ("zip", cache / f.name)
    return None


def _missing_error(missing: list[VoiceBankFile], from_path: Path | None,
                   cache: Path) -> CorpusError:
    names = ", ".join(f"{f.name} (or its extracted folder {f.stem}/)" for f in missing)
    where = [str(p) for p in (from_path, cache) if p is not None]
    partial = [f.name for f in missing if part_path(cache / f.name).is_file()]
    resume = f"; partial downloads of {', '.join(partial)} resume" if partial else ""
    return CorpusError(
        f"VoiceBank-DEMAND files missing: {names}; looked in {' and '.join(where)}",
        f"pass --download to fetch them from DataShare (doi:{DOI}, ~5.6 GB{resume}), "
        "or --from DIR with the zips or their extracted folders")


def _materialise(f: VoiceBankFile, plan: _Plan, sources: Path, cache: Path,
                 base_url: str | None, progress: Progress) -> tuple[Path, dict[str, Any]]:
    """Download/verify/extract as planned; return the wav folder and its manifest record."""
    kind, path = plan
    if kind == "extracted":
        assert path is not None
        record = json.loads((path / STAMP).read_text(encoding="utf-8"))
        return _wav_dir_or_fail(path, f), record
    if kind == "folder":
        assert path is not None
        return path, {"name": f"{f.stem}/", "md5": NOT_VERIFIABLE, "verified": False,
                      "origin": str(path)}
    if kind == "download":
        path = fetch(voicebank_url(f, base_url), cache / f.name, f.md5, f.size, progress)
        record = {"name": f.name, "md5": f.md5, "verified": True, "origin": "download"}
    else:
        assert path is not None
        progress.start(f"checking {f.name}", path.stat().st_size)
        md5 = file_md5(path, progress)
        if md5 != f.md5:
            raise CorpusError(
                f"{path}: md5 is {md5}, expected {f.md5} (an incomplete or different file)",
                "delete it and pass --download, or pass --from with its extracted folder")
        record = {"name": f.name, "md5": md5, "verified": True, "origin": str(path)}
    folder = extract_zip(path, sources / f.stem, record, progress)
    return _wav_dir_or_fail(folder, f), record


def _wav_dir_or_fail(folder: Path, f: VoiceBankFile) -> Path:
    found = wav_dir(folder, f.stem)
    if found is None:
        raise CorpusError(f"{f.name} holds no wav files (extracted to {folder})",
                          "check that it is the DataShare file, or run again with --force")
    return found


def wav_dir(folder: Path, stem: str) -> Path | None:
    """The folder holding the wavs: ``folder`` itself, or one level deeper as zips extract."""
    if not folder.is_dir():
        return None
    subdirs = sorted(p for p in folder.iterdir()
                     if p.is_dir() and not p.name.startswith((".", "__MACOSX")))
    subdirs.sort(key=lambda p: p.name != stem)  # the zip's own folder name first
    for cand in (folder, *subdirs):
        if any(p.suffix.lower() == ".wav" and not p.name.startswith(".")
               for p in cand.iterdir()):
            return cand
    return None


def extract_zip(zip_path: Path, dest: Path, record: dict[str, Any],
                progress: Progress | None = None) -> Path:
    """Extract ``zip_path`` to ``dest`` via a temporary folder renamed when complete.

    ``record`` (name, md5, origin) is stamped inside, so a re-run reuses the folder
    without the zip; an interrupted extraction is discarded and redone.
    """
    progress = progress or SilentProgress()
    dest = Path(dest)
    if (dest / STAMP).is_file():
        return dest
    shutil.rmtree(dest, ignore_errors=True)  # only ever ours: not stamped, so incomplete
    tmp = dest.with_name(f".{dest.name}.extracting")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with zipfile.ZipFile(zip_path) as zf:
            members = [m for m in zf.infolist()
                       if not m.is_dir() and not m.filename.startswith("__MACOSX/")]
            progress.start(f"extracting {Path(zip_path).name}",
                           sum(m.file_size for m in members))
            for m in members:
                zf.extract(m, tmp)  # streamed in chunks; names are sanitised
                progress.advance(m.file_size)
    except (zipfile.BadZipFile, EOFError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CorpusError(f"{zip_path} is not a valid zip ({exc})",
                          "delete it and run again with --download") from exc
    except OSError as exc:
        raise CorpusError(f"extracting {zip_path} failed: {exc}",
                          "check free disk space; the extraction restarts on the next run"
                          ) from exc
    (tmp / STAMP).write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, dest)
    return dest
