"""`segan evaluate --report DIR` through the real CLI on real VoiceBank-DEMAND audio.

The page is read back as a user's browser would get it: every file it references
exists, its numbers are the ``--json``/``--csv`` numbers, its audio decodes and its
images are real pictures; bad requests end in one line and leave nothing behind.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import struct
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from segan_cli.core.evaluation.plans import TABLE_COLUMNS


class Page(HTMLParser):
    """The parts of index.html the tests look at."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.cells: list[dict[str, str]] = []  # summary and difference cells
        self.rows: list[list[tuple[dict[str, str], str]]] = []  # per-file table
        self.files: list[str] = []  # listening files, in page order
        self._cell: dict[str, str] | None = None
        self._text = ""
        self._table = ""
        self._section = False
        self._h3 = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {k: v or "" for k, v in attrs}
        if "src" in a or ("href" in a and tag != "a"):
            self.refs.append(a.get("src") or a["href"])
        if tag == "table":
            self._table = a.get("id", "")
        if tag == "tr" and self._table == "files":
            self.rows.append([])
        if tag == "td":
            self._cell, self._text = a, ""
        if tag == "section":
            self._section = a.get("class") == "file"
        if tag == "h3" and self._section:
            self._h3, self._text = True, ""

    def handle_data(self, data: str) -> None:
        if self._cell is not None or self._h3:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            if "data-kind" in self._cell:
                self.cells.append({**self._cell, "text": self._text.strip()})
            if self._table == "files" and self.rows:
                self.rows[-1].append((self._cell, self._text.strip()))
            self._cell = None
        if tag == "table":
            self._table = ""
        if tag == "h3" and self._h3:
            self.files.append(self._text.split()[0])
            self._h3 = False

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.handle_starttag(tag, attrs)


def _page(folder: Path) -> tuple[str, Page]:
    text = (folder / "index.html").read_text(encoding="utf-8")
    return text, Page(text)


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


def _fmt(v: float, signed: bool = False) -> str:
    return f"{v:+.2f}" if signed else f"{v:.2f}"


def _check_folder(folder: Path) -> tuple[str, Page]:
    """Self-contained: every reference is a local file that exists; real images/audio."""
    text, page = _page(folder)
    assert 'content="segan report"' in text
    assert "http://" not in text and "https://" not in text and "//cdn" not in text
    assert page.refs
    for ref in page.refs:
        assert not ref.startswith(("/", "data:")) and ".." not in ref, ref
        assert (folder / ref).is_file(), ref
    for png in (folder / "img").iterdir():
        width, height = _png_size(png)
        assert width > 100 and height > 100 and png.stat().st_size > 5000, png
    for wav in (folder / "audio").iterdir():
        x, sr = sf.read(wav)
        assert sf.info(wav).subtype == "PCM_16" and sr == 16000
        assert x.ndim == 1 and x.size > sr and np.abs(x).max() > 0.01, wav
    assert not [p for p in folder.parent.iterdir() if ".segan-" in p.name]  # no temporaries
    return text, page


def _per_file(csv_path: Path) -> dict[tuple[str, str], dict[str, float]]:
    return {(r["system"], r["file"]): {k: float(v) for k, v in r.items()
                                      if k not in ("system", "file", "error", "note")}
            for r in csv.DictReader(open(csv_path)) if not r["error"]}


@pytest.fixture
def voicebank_corpus(sample_corpus: Path, tmp_path: Path) -> Path:
    """The sample corpus under VoiceBank-DEMAND's name (the paper's rows then show);
    its audio folders are links to the session's corpus, nothing is copied."""
    vb = tmp_path / "vb"
    vb.mkdir()
    for entry in sample_corpus.iterdir():
        if entry.name not in ("manifest.json", "cache"):
            (vb / entry.name).symlink_to(entry)
    manifest = json.loads((sample_corpus / "manifest.json").read_text())
    manifest["name"] = "voicebank-demand"
    (vb / "manifest.json").write_text(json.dumps(manifest))
    return vb


