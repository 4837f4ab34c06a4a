"""`segan evaluate` through the real CLI on real VoiceBank-DEMAND test files."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


@pytest.fixture
def corpus(sample_corpus: Path) -> Path:
    return sample_corpus


def test_corpus_table_noisy_and_wiener(cli, corpus: Path, tmp_path: Path) -> None:
    res = cli("evaluate", "--data", corpus, "--workers", "2", "--csv", tmp_path / "f.csv",
              "--json", tmp_path / "s.json")
    assert "Noisy" in res.stdout and "Wiener" in res.stdout and "11/11" in res.stdout
    summary = json.loads((tmp_path / "s.json").read_text())["systems"]
    noisy, wiener = summary["Noisy"]["metrics"], summary["Wiener"]["metrics"]
    # real DEMAND noise at 2.5-17.5 dB: the noisy row is in the paper's range
    assert 1.5 < noisy["pesq"]["mean"] < 3.0 and 0.85 < noisy["stoi"]["mean"] < 1.0
    assert wiener["ssnr"]["mean"] > noisy["ssnr"]["mean"] + 1.0
    lo, hi = noisy["pesq"]["ci95"]
    assert lo < noisy["pesq"]["mean"] < hi and noisy["pesq"]["count"] == 11
    rows = list(csv.DictReader(open(tmp_path / "f.csv")))
    assert len(rows) == 22 and {r["system"] for r in rows} == {"Noisy", "Wiener"}
    assert all(float(r["pesq"]) > 1 for r in rows)
    # SI-SDR: a table column, per-file CSV values and a JSON summary like the others
    assert "SI-SDR" in res.stdout
    si = noisy["si_sdr"]
    assert si["count"] == 11 and si["ci95"][0] < si["mean"] < si["ci95"][1]
    assert 0 < si["mean"] < 25 and "si_sdr" in wiener
    from segan_cli.core.data.pipeline.manifest import load_manifest
    from segan_cli.core.metrics import si_sdr

    utts = {u.id: u for u in load_manifest(corpus).utterances("test")}
    for r in rows:
        if r["system"] == "Noisy":
            u = utts[r["file"]]
            direct = si_sdr(sf.read(corpus / u.clean, dtype="float32")[0],
                            sf.read(corpus / u.noisy, dtype="float32")[0])
            assert float(r["si_sdr"]) == pytest.approx(direct, abs=1e-6)
    # paired statistics: Wiener - Noisy file by file, in the JSON and the table
    from scipy import stats

    paired = json.loads((tmp_path / "s.json").read_text())["systems"]["Wiener"]["paired"]
    assert set(paired) == {"Noisy"}
    by_file = {(r["system"], r["file"]): r for r in rows}
    for metric in ("pesq", "ssnr", "stoi", "si_sdr"):
        d = np.array([float(by_file["Wiener", f][metric]) - float(by_file["Noisy", f][metric])
                      for f in utts])
        got = paired["Noisy"][metric]
        half = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
        assert got["mean"] == pytest.approx(d.mean(), abs=1e-5) and got["count"] == 11
        assert got["ci95"] == pytest.approx([d.mean() - half, d.mean() + half], abs=1e-5)
        p = stats.ttest_rel([float(by_file["Wiener", f][metric]) for f in utts],
                            [float(by_file["Noisy", f][metric]) for f in utts]).pvalue
        assert got["p_value"] == pytest.approx(p, rel=1e-3, abs=1e-9)
    line = next(ln for ln in res.stdout.splitlines() if "Δ vs Noisy" in ln)
    ssnr = paired["Noisy"]["ssnr"]
    assert f"{ssnr['mean']:+.2f} ±{ssnr['ci95_half_width']:.2f}" in line
    assert "Noisy" not in json.loads((tmp_path / "s.json").read_text())["systems"]["Noisy"][
        "paired"]


def test_paper_mode_and_voicebank_reference_rows(cli, corpus: Path, tmp_path: Path) -> None:
    manifest = json.loads((corpus / "manifest.json").read_text())
    vb = tmp_path / "vb"
    shutil.copytree(corpus, vb)
    manifest["name"] = "voicebank-demand"
    (vb / "manifest.json").write_text(json.dumps(manifest))
    res = cli("evaluate", "--data", vb, "--no-wiener", "--mode", "paper", "--workers", "1")
    assert "SEGAN (paper)" in res.stdout and "1.97" in res.stdout and "(paper)" in res.stdout
    # the paper reports no SI-SDR (nor STOI): its rows show a dash there
    paper_line = next(ln for ln in res.stdout.splitlines() if "Noisy (paper)" in ln)
    assert paper_line.count(" - ") >= 2
    assert "Wiener  " not in res.stdout.split("Noisy (paper)")[0]


def test_folders_matched_by_name(cli, voicebank_sample: Path, tmp_path: Path) -> None:
    enh = tmp_path / "enh"
    enh.mkdir()
    for p in sorted((voicebank_sample / "noisy").glob("p232_0*.wav"))[:4]:
        shutil.copy(p, enh / p.name)
    x, sr = sf.read(voicebank_sample / "noisy" / "p257_003.wav")
    sf.write(enh / "stray.wav", x, sr)
    res = cli("evaluate", "--clean", voicebank_sample / "clean", "--enhanced", enh,
              "--enhanced", voicebank_sample / "clean", "--name", "copy", "--name", "oracle",
              "--workers", "1")
    assert "stray" in res.stderr and "no enhanced version" in res.stderr
    assert "copy" in res.stdout and "oracle" in res.stdout and "4/4" in res.stdout
    assert "25/25" in res.stdout


def test_baseline_row_of_choice(cli, voicebank_sample: Path, tmp_path: Path) -> None:
    """--baseline NAME compares every other row with that one; an unknown name is one
    line before anything is scored."""
    names = [p.name for p in sorted((voicebank_sample / "noisy").glob("p232_0*.wav"))[:4]]
    noisy = tmp_path / "noisy"
    noisy.mkdir()
    for n in names:
        shutil.copy(voicebank_sample / "noisy" / n, noisy / n)
    args = ["evaluate", "--clean", voicebank_sample / "clean", "--enhanced", noisy,
            "--enhanced", voicebank_sample / "clean", "--name", "input", "--name", "oracle",
            "--workers", "1"]
    res = cli(*args, "--baseline", "oracle", "--json", tmp_path / "s.json")
    systems = json.loads((tmp_path / "s.json").read_text())["systems"]
    assert set(systems["input"]["paired"]) == {"oracle"} and not systems["oracle"]["paired"]
    pesq = systems["input"]["paired"]["oracle"]["pesq"]
    assert pesq["count"] == 4 and pesq["mean"] < -1.0 and pesq["ci95"][1] < 0
    assert "Δ vs oracle" in res.stdout and "4 paired" in res.stdout
    res = cli(*args, code=0)  # folders have no Noisy row: no comparison unless asked
    assert "Δ" not in res.stdout
    res = cli(*args, "--baseline", "orcale", "--json", tmp_path / "t.json", code=2)
    assert "no row named 'orcale'" in res.stderr and "input, oracle" in res.stderr
    assert not (tmp_path / "t.json").exists()


def test_bad_inputs(cli, voicebank_sample: Path, tmp_path: Path) -> None:
    res = cli("evaluate", code=2)
    assert "--data" in res.stderr
    res = cli("evaluate", "--clean", voicebank_sample / "clean", "--enhanced",
              voicebank_sample / "noisy", "--ckpt", tmp_path / "x.ckpt", code=2)
    assert "use it with --data" in res.stderr
    enh = tmp_path / "enh"
    enh.mkdir()
    x, sr = sf.read(voicebank_sample / "noisy" / "p232_003.wav")
    import soxr

    sf.write(enh / "p232_003.wav", soxr.resample(x, sr, 22050), 22050)
    res = cli("evaluate", "--clean", voicebank_sample / "clean", "--enhanced", enh, code=2)
    assert "sample rates differ" in res.stderr and "--resample" in res.stderr
    res = cli("evaluate", "--clean", voicebank_sample / "clean", "--enhanced", enh,
              "--resample")
    assert "1/1" in res.stdout
    nan = np.zeros(16000, dtype=np.float32)
    nan[5] = np.nan
    sf.write(enh / "p232_003.wav", nan, 16000, subtype="FLOAT")
    res = cli("evaluate", "--clean", voicebank_sample / "clean", "--enhanced", enh, code=2)
    assert "NaN" in res.stderr
    sf.write(enh / "p232_003.wav", np.zeros(16000, dtype=np.float32), 16000)
    sf.write(enh / "p232_005.wav", sf.read(voicebank_sample / "noisy" / "p232_005.wav")[0],
             16000)
    res = cli("evaluate", "--clean", voicebank_sample / "clean", "--enhanced", enh,
              "--workers", "2")
    assert "1/2" in res.stdout and "silent" in res.stderr
