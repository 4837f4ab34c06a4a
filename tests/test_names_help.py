"""Names a user reads (issue 19, item 5): checkpoint rows named by --name, the metric
mode's word, the report's title, choices for --method/--arch, help that reads, the SNR
defaults, and a word when validation holds files of a training speaker."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

COMMANDS = ["prepare voicebank", "prepare pairs", "prepare mix", "prepare demo", "stats",
            "train", "evaluate", "enhance", "export", "info"]


@pytest.fixture(scope="module")
def corpus_cli(tmp_path_factory) -> tuple[Path, str]:
    """The 25 voicebank-sample pairs prepared by the real CLI with p257 as the test
    speaker: p232 is then the only training speaker; and what prepare said."""
    from tests.conftest import VOICEBANK_SAMPLE, Cli, need_shared

    sample = need_shared(VOICEBANK_SAMPLE)
    out = tmp_path_factory.mktemp("names") / "corpus"
    res = Cli()("prepare", "pairs", "--clean", sample / "clean", "--noisy", sample / "noisy",
                "--test-speakers", "p257", "--out", out)
    return out, res.stderr


def test_prepare_says_when_validation_holds_a_training_speaker(corpus_cli) -> None:
    out, said = corpus_cli
    text = " ".join(said.split())
    assert "note: the validation split holds 1 file(s) of training speaker(s) p232" in text
    assert "not speaker-disjoint" in text


def test_name_labels_checkpoint_rows(cli, corpus_cli, tiny_ckpt: Path, tmp_path: Path) -> None:
    """`--ckpt A --ckpt B --name a --name b` printed two rows `segan (tiny.ckpt)`."""
    out, _ = corpus_cli
    other = tmp_path / "other" / tiny_ckpt.name
    other.parent.mkdir()
    shutil.copy(tiny_ckpt, other)
    base = ["evaluate", "--data", out, "--split", "valid", "--no-wiener", "--workers", "1"]
    res = cli(*base, "--ckpt", tiny_ckpt, "--ckpt", other, "--name", "first", "--name",
              "second")
    rows = [line.strip("│ ").split("│")[0].strip() for line in res.stdout.splitlines()
            if line.startswith("│")]
    assert "first" in rows and "second" in rows, res.stdout
    assert "(standard metrics)" in res.stdout and "(default)" not in res.stdout
    # unnamed, two files of one name are told apart by their paths
    res = cli(*base, "--ckpt", tiny_ckpt, "--ckpt", other, "--mode", "default")
    assert f"segan ({tiny_ckpt})" in res.stdout and f"segan ({other})" in res.stdout
    res = cli(*base, "--ckpt", tiny_ckpt, "--name", "a", "--name", "b", code=2)
    assert "give one --name per --ckpt" in res.stderr


def test_report_title_is_the_folder_name(cli, voicebank_sample: Path, tmp_path: Path) -> None:
    """The page's title was the absolute path of --clean and overflowed a 420 px screen."""
    for kind in ("clean", "noisy"):
        (tmp_path / kind).mkdir()
        for name in ("p232_005.wav", "p232_006.wav"):
            shutil.copy(voicebank_sample / kind / name, tmp_path / kind / name)
    cli("evaluate", "--clean", tmp_path / "clean", "--enhanced", tmp_path / "noisy",
        "--workers", "1", "--report", tmp_path / "report")
    page = (tmp_path / "report" / "index.html").read_text()
    h1 = re.search(r"<h1>(.*?)</h1>", page).group(1)
    assert h1.startswith("clean: 2 files matched") and str(tmp_path) not in h1
    assert "overflow-wrap:anywhere" in page


def test_method_and_arch_are_choices(cli, tmp_path: Path) -> None:
    res = cli("enhance", tmp_path / "a.wav", "--method", "wienr", code=2)
    words = " ".join(res.output.replace("│", " ").split())
    assert "'wienr' is not one of 'model', 'wiener'" in words
    res = cli("train", "--data", tmp_path, "--arch", "advanced", code=2)
    words = " ".join(res.output.replace("│", " ").split())
    assert "'advanced' is not one of 'segan', 'adv'" in words


@pytest.mark.parametrize("command", COMMANDS)
def test_help_reads_as_words(cli, command: str, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    text = cli(*command.split(), "--help").stdout
    assert "<list[" not in text and not re.search(r"\{[a-z_]+\}", text), text
    for example in re.findall(r"--set ([a-z_]+)\.", text):
        section = {"prepare": "data", "train": "train", "evaluate": "evaluate",
                   "enhance": "enhance"}[command.split()[0]]
        assert example == section, (command, example)


def test_mix_snrs_show_their_defaults(cli, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    text = " ".join(cli("prepare", "mix", "--help").stdout.split())
    assert "[default: (0,5,10,15, settings key data.train_snrs)]" in text
    assert "[default: (2.5,7.5,12.5,17.5, settings key data.test_snrs)]" in text