def test_corpus_report_matches_json_and_csv(cli, voicebank_corpus: Path, tiny_ckpt: Path,
                                            tmp_path: Path, one_torch_thread) -> None:
    out = tmp_path / "report"
    res = cli("evaluate", "--data", voicebank_corpus, "--ckpt", tiny_ckpt, "--workers", "1",
              "--json", tmp_path / "s.json", "--csv", tmp_path / "f.csv", "--report", out)
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("report written"))
    assert str(out) in line and ("MB" in line or "kB" in line) and "12 audio files" in line
    text, page = _check_folder(out)
    summary = json.loads((tmp_path / "s.json").read_text())["systems"]
    labels = list(summary)
    assert labels[:2] == ["Noisy", "Wiener"] and len(labels) == 3

    # the summary: every mean and interval is the JSON's, exactly and as printed
    means = [c for c in page.cells if c["data-kind"] == "mean"]
    assert len(means) == 3 * len(TABLE_COLUMNS)
    for cell in means:
        stat = summary[cell["data-system"]]["metrics"][cell["data-metric"]]
        assert float(cell["data-mean"]) == stat["mean"]
        assert [float(cell["data-ci-low"]), float(cell["data-ci-high"])] == stat["ci95"]
        lo, hi = stat["ci95"]
        assert cell["text"] == f"{_fmt(stat['mean'])} [{_fmt(lo)}, {_fmt(hi)}]"
    # the paper's VoiceBank rows beneath, as in the terminal table
    assert "SEGAN (paper)" in text and ">1.97<" in text

    # differences to Noisy: paired per file, as the CSV's per-file values give them
    values = _per_file(tmp_path / "f.csv")
    diffs = [c for c in page.cells if c["data-kind"] == "difference"]
    assert {c["data-system"] for c in diffs} == set(labels[1:])
    assert len(diffs) == 2 * len(TABLE_COLUMNS)
    for cell in diffs:
        d = [values[(cell["data-system"], f)][cell["data-metric"]] - noisy[cell["data-metric"]]
             for (s, f), noisy in values.items() if s == "Noisy"]
        assert float(cell["data-mean"]) == pytest.approx(np.mean(d), abs=1e-5)
        assert cell["text"].startswith(_fmt(float(cell["data-mean"]), signed=True))

    # the per-file table: every scored (file, system) with the CSV's values
    rows = [r for r in page.rows if r]
    assert len(rows) == len(values) == 33
    for row in rows:
        (_, name), (_, system), *cells = row
        for (attrs, shown), metric in zip(cells, TABLE_COLUMNS, strict=False):
            exact = values[(system, name)][metric]
            assert float(attrs["data-v"]) == pytest.approx(exact, abs=1e-6)
            assert shown == _fmt(float(attrs["data-v"]))
    assert "table.sortable" in text and "<script>" in text

    # listening: best, median and worst by PESQ gain of the model row, in that order
    model = labels[2]
    gain = {f: values[(model, f)]["pesq"] - values[("Noisy", f)]["pesq"]
            for s, f in values if s == "Noisy"}
    ranked = sorted(gain, key=lambda f: (-gain[f], f))
    assert page.files == [ranked[0], ranked[len(ranked) // 2], ranked[-1]]
    # each file: noisy, Wiener, the model and clean; the clean track is the corpus file
    wavs = sorted((out / "audio").iterdir())
    assert len(wavs) == 12 and len(list((out / "img").glob("spec_*.png"))) == 12
    clean_wav = next(w for w in wavs if w.name.startswith("00_3_"))
    ref, _ = sf.read(voicebank_corpus / "test" / "clean" / f"{ranked[0]}.wav")
    got, _ = sf.read(clean_wav)
    assert got.shape == ref.shape and np.abs(got - ref).max() < 1.0 / 32768 + 1e-6
    # the model's audio is what was scored: its PESQ is the page's (up to 16-bit rounding)
    from segan_cli.core.metrics import pesq_score

    model_wav = next(w for w in wavs if w.name.startswith("02_2_"))
    worst = ranked[-1]
    scored = pesq_score(sf.read(voicebank_corpus / "test" / "clean" / f"{worst}.wav")[0],
                        sf.read(model_wav)[0], 16000)
    assert scored == pytest.approx(values[(model, worst)]["pesq"], abs=0.05)
    for name in ("dist_pesq.png", "dist_si_sdr.png", "pesq_gain.png"):
        assert (out / "img" / name).is_file()


def _folder(tmp: Path, sample: Path, name: str, mix: float) -> Path:
    """Four real files: the noisy input moved ``mix`` of the way to the clean one."""
    out = tmp / name
    out.mkdir()
    for stem in ("p232_005", "p232_006", "p232_011", "p257_008"):
        x, sr = sf.read(sample / "noisy" / f"{stem}.wav")
        c, _ = sf.read(sample / "clean" / f"{stem}.wav")
        sf.write(out / f"{stem}.wav", (1 - mix) * x + mix * c, sr)
    return out


def test_folder_report_named_files_and_overwrite(cli, voicebank_sample: Path,
                                                  tmp_path: Path) -> None:
    noisy = _folder(tmp_path, voicebank_sample, "noisy", 0.0)
    half = _folder(tmp_path, voicebank_sample, "half", 0.5)
    out = tmp_path / "report"
    args = ["evaluate", "--clean", voicebank_sample / "clean", "--enhanced", noisy,
            "--name", "Noisy", "--enhanced", half, "--name", "half", "--workers", "1",
            "--json", tmp_path / "s.json", "--report", out]
    cli(*args, "--report-files", "p257_008.wav,p232_006")
    text, page = _check_folder(out)
    assert page.files == ["p257_008", "p232_006"]
    summary = json.loads((tmp_path / "s.json").read_text())["systems"]
    for cell in (c for c in page.cells if c["data-kind"] == "mean"):
        assert float(cell["data-mean"]) == summary[cell["data-system"]]["metrics"][
            cell["data-metric"]]["mean"]
    assert "(paper)" not in text and (out / "img" / "pesq_gain.png").is_file()
    # noisy, half and clean of two files
    assert len(list((out / "audio").iterdir())) == 6

    # an existing report is replaced whole with --overwrite, and only then
    (tmp_path / "s.json").unlink()
    res = cli(*args, code=2)
    assert res.stderr.count("error:") == 1 and "not empty" in res.stderr
    assert "--overwrite" in res.stderr
    cli(*args, "--report-files", "1", "--overwrite")
    _, page = _check_folder(out)
    assert len(page.files) == 1 and len(list((out / "audio").iterdir())) == 3


def test_bad_report_requests_write_nothing(cli, voicebank_sample: Path,
                                           tmp_path: Path) -> None:
    enh = tmp_path / "enh"
    enh.mkdir()
    shutil.copy(voicebank_sample / "noisy" / "p232_005.wav", enh)
    base = ["evaluate", "--clean", voicebank_sample / "clean", "--enhanced", enh,
            "--workers", "1"]

    def one_line(res) -> str:
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert "Traceback" not in res.stderr and len(lines) == 1, res.stderr
        assert lines[0].startswith("error:")
        return lines[0]

    # an unwritable place: a path through a file (and, not as root, a read-only folder)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    line = one_line(cli(*base, "--report", blocker / "report", code=2))
    assert "blocker" in line and "not a folder" in line
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            line = one_line(cli(*base, "--report", locked / "report", code=2))
            assert "permission denied" in line
            assert list(locked.iterdir()) == []
        finally:
            locked.chmod(0o700)

    # an existing non-empty folder that is not a report: kept, with or without --overwrite
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "take1.wav").write_bytes(b"precious")
    line = one_line(cli(*base, "--report", mine, code=2))
    assert "not empty" in line and "--overwrite" in line
    line = one_line(cli(*base, "--report", mine, "--overwrite", code=2))
    assert "not a segan report" in line
    assert [p.name for p in mine.iterdir()] == ["take1.wav"]
    # the report folder may not hold an input
    line = one_line(cli(*base, "--report", tmp_path, "--overwrite", code=2))
    assert "holds the input" in line

    # nothing scored (silence everywhere): one error line, no report folder
    sf.write(enh / "p232_005.wav", np.zeros(32000), 16000)
    res = cli(*base, "--report", tmp_path / "none", code=2)
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "no report was written" in errors[0]
    assert not (tmp_path / "none").exists()
    assert not [p for p in tmp_path.iterdir() if ".segan-" in p.name]
    # names that are not in the evaluation are refused before any scoring
    res = cli(*base, "--report", tmp_path / "r", "--report-files", "nope", code=2)
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "nope" in errors[0] and "scoring" not in res.stderr
    assert not (tmp_path / "r").exists()


def test_only_the_listening_files_are_kept(voicebank_sample: Path) -> None:
    """Rows keep just the enhanced signals they are asked for; another is made again."""
    from segan_cli.core.evaluation.plans import (
        System,
        enhanced_output,
        enhanced_system,
        score_systems,
    )

    names = ("p232_005", "p232_006", "p257_008")
    items = [(n, voicebank_sample / "clean" / f"{n}.wav", voicebank_sample / "noisy" /
              f"{n}.wav") for n in names]
    calls: list[int] = []

    def halve(x: np.ndarray, sr: int) -> np.ndarray:
        calls.append(x.size)
        return 0.5 * x

    noisy = System("Noisy", list(items))
    row = enhanced_system("half", items, 16000, halve)
    asked = []

    def keep(system: System) -> set[str]:
        asked.append((system.label, noisy.result is not None))
        return {"p232_006"}

    score_systems([noisy, row], 1, "default", keep=keep)
    assert asked == [("half", True)]  # asked as the row starts, after Noisy was scored
    assert list(row.kept) == ["p232_006"] and len(calls) == 3
    x, _ = sf.read(voicebank_sample / "noisy" / "p257_008.wav", dtype="float32")
    again = enhanced_output(row, "p257_008")
    assert len(calls) == 4 and again is not None and np.allclose(again, 0.5 * x)
    assert enhanced_output(row, "p232_006") is row.kept["p232_006"] and len(calls) == 4
    assert enhanced_output(noisy, "p232_006") is None
