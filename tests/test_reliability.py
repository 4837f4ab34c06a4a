"""Nothing lost, nothing escapes: the output guard, refusal of garbage models, OS faults.

Table-driven: every command that writes a file is one row of ``WRITERS``; each row is
checked for refusing an existing target (as given, through ``..`` and through a
symlink), for a full disk (a real tiny tmpfs when the tests run as root and may
mount, an injected ENOSPC always) and for leaving nothing partial behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from segan_cli.core.enhancement import batch_enhance
from segan_cli.core.enhancement.whole_file import Enhancer, ModelOutputError
from segan_cli.core.io import output_guard
from segan_cli.core.io.output_guard import OutputExistsError, guarded_file, guarded_output, publish
from segan_cli.core.training.module import SeganGAN
from segan_cli.errors import CheckpointError
from segan_cli.settings import load_settings
from tests.conftest import VOICEBANK_SAMPLE, Cli, need_shared

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PRECIOUS = b"the only copy of a recording"
STATS = {"noisy_mean": 0.001, "noisy_std": 0.1, "clean_mean": -0.001, "clean_std": 0.08}
NAMES = ("p232_005", "p232_006", "p257_008")  # real VoiceBank pairs; p257 validates


@dataclass
class Env:
    """Inputs shared by the rows: real audio, a corpus and tiny checkpoints."""

    root: Path
    wav: Path
    clean: Path
    noisy: Path
    corpus: Path
    ckpt: Path


def _tiny_checkpoint(path: Path, arch: str = "segan", stats: dict | None = None,
                     edit: Callable[[dict], None] | None = None) -> Path:
    """A real (untrained) checkpoint in the training format, optionally edited."""
    settings = load_settings(CONFIGS / "tiny.yaml", ["data.window=1024", "data.hop=512"],
                             arch=arch)
    torch.manual_seed(0)
    module = SeganGAN(settings, stats)
    module.set_reference_batch(torch.randn(2, 1, 1024) * 0.1, torch.randn(2, 1, 1024) * 0.1)
    ckpt = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
            "global_step": 0}
    if edit is not None:
        edit(ckpt)
    torch.save(ckpt, path)
    return path


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Env:
    from segan_cli.core.data.sources.pairs import prepare_pairs

    sample = need_shared(VOICEBANK_SAMPLE)
    root = tmp_path_factory.mktemp("reliability")
    for kind in ("clean", "noisy"):
        (root / kind).mkdir()
        for name in NAMES:  # 1.5 s of each keeps scoring and enhancing quick
            x, sr = sf.read(sample / kind / f"{name}.wav", dtype="float32")
            sf.write(root / kind / f"{name}.wav", x[:24000], sr)
    prepare_pairs(root / "clean", root / "noisy", root / "corpus", valid_speakers=["p257"])
    return Env(root, root / "noisy" / f"{NAMES[0]}.wav", root / "clean", root / "noisy",
               root / "corpus", _tiny_checkpoint(root / "tiny.ckpt"))


@dataclass(frozen=True)
class Writer:
    """A command writing one file: its name, the file's extension and its arguments."""

    name: str
    ext: str
    args: Callable[[Env, Path], list]


# A new command that writes a file joins every check below with one line here.
WRITERS = [
    Writer("enhance", ".wav", lambda e, t: ["enhance", e.wav, t, "--ckpt", e.ckpt]),
    Writer("enhance-flac", ".flac", lambda e, t: ["enhance", e.wav, t, "--ckpt", e.ckpt]),
    Writer("enhance-wiener", ".wav", lambda e, t: ["enhance", e.wav, t, "--method", "wiener"]),
    Writer("export", ".pt", lambda e, t: ["export", "--ckpt", e.ckpt, "--out", t]),
    Writer("export-onnx", ".onnx", lambda e, t: [
        "export", "--ckpt", e.ckpt, "--out", Path(tempfile.mkdtemp(dir=e.root)) / "g.pt",
        "--onnx", t]),
    Writer("evaluate-json", ".json", lambda e, t: [
        "evaluate", "--clean", e.clean, "--enhanced", e.noisy, "--workers", "1", "--json", t]),
    Writer("evaluate-csv", ".csv", lambda e, t: [
        "evaluate", "--clean", e.clean, "--enhanced", e.noisy, "--workers", "1", "--csv", t]),
    Writer("stats-plot", ".png", lambda e, t: ["stats", e.corpus, "--plot", t]),
]
IDS = [w.name for w in WRITERS]


def _one_line(result) -> str:
    """The run's error, asserted to be one line, the last, with no traceback (progress
    bars drawn before it are fine)."""
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    errors = [ln for ln in lines if "error" in ln.lower() or "failed" in ln.lower()]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert errors[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return errors[0]


def _no_temporaries(folder: Path) -> None:
    assert not [p for p in folder.rglob(".*") if ".tmp" in p.name], list(folder.rglob("*"))


# -- 1. nothing existing is replaced silently ----------------------------------------


@pytest.mark.parametrize("spelling", ["plain", "dotdot", "symlink"])
@pytest.mark.parametrize("writer", WRITERS, ids=IDS)
def test_existing_target_is_refused(cli: Cli, env: Env, tmp_path: Path, writer: Writer,
                                    spelling: str) -> None:
    victim = tmp_path / f"victim{writer.ext}"
    victim.write_bytes(PRECIOUS)
    given = {"plain": victim, "dotdot": tmp_path / "nodir" / ".." / victim.name,
             "symlink": tmp_path / f"link{writer.ext}"}[spelling]
    if spelling == "symlink":
        given.symlink_to(victim)
    line = _one_line(cli(*writer.args(env, given), code=2))
    assert "exists" in line and "--overwrite" in line and victim.name in line
    assert victim.read_bytes() == PRECIOUS
    assert not (tmp_path / "nodir").exists()
    _no_temporaries(tmp_path)


def test_overwrite_replaces_and_plain_run_writes(cli: Cli, env: Env, tmp_path: Path) -> None:
    victim = tmp_path / "victim.json"
    victim.write_bytes(PRECIOUS)
    cli(*WRITERS[IDS.index("evaluate-json")].args(env, victim), "--overwrite")
    assert victim.read_bytes().startswith(b"{")
    cli("stats", env.corpus, "--plot", tmp_path / "new.png")
    assert (tmp_path / "new.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("name,command", [
    ("in.wav", lambda e, t: ["enhance", t, t, "--ckpt", e.ckpt, "--overwrite"]),
    ("in.wav", lambda e, t: ["enhance", t, t.parent / "x" / ".." / t.name, "--method",
                             "wiener", "--overwrite"]),
    ("in.ckpt", lambda e, t: ["export", "--ckpt", t, "--out", t, "--overwrite"]),
    ("in.ckpt", lambda e, t: ["export", "--ckpt", t, "--out", t.parent / "." / t.name,
                              "--overwrite"]),
    ("in.ckpt", lambda e, t: ["evaluate", "--data", e.corpus, "--ckpt", t, "--json", t,
                              "--overwrite"]),
], ids=["enhance", "enhance-dotdot", "export", "export-dot", "evaluate-json"])
def test_an_input_is_never_an_output(cli: Cli, env: Env, tmp_path: Path, name: str,
                                     command) -> None:
    target = tmp_path / name
    target.write_bytes((env.ckpt if name.endswith(".ckpt") else env.wav).read_bytes())
    before = target.read_bytes()
    line = _one_line(cli(*command(env, target), code=2))
    assert "input" in line
    assert target.read_bytes() == before


def _copy_corpus(env: Env, tmp_path: Path) -> Path:
    """A private copy of the corpus, so a failing row cannot damage the shared one."""
    import shutil

    return Path(shutil.copytree(env.corpus, tmp_path / "corpus", symlinks=True))


def _run_folder(env: Env, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(env.ckpt.read_bytes())
    (run / "settings.yaml").write_text("data:\n  window: 1024\n")
    return run


# (output flag, the input it names): an input is never an output, even with --overwrite
ONTO_INPUT = {
    "evaluate-csv-clean": lambda e, t: (["evaluate", "--clean", t / "c", "--enhanced",
                                         t / "e", "--csv", t / "c" / "a.wav"], t / "c/a.wav"),
    "evaluate-json-enhanced": lambda e, t: (["evaluate", "--clean", t / "c", "--enhanced",
                                             t / "e", "--json", t / "e" / "a.wav"],
                                            t / "e/a.wav"),
    "evaluate-csv-config": lambda e, t: (["evaluate", "--clean", t / "c", "--enhanced",
                                          t / "e", "--config", t / "s.yaml", "--csv",
                                          t / "s.yaml"], t / "s.yaml"),
    "evaluate-json-manifest": lambda e, t: (["evaluate", "--data", _copy_corpus(e, t),
                                             "--no-wiener", "--json",
                                             t / "corpus/manifest.json"],
                                            t / "corpus/manifest.json"),
    "evaluate-report-in-clean": lambda e, t: (["evaluate", "--clean", t / "c", "--enhanced",
                                               t / "e", "--report", t / "c" / "sub"],
                                              t / "c/sub/b.wav"),
    "stats-plot-manifest": lambda e, t: (["stats", _copy_corpus(e, t), "--plot",
                                          t / "corpus/manifest.json"],
                                         t / "corpus/manifest.json"),
    "stats-plot-cache": lambda e, t: (["stats", _copy_corpus(e, t), "--plot",
                                       t / "corpus/cache/train.bounds.npy"],
                                      t / "corpus/cache/train.bounds.npy"),
    "stats-plot-corpus-wav": lambda e, t: (["stats", _copy_corpus(e, t), "--plot",
                                            t / f"corpus/train/clean/{NAMES[0]}.wav"],
                                           t / f"corpus/train/clean/{NAMES[0]}.wav"),
    "info-plot-settings": lambda e, t: (["info", _run_folder(e, t), "--plot",
                                         t / "run/settings.yaml"], t / "run/settings.yaml"),
    "info-plot-checkpoint": lambda e, t: (["info", _run_folder(e, t), "--plot",
                                           t / "run/checkpoints/last.ckpt"],
                                          t / "run/checkpoints/last.ckpt"),
    "export-onnx-checkpoint": lambda e, t: (["export", "--ckpt", t / "c" / "in.ckpt", "--out",
                                             t / "g.pt", "--onnx", t / "c" / "in.ckpt"],
                                            t / "c/in.ckpt"),
}


@pytest.mark.parametrize("case", list(ONTO_INPUT))
def test_no_output_flag_replaces_an_input(cli: Cli, env: Env, tmp_path: Path,
                                          case: str) -> None:
    """evaluate --csv c/a.wav --overwrite replaced the clean recording, stats --plot
    the corpus manifest: every output option refuses every input, even with --overwrite."""
    for folder in ("c", "e"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.wav").write_bytes(env.wav.read_bytes())
    (tmp_path / "c" / "sub").mkdir()
    (tmp_path / "c" / "sub" / "b.wav").write_bytes(env.wav.read_bytes())
    (tmp_path / "e" / "sub").mkdir()
    (tmp_path / "e" / "sub" / "b.wav").write_bytes(env.wav.read_bytes())
    (tmp_path / "c" / "in.ckpt").write_bytes(env.ckpt.read_bytes())
    (tmp_path / "s.yaml").write_text("evaluate:\n  mode: default\n")
    args, victim = ONTO_INPUT[case](env, tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    line = _one_line(cli(*args, "--overwrite", code=2))
    assert "input" in line, line
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before and victim in before


def test_a_new_file_beside_the_inputs_is_fine(cli: Cli, env: Env, tmp_path: Path) -> None:
    """Only inputs are protected: a plot written into a corpus, or a curves PNG into a
    run folder, may be replaced again with --overwrite."""
    corpus = _copy_corpus(env, tmp_path)
    for _ in range(2):
        cli("stats", corpus, "--plot", corpus / "hist.png", "--overwrite")
    assert (corpus / "hist.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("special", ["fifo", "device"])
@pytest.mark.parametrize("writer", WRITERS, ids=IDS)
def test_overwrite_never_replaces_a_special_file(cli: Cli, env: Env, tmp_path: Path,
                                                 writer: Writer, special: str) -> None:
    """--overwrite turned a FIFO (or, through a link, a device node) into a regular file."""
    target = tmp_path / f"o{writer.ext}"
    if special == "fifo":
        os.mkfifo(target)
    else:
        target.symlink_to("/dev/null")
    line = _one_line(cli(*writer.args(env, target), "--overwrite", code=2))
    kind = "FIFO" if special == "fifo" else "character device"
    assert kind in line and "not a regular file" in line and target.name in line
    assert (target.is_fifo() if special == "fifo" else Path("/dev/null").is_char_device())
    _no_temporaries(tmp_path)


def test_prepare_force_removes_only_what_prepare_wrote(cli: Cli, env: Env,
                                                       tmp_path: Path) -> None:
    """--force deleted a user's file placed inside corp/train/: it now removes the files
    the manifest lists and names what it left."""
    out = tmp_path / "corpus"
    args = ["prepare", "pairs", "--clean", env.clean, "--noisy", env.noisy, "--out", out,
            "--valid-speakers", "p257"]
    cli(*args)
    mine = [out / "train" / "keep.wav", out / "train" / "clean" / "notes.txt",
            out / "cache" / "mine.npy"]
    for path in mine:
        path.write_bytes(PRECIOUS)
    listed = sorted(p.relative_to(out) for p in out.rglob("*.wav") if p not in mine)
    res = cli(*args, "--force")
    for path in mine:
        assert path.read_bytes() == PRECIOUS
    text = " ".join(res.stderr.split())
    assert "--force left 3 file(s)" in text and "train/keep.wav" in text, res.stderr
    assert "train/clean/notes.txt" in text and "cache/mine.npy" in text
    rebuilt = sorted(p.relative_to(out) for p in out.rglob("*.wav") if p not in mine)
    assert rebuilt == listed and (out / "manifest.json").is_file()
    cli("stats", out)


@pytest.mark.parametrize("which", ["clean", "noisy", "inside-clean", "mix-clean",
                                   "mix-noise"])
def test_prepare_out_among_the_sources_is_refused(cli: Cli, env: Env, tmp_path: Path,
                                                  which: str) -> None:
    """--out equal to --clean wrote the corpus among the recordings; a re-run failed."""
    import shutil

    clean = Path(shutil.copytree(env.clean, tmp_path / "clean"))
    noisy = Path(shutil.copytree(env.noisy, tmp_path / "noisy"))
    out = {"clean": clean, "noisy": noisy, "inside-clean": clean / "corpus",
           "mix-clean": clean, "mix-noise": noisy}[which]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    command = (["mix", "--noise", noisy] if which.startswith("mix") else
               ["pairs", "--noisy", noisy, "--valid-speakers", "p257"])
    line = _one_line(cli("prepare", command[0], "--clean", clean, *command[1:], "--out",
                         out, code=2))
    assert "inside the source folder" in line and "--out" in line
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_folder_into_itself_is_refused_even_with_overwrite(cli: Cli, env: Env,
                                                           tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.wav").write_bytes(env.wav.read_bytes())
    line = _one_line(cli("enhance", src, "--out", tmp_path / "src" / ".." / "src",
                         "--method", "wiener", "--overwrite", code=2))
    assert "input folder" in line
    assert (src / "a.wav").read_bytes() == env.wav.read_bytes()


def test_folder_run_names_what_it_cannot_read(cli: Cli, env: Env, tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    (src / "x.wav").mkdir(parents=True)  # a folder named like a recording
    (src / "a.wav").write_bytes(env.wav.read_bytes())
    (src / "gone.flac").symlink_to(src / "nowhere.flac")
    text = cli("enhance", src, "--out", out, "--method", "wiener", code=1).stderr
    assert f"{src / 'x.wav'} (a folder, not an audio file)" in text
    assert f"{src / 'gone.flac'} (a broken symbolic link)" in text
    assert sorted(p.name for p in out.iterdir()) == ["a.wav"]


@pytest.mark.parametrize("pattern", ["../victim/*.wav", "sub/../../victim/*.wav", "/{abs}/*.wav"])
def test_glob_cannot_climb_out_of_the_input_folder(cli: Cli, env: Env, tmp_path: Path,
                                                   pattern: str) -> None:
    src, out, victim = tmp_path / "src", tmp_path / "out", tmp_path / "victim"
    (src / "sub").mkdir(parents=True)
    victim.mkdir()
    (src / "a.wav").write_bytes(env.wav.read_bytes())
    (victim / "v.wav").write_bytes(PRECIOUS)
    pattern = pattern.format(abs=str(victim).strip("/"))
    line = _one_line(cli("enhance", src, "--out", out, "--glob", pattern,
                         "--method", "wiener", "--overwrite", code=2))
    assert "--glob" in line
    assert (victim / "v.wav").read_bytes() == PRECIOUS
    assert not out.exists()


def test_outputs_cannot_escape_the_output_folder_through_a_symlink(cli: Cli, env: Env,
                                                                    tmp_path: Path) -> None:
    src, out, victim = tmp_path / "src", tmp_path / "out", tmp_path / "victim"
    (src / "sub").mkdir(parents=True)
    out.mkdir()
    victim.mkdir()
    (src / "sub" / "v.wav").write_bytes(env.wav.read_bytes())
    (victim / "v.wav").write_bytes(PRECIOUS)
    (out / "sub").symlink_to(victim)
    line = _one_line(cli("enhance", src, "--out", out, "--method", "wiener", "--overwrite",
                         code=2))
    assert "outside" in line
    assert (victim / "v.wav").read_bytes() == PRECIOUS


# -- concurrent runs: exactly one publishes, the other reports the file ---------------


@pytest.fixture(params=["link", "renameat2", "exclusive"])
def publish_mode(request, monkeypatch) -> str:
    """The publish step as on a normal file system, one without hard links, and one
    without hard links nor renameat2."""
    if request.param != "link":
        def no_links(*args, **kwargs):
            raise OSError(errno.EPERM, "hard links not supported")

        monkeypatch.setattr(output_guard.os, "link", no_links)
    if request.param == "exclusive":
        class NoLibc:
            def __init__(self, *args, **kwargs) -> None:
                pass

            def __getattr__(self, name: str):
                raise AttributeError(name)

        monkeypatch.setattr(output_guard.ctypes, "CDLL", NoLibc)
    return request.param


def _race(tmps: list[Path], final: Path) -> list[str]:
    """Publish two finished temporaries to one name at the same moment."""
    barrier = threading.Barrier(len(tmps))
    results = [""] * len(tmps)

    def one(i: int) -> None:
        barrier.wait()
        try:
            publish(tmps[i], final)
            results[i] = "won"
        except OutputExistsError as exc:
            results[i] = str(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(tmps))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_publish_has_one_winner(tmp_path: Path, publish_mode: str) -> None:
    for round_ in range(20):
        final = tmp_path / f"out{round_}.wav"
        tmps = [tmp_path / f".t{round_}.{i}" for i in range(2)]
        for i, tmp in enumerate(tmps):
            tmp.write_bytes(bytes([i]) * 4096)
        results = _race(tmps, final)
        assert results.count("won") == 1, results
        winner = results.index("won")
        loser = results[1 - winner]
        assert "exists" in loser and "meanwhile" in loser
        assert final.read_bytes() == bytes([winner]) * 4096


def test_two_processes_publish_one_name(tmp_path: Path) -> None:
    code = ("import sys; from segan_cli.core.io.output_guard import write_bytes, "
            "OutputExistsError\n"
            "try:\n    write_bytes(sys.argv[1], sys.argv[2].encode() * 100000)\n"
            "except OutputExistsError:\n    sys.exit(3)\n")
    final = tmp_path / "same.bin"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(final), tag],
                              cwd=Path(__file__).resolve().parents[1]) for tag in "ab"]
    codes = sorted(p.wait() for p in procs)
    assert codes == [0, 3]
    data = final.read_bytes()
    assert data in (b"a" * 100000, b"b" * 100000)
    _no_temporaries(tmp_path)


def test_a_file_appearing_during_the_work_is_not_replaced(tmp_path: Path) -> None:
    final = tmp_path / "o.json"
    with pytest.raises(OutputExistsError, match="meanwhile"):
        with guarded_output(final) as tmp:
            tmp.write_bytes(b"late")
            final.write_bytes(PRECIOUS)  # another run published first
    assert final.read_bytes() == PRECIOUS
    assert list(tmp_path.iterdir()) == [final]


def test_second_folder_run_does_not_replace_the_first(env: Env, tmp_path: Path) -> None:
    """Both runs planned before either wrote: the one that publishes second loses."""
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    for i in range(3):
        (src / f"f{i}.wav").write_bytes(env.wav.read_bytes())
    jobs, skipped = batch_enhance.plan(src, out, "*.wav")
    assert len(jobs) == 3 and not skipped
    out.mkdir()
    (out / "f1.wav").write_bytes(PRECIOUS)  # the other run finished this one meanwhile
    outcomes = list(batch_enhance.run(jobs, batch_enhance.wiener_enhancer))
    errors = {o.job.dst.name: o.error for o in outcomes if o.error}
    assert list(errors) == ["f1.wav"] and "exists" in errors["f1.wav"]
    assert (out / "f1.wav").read_bytes() == PRECIOUS
    assert sf.info(out / "f0.wav").frames == sf.info(env.wav).frames
    _no_temporaries(out)


# -- 2. a model that produces garbage is refused --------------------------------------


def _nan_weight(ckpt: dict) -> None:
    key = next(k for k in ckpt["state_dict"] if k.startswith("generator.")
               and ckpt["state_dict"][k].is_floating_point())
    ckpt["state_dict"][key] = ckpt["state_dict"][key].clone()
    ckpt["state_dict"][key].view(-1)[3] = float("nan")


def _stat(key: str, value: float) -> Callable[[dict], None]:
    def edit(ckpt: dict) -> None:
        ckpt["hyper_parameters"]["stats"] = {**STATS, key: value}
    return edit


@pytest.mark.parametrize("arch,edit,expect", [
    ("segan", _nan_weight, "NaN/Inf values"),
    ("adv", _stat("noisy_std", float("nan")), "noisy_std is nan"),
    ("adv", _stat("clean_mean", float("inf")), "clean_mean is inf"),
    ("adv", _stat("clean_std", 0.0), "not positive"),
], ids=["nan-weight", "nan-std", "inf-mean", "zero-std"])
@pytest.mark.parametrize("command", ["enhance", "export", "evaluate"])
def test_non_finite_checkpoint_is_refused(cli: Cli, env: Env, tmp_path: Path, arch: str,
                                          edit, expect: str, command: str) -> None:
    bad = _tiny_checkpoint(tmp_path / "bad.ckpt", arch, STATS, edit)
    args = {"enhance": ["enhance", env.wav, tmp_path / "o.wav", "--ckpt", bad],
            "export": ["export", "--ckpt", bad, "--out", tmp_path / "o.pt"],
            "evaluate": ["evaluate", "--data", env.corpus, "--split", "valid", "--no-wiener",
                         "--ckpt", bad, "--json", tmp_path / "o.json"]}[command]
    line = _one_line(cli(*args, code=2))
    assert expect in line and "bad.ckpt" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.ckpt"]


@pytest.mark.parametrize("arch,edit,expect", [
    ("segan", _nan_weight, "NaN/Inf"),
    ("adv", _stat("noisy_std", float("nan")), "noisy_std is nan"),
], ids=["nan-weight", "nan-std"])
def test_nan_checkpoint_is_not_a_starting_point(cli: Cli, env: Env, tmp_path: Path, arch: str,
                                               edit, expect: str) -> None:
    bad = _tiny_checkpoint(tmp_path / "bad.ckpt", arch, STATS, edit)
    line = _one_line(cli("train", "--data", env.corpus, "--out", tmp_path / "run",
                         "--init-from", bad, "--max-steps", "1", code=2))
    assert expect in line and "bad.ckpt" in line
    assert not (tmp_path / "run").exists()


def test_nan_source_is_not_packaged(tmp_path: Path) -> None:
    from segan_cli.core.packaging.model_file import package_checkpoint

    bad = _tiny_checkpoint(tmp_path / "bad.ckpt", edit=_nan_weight)
    with pytest.raises(CheckpointError, match="NaN"):
        package_checkpoint(bad, tmp_path / "default.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.ckpt"]


class _DivergingModel:
    """A window model that starts emitting NaN after a few batches (mid-file)."""

    sample_rate, window, preemphasis = 16000, 1024, 0.0

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.calls += 1
        return batch * (np.nan if self.calls > 3 else 0.5)


def test_model_emitting_nan_mid_file_writes_nothing(env: Env, tmp_path: Path) -> None:
    enhancer = Enhancer(_DivergingModel(), batch_size=2, block_seconds=0.25)
    with pytest.raises(ModelOutputError, match=f"enhancing {env.wav}.*NaN"):
        enhancer.enhance_file(env.wav, tmp_path / "o.wav")
    assert list(tmp_path.iterdir()) == []


# -- 4. operating-system faults are one clear line ------------------------------------


@contextlib.contextmanager
def _tmpfs(mnt: Path, options: str, what: str) -> Iterator[Path]:
    """A tiny tmpfs at ``mnt`` (root and mount needed; skips with a reason otherwise)."""
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip(f"a real {what} needs root to mount a tmpfs; the injected cases cover "
                    "this path")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({res.stderr.strip()}); the injected "
                    "cases cover this path")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a tiny tmpfs filled to the last byte."""
    with _tmpfs(tmp_path / "full", "size=256k", "full disk") as mnt:
        with open(mnt / "filler", "wb", buffering=0) as fh:
            try:
                while True:
                    fh.write(b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        yield mnt


@pytest.fixture
def read_only_disk(tmp_path: Path) -> Iterator[Path]:
    with _tmpfs(tmp_path / "ro", "ro,size=64k", "read-only file system") as mnt:
        yield mnt


@pytest.fixture
def injected_erofs(tmp_path: Path, monkeypatch) -> Path:
    """Creating a temporary file under the returned folder fails with EROFS."""
    folder = tmp_path / "injected-ro"
    folder.mkdir()
    real = tempfile.mkstemp

    def mkstemp(*args, **kwargs):
        if Path(kwargs.get("dir", "")) == folder:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS),
                          str(folder / f"{kwargs.get('prefix', '')}x"))
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)  # whoever names the temporary
    return folder


@pytest.fixture
def injected_enospc(tmp_path: Path, monkeypatch) -> Path:
    """Every guarded write under the returned folder stores a few bytes, then fails
    with ENOSPC, as on a disk that fills up."""
    folder = tmp_path / "injected"
    folder.mkdir()
    real = output_guard.OutputFile.write

    def write(self, data) -> int:
        if folder in self.path.parents:
            real(self, bytes(memoryview(data).cast("B")[:16]))
            self.error = self.error or OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return 0
        return real(self, data)

    monkeypatch.setattr(output_guard.OutputFile, "write", write)
    return folder


@pytest.mark.parametrize("disk", ["injected", "tmpfs"])
@pytest.mark.parametrize("writer", WRITERS, ids=IDS)
def test_full_disk_is_one_line_naming_the_output(cli: Cli, env: Env, request, writer: Writer,
                                                 disk: str) -> None:
    folder = request.getfixturevalue("full_disk" if disk == "tmpfs" else "injected_enospc")
    before = sorted(p.name for p in folder.iterdir())
    target = folder / f"result{writer.ext}"
    line = _one_line(cli(*writer.args(env, target), code=2))
    assert str(target) in line and "no space left" in line
    assert "decode" not in line and str(env.wav) not in line  # the input is not blamed
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing partial stays


@pytest.mark.parametrize("disk", ["injected", "tmpfs"])
def test_prepare_on_a_full_disk_leaves_only_complete_files(cli: Cli, env: Env, request,
                                                           disk: str) -> None:
    folder = request.getfixturevalue("full_disk" if disk == "tmpfs" else "injected_enospc")
    out = folder / "corpus"
    line = _one_line(cli("prepare", "pairs", "--clean", env.clean, "--noisy", env.noisy,
                         "--out", out, "--valid-speakers", "p257", code=2))
    assert str(out) in line and "no space left" in line
    _no_temporaries(folder)
    for wav in out.rglob("*.wav"):  # whatever is visible is whole
        assert sf.info(wav).frames > 0


@pytest.mark.parametrize("disk", ["injected", "tmpfs"])
def test_folder_run_stops_at_a_full_disk(cli: Cli, env: Env, request, disk: str) -> None:
    """Every later file would fail the same way: one line, exit 2, nothing partial."""
    folder = request.getfixturevalue("full_disk" if disk == "tmpfs" else "injected_enospc")
    out = folder / "out"
    line = _one_line(cli("enhance", env.noisy, "--out", out, "--method", "wiener", code=2))
    assert str(out) in line and "no space left" in line
    assert not list(folder.rglob("*.wav"))
    _no_temporaries(folder)


def test_disk_faults_survive_worker_processes() -> None:
    import pickle

    error = output_guard.output_error(OSError(errno.ENOSPC, "full"), "o.wav")
    again = pickle.loads(pickle.dumps(error))
    assert again.errno == errno.ENOSPC and again.disk_full_or_read_only
    assert str(again) == str(error)


def test_prepare_refuses_a_folder_that_is_not_a_corpus(cli: Cli, env: Env,
                                                        tmp_path: Path) -> None:
    out = tmp_path / "mine"
    (out / "train").mkdir(parents=True)
    (out / "train" / "keep.wav").write_bytes(PRECIOUS)
    line = _one_line(cli("prepare", "pairs", "--clean", env.clean, "--noisy", env.noisy,
                         "--out", out, "--valid-speakers", "p257", "--force", code=2))
    assert "no segan corpus" in line and "train/" in line
    assert (out / "train" / "keep.wav").read_bytes() == PRECIOUS


@pytest.mark.parametrize("disk", ["injected", "tmpfs"])
@pytest.mark.parametrize("writer", [w for w in WRITERS if w.name in
                                    ("enhance-wiener", "export", "evaluate-json")],
                         ids=["enhance-wiener", "export", "evaluate-json"])
def test_read_only_folder_is_one_line(cli: Cli, env: Env, request, writer: Writer,
                                      disk: str) -> None:
    folder = request.getfixturevalue("read_only_disk" if disk == "tmpfs" else "injected_erofs")
    target = folder / f"o{writer.ext}"
    line = _one_line(cli(*writer.args(env, target), code=2))
    assert "read-only" in line and str(target) in line
    assert list(folder.iterdir()) == []


TINY_TRAIN = ["--config", CONFIGS / "tiny.yaml", "--set", "data.window=1024", "--set",
              "data.hop=512", "--batch-size", "2", "--max-steps", "1",
              "--set", "train.val_utterances=1"]


def test_train_refuses_a_file_as_run_folder(cli: Cli, env: Env, tmp_path: Path) -> None:
    victim = tmp_path / "victim.ckpt"
    victim.write_bytes(PRECIOUS)
    line = _one_line(cli("train", "--data", env.corpus, "--out", victim, *TINY_TRAIN, code=2))
    assert "is a file" in line
    assert victim.read_bytes() == PRECIOUS


def test_resume_from_a_nan_checkpoint_is_refused(cli: Cli, env: Env, tmp_path: Path) -> None:
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    _tiny_checkpoint(last, edit=_nan_weight)
    line = _one_line(cli("train", "--data", env.corpus, "--out", tmp_path / "run", "--resume",
                         *TINY_TRAIN, code=2))
    assert "NaN/Inf" in line and "last.ckpt" in line


def test_train_checkpoint_write_fault_is_one_line(cli: Cli, env: Env, tmp_path: Path,
                                                  monkeypatch) -> None:
    """Lightning saves inside its own loop: the fault still ends as one line, no
    partial checkpoint."""
    real = output_guard.OutputFile.write

    def write(self, data) -> int:
        if self.path.name.startswith(".last.ckpt"):
            self.error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return 0
        return real(self, data)

    monkeypatch.setattr(output_guard.OutputFile, "write", write)
    run = tmp_path / "run"
    line = _one_line(cli("train", "--data", env.corpus, "--out", run, *TINY_TRAIN, code=2))
    assert "last.ckpt" in line and "no space left" in line
    assert not (run / "checkpoints" / "last.ckpt").exists()
    _no_temporaries(run)


def _string_entry(ckpt: dict) -> None:
    ckpt["state_dict"]["generator.extra"] = "weights"


@pytest.mark.parametrize("command", ["info", "enhance", "export"])
def test_non_tensor_state_entry_is_one_line(cli: Cli, env: Env, tmp_path: Path,
                                            command: str) -> None:
    """`segan info` summed .numel() over a string (AttributeError traceback)."""
    bad = _tiny_checkpoint(tmp_path / "bad.ckpt", edit=_string_entry)
    args = {"info": ["info", bad], "enhance": ["enhance", env.wav, tmp_path / "o.wav",
                                               "--ckpt", bad],
            "export": ["export", "--ckpt", bad, "--out", tmp_path / "o.pt"]}[command]
    line = _one_line(cli(*args, code=2))
    assert "'generator.extra' is not a tensor" in line and "bad.ckpt" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.ckpt"]


def _expanded(ckpt: dict) -> None:
    """Six layers of 1024 channels (490 M weights), each tensor one value expanded."""
    from segan_cli.core.models import build_generator

    settings = load_settings(None, ["data.window=1024", "data.hop=512", "model.kernel_size=31",
                                    "model.encoder_channels=[1024,1024,1024,1024,1024,1024]"])
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in
                  build_generator(settings.model, settings.data.window).state_dict().items()}
    ckpt["state_dict"] = {f"generator.{k}": torch.zeros(()).expand(shape)
                          for k, shape in shapes.items()}
    ckpt["hyper_parameters"]["settings"] = settings.model_dump(mode="json")


def _shared(ckpt: dict) -> None:
    """Every tensor a view of one storage: each fits it, together they do not."""
    state = ckpt["state_dict"]
    store = torch.zeros(max(v.numel() for v in state.values()))
    ckpt["state_dict"] = {k: store[:v.numel()].view(v.shape) if v.is_floating_point() else v
                          for k, v in state.items()}


@pytest.mark.parametrize("edit,expect", [
    (_expanded, "tensor generator.encoder.0.weight declares 31744 values but the file "
                "stores 1"),
    (_shared, "tensors share their values"),
], ids=["expanded", "shared"])
@pytest.mark.parametrize("command", ["info", "enhance", "export"])
def test_checkpoint_declaring_more_than_it_stores_is_refused(cli: Cli, env: Env,
                                                             tmp_path: Path, edit, expect: str,
                                                             command: str) -> None:
    """A 13 kB checkpoint of expanded tensors passed the meta-device shape check, then
    the generator was allocated (4 GB): refused now before anything is built."""
    bad = _tiny_checkpoint(tmp_path / "bad.ckpt", edit=edit)
    assert edit is _shared or bad.stat().st_size < 100_000  # for 490 M weights
    args = {"info": ["info", bad], "enhance": ["enhance", env.wav, tmp_path / "o.wav",
                                               "--ckpt", bad],
            "export": ["export", "--ckpt", bad, "--out", tmp_path / "o.pt"]}[command]
    line = _one_line(cli(*args, code=2))
    assert expect in line and "bad.ckpt" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.ckpt"]


def test_checkpoint_archive_unpacking_beyond_its_size_is_refused(cli: Cli, env: Env,
                                                                 tmp_path: Path) -> None:
    """torch writes its archive uncompressed; a deflated one can unpack to any size."""
    import zipfile

    good = _tiny_checkpoint(tmp_path / "good.ckpt")
    bad = tmp_path / "bad.ckpt"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info) + bytes(1 << 20) * (
                info.filename.endswith("version")))
    line = _one_line(cli("info", bad, code=2))
    assert "unpacks to" in line and "bad.ckpt" in line


def test_foreign_pickle_is_one_line_without_torch_warnings(cli: Cli, tmp_path: Path) -> None:
    import pickle

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    bad = tmp_path / "exploit.ckpt"
    bad.write_bytes(pickle.dumps(Exploit(), protocol=4))
    res = cli("info", bad, code=2)
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "not a readable checkpoint" in res.stderr
    assert not (tmp_path / "ran").exists()


class _Interrupting:
    """A file whose second write raises KeyboardInterrupt, as a signal handler does
    when Ctrl-C or SIGTERM lands inside libsndfile's write callback."""

    def __init__(self, fh) -> None:
        self.fh, self.calls = fh, 0

    def write(self, data) -> int:
        self.calls += 1
        if self.calls == 2:
            raise KeyboardInterrupt
        return self.fh.write(data)

    def __getattr__(self, name: str):
        return getattr(self.fh, name)


def test_a_signal_inside_a_c_writer_is_raised_not_swallowed(tmp_path: Path) -> None:
    """cffi swallowed it and libsndfile failed an assertion: a traceback, exit 1."""
    with pytest.raises(KeyboardInterrupt):
        with guarded_file(tmp_path / "o.wav") as fh:
            fh._fh = _Interrupting(fh._fh)
            sf.write(fh, np.zeros(100000, np.float32), 16000, format="WAV")
    assert list(tmp_path.iterdir()) == []


def test_random_bytes_are_one_line_even_from_the_c_library(tmp_path: Path) -> None:
    """libsndfile's MPEG probe printed "Note: Trying to resync..." lines on fd 2."""
    bad = tmp_path / "noise.wav"
    bad.write_bytes(np.random.default_rng(1).bytes(8192))
    res = subprocess.run([sys.executable, "-m", "segan_cli", "enhance", str(bad),
                          str(tmp_path / "o.wav"), "--method", "wiener"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines() == [
        f"error: cannot read audio file {bad}: not in an audio format libsndfile "
        "recognises (is it a wav/flac/ogg/mp3 file that is not truncated?)"], res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noise.wav"]


# -- 5. no traceback from odd but legal inputs -----------------------------------------


def _flat(text: str) -> str:
    """Output with line wrapping undone, to look for a whole path in it."""
    return "".join(text.split())


MARKUP = {  # (files to make, arguments, exit code, text the output must show whole)
    "output-name": ({"in.wav"}, lambda t: ["enhance", t / "in.wav", t / "o[/].wav",
                                           "--method", "wiener"], 0, "o[/].wav"),
    "input-folder": ({"in[/]x.wav"}, lambda t: ["enhance", t / "in[/]x.wav", t / "o.wav",
                                                "--method", "wiener"], 0, "o.wav"),
    "out-folder": ({"src/a.wav"}, lambda t: ["enhance", t / "src", "--out", t / "out[/]x",
                                             "--method", "wiener"], 0, "out[/]x"),
    "bad-file-in-draft": ({"in/[draft]/bad.wav", "in/ok.wav"},
                          lambda t: ["enhance", t / "in", "--out", t / "out",
                                     "--method", "wiener"], 1, "in/[draft]/bad.wav"),
    "missing-input": (set(), lambda t: ["enhance", t / "no[/]such.wav", t / "o.wav",
                                        "--method", "wiener"], 2, "no[/]such.wav"),
    "evaluate-label": ({"c/a.wav", "[draft]/a.wav"},
                       lambda t: ["evaluate", "--clean", t / "c", "--enhanced", t / "[draft]",
                                  "--workers", "1", "--csv", t / "s[/].csv"], 0,
                       "[draft]"),
}


@pytest.mark.parametrize("case", list(MARKUP))
def test_paths_holding_markup_print_as_they_are(cli: Cli, env: Env, tmp_path: Path,
                                                case: str) -> None:
    """`o[/].wav` crashed rich's printer (once after writing the output); `[draft]/`
    vanished from messages. Every user string reaches rich escaped."""
    files, args, code, shown = MARKUP[case]
    for rel in files:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(PRECIOUS if "bad" in rel else env.wav.read_bytes())
    res = cli(*args(tmp_path), code=code)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.stdout + res.stderr
    assert _flat(shown) in _flat(res.stdout + res.stderr), res.stdout + res.stderr
    if code == 2:
        _one_line(res)


def _segan(*args: str | Path, env_vars: dict | None = None, **kwargs):
    return subprocess.run([sys.executable, "-m", "segan_cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env_vars or {})},
                          cwd=Path(__file__).resolve().parents[1], **kwargs)


def test_closed_standard_input_is_one_line(env: Env, tmp_path: Path) -> None:
    """`segan enhance - o.wav <&-` gave an AttributeError (sys.stdin is None)."""
    res = _segan("enhance", "-", tmp_path / "o.wav", "--method", "wiener",
                 stdin=subprocess.DEVNULL, preexec_fn=lambda: os.close(0))
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines() == [
        "error: standard input is closed: no audio to read (pipe a recording in, e.g. "
        "segan enhance - out.wav < in.wav)"], res.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["info", "evaluate"])
def test_a_one_column_console_draws_tables(env: Env, command: str) -> None:
    """COLUMNS=1 failed an assertion inside rich's table layout."""
    args = {"info": ["info", env.ckpt],
            "evaluate": ["evaluate", "--clean", env.clean, "--enhanced", env.noisy,
                         "--workers", "1", "--no-wiener"]}[command]
    res = _segan(*args, env_vars={"COLUMNS": "1"})
    assert res.returncode == 0, res.stderr
    assert "Error" not in res.stdout + res.stderr and "Traceback" not in res.stderr
    assert ("window" if command == "info" else "filesmatched") in _flat(res.stdout)


@pytest.mark.parametrize("seed", [2**64, 2**80, -(2**63) - 1])
def test_an_out_of_range_seed_is_one_line(cli: Cli, env: Env, tmp_path: Path,
                                          seed: int) -> None:
    """--seed 2**64 ended in torch's raw `ValueError: Overflow`."""
    line = _one_line(cli("enhance", env.wav, tmp_path / "o.wav", "--ckpt", env.ckpt,
                         "--seed", str(seed), code=2))
    assert "enhance.seed" in line
    assert list(tmp_path.iterdir()) == []


def test_the_largest_seed_works(cli: Cli, env: Env, tmp_path: Path) -> None:
    cli("enhance", env.wav, tmp_path / "o.wav", "--ckpt", env.ckpt, "--seed", str(2**64 - 1))
    assert sf.info(tmp_path / "o.wav").frames == sf.info(env.wav).frames


@pytest.fixture(scope="module")
def denoiser(env: Env):
    import segan_cli

    return segan_cli.load(env.ckpt)


def _real(env: Env) -> torch.Tensor:
    return torch.from_numpy(sf.read(env.wav, dtype="float32")[0])


# what the API refuses with a SignalError naming the problem, instead of a raw error or
# a silently wrong result
API_REFUSES = {
    "meta-tensor": (lambda e: _real(e).to("meta"), 16000, "meta device"),
    "sparse-tensor": (lambda e: _real(e).to_sparse(), 16000, "cannot be read as samples"),
    "rate-1e12": (lambda e: _real(e).numpy(), 10**12, "above 2147483647 Hz"),
    "rate-2^31": (lambda e: _real(e), 2**31, "above 2147483647 Hz"),
}


@pytest.mark.parametrize("case", list(API_REFUSES))
def test_api_refuses_what_it_cannot_enhance(denoiser, env: Env, case: str) -> None:
    """A meta tensor gave NotImplementedError; enhance(x, 10**12) returned zeros."""
    import segan_cli

    make, rate, words = API_REFUSES[case]
    with pytest.raises(segan_cli.SignalError, match=words):
        denoiser.enhance(make(env), rate)


def test_api_seed_out_of_range_is_a_settings_error(env: Env) -> None:
    import segan_cli
    from segan_cli.errors import SettingsError

    with pytest.raises(SettingsError, match="enhance.seed"):
        segan_cli.load(env.ckpt, seed=2**64)
    assert segan_cli.load(env.ckpt, seed=2**64 - 1).enhance(_real(env), 16000).shape == \
        _real(env).shape


# -- 6. nothing silently wrong --------------------------------------------------------


@pytest.mark.parametrize("keep,noted", [(1.0, False), (0.95, False), (0.5, True),
                                        (1.5, True)], ids=["same", "95%", "half", "longer"])
def test_a_much_shorter_enhanced_file_is_scored_with_a_warning(
        cli: Cli, env: Env, tmp_path: Path, keep: float, noted: bool) -> None:
    """An enhanced file much shorter than its clean partner was scored over its own
    length without a word; beyond a set ratio it now warns, and its CSV row says so."""
    import csv

    x, sr = sf.read(env.wav, dtype="float32")
    x = x[:16000]
    for kind in ("c", "e"):
        (tmp_path / kind).mkdir()
    sf.write(tmp_path / "c" / "a.wav", x, sr)
    sf.write(tmp_path / "e" / "a.wav", np.resize(x, int(x.size * keep)), sr)
    res = cli("evaluate", "--clean", tmp_path / "c", "--enhanced", tmp_path / "e",
              "--workers", "1", "--csv", tmp_path / "s.csv")
    (row,) = list(csv.DictReader(open(tmp_path / "s.csv")))
    text = " ".join(res.stderr.split())
    if noted:
        short, other = ("enhanced", "clean") if keep < 1 else ("clean", "enhanced")
        expect = (f"a: the {short} file holds {min(keep, 1):.2f} s, its {other} partner "
                  f"{max(keep, 1):.2f} s: scored over the first {min(keep, 1):.2f} s only")
        assert f"warning: {expect}" in text, res.stderr
        assert row["note"] == expect
    else:
        assert "scored over" not in text and row["note"] == ""
    assert float(row["pesq"]) > 1


# -- 7. valid inputs are taken ---------------------------------------------------------


ODD = os.fsdecode(b"caf\xe9")  # a Latin-1 name: not UTF-8, held as a surrogate


NON_UTF8 = {  # (arguments, the output that must appear)
    "single-file": lambda t: (["enhance", t / "in" / f"{ODD}.wav", t / f"{ODD}-out.wav",
                               "--method", "wiener"], t / f"{ODD}-out.wav"),
    "folder": lambda t: (["enhance", t / "in", "--out", t / "out", "--method", "wiener"],
                         t / "out" / f"{ODD}.wav"),
    "evaluate": lambda t: (["evaluate", "--clean", t / "in", "--enhanced", t / "in",
                            "--workers", "1", "--csv", t / f"{ODD}.csv"], t / f"{ODD}.csv"),
}


@pytest.mark.parametrize("lang", ["C.UTF-8", "C"])
@pytest.mark.parametrize("case", list(NON_UTF8))
def test_file_names_that_are_not_utf8_are_read(env: Env, tmp_path: Path, case: str,
                                               lang: str) -> None:
    """soundfile encoded str names strictly: a name that is not UTF-8 was "not a readable
    audio file", and printing it crashed. They are read by their bytes and shown with
    escapes."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / f"{ODD}.wav").write_bytes(env.wav.read_bytes())
    args, made = NON_UTF8[case](tmp_path)
    res = subprocess.run([sys.executable, "-m", "segan_cli", *map(os.fsencode, args)],
                         capture_output=True, timeout=300,
                         env={**os.environ, "LANG": lang, "LC_ALL": lang},
                         cwd=Path(__file__).resolve().parents[1])
    err = res.stderr.decode("utf-8", "replace")
    assert res.returncode == 0, err
    assert "Traceback" not in err and "error" not in err.lower()
    assert made.is_file()
    if case == "evaluate":
        assert os.fsencode(f"in,{ODD},") in made.read_bytes()
    else:
        assert sf.info(os.fsencode(made)).frames == sf.info(env.wav).frames


@pytest.mark.parametrize("letter", ["a", "é"])
@pytest.mark.parametrize("writer", WRITERS, ids=IDS)
def test_a_255_byte_output_name_is_written(cli: Cli, env: Env, tmp_path: Path,
                                           writer: Writer, letter: str) -> None:
    """A legal 255-byte name was refused: the hidden temporary beside it is longer. Its
    temporary is now named after a short hash of the name."""
    room = 255 - len(writer.ext)
    name = letter * (room // len(letter.encode())) + "x" * (room % len(letter.encode()))
    target = tmp_path / f"{name}{writer.ext}"
    assert len(os.fsencode(target.name)) == 255
    cli(*writer.args(env, target))
    assert target.stat().st_size > 0
    _no_temporaries(tmp_path)


def test_a_long_name_temporary_is_swept_like_any_other(tmp_path: Path) -> None:
    from segan_cli.core.io.temporaries import owner, temp_file

    final = tmp_path / ("b" * 251 + ".wav")
    tmp = temp_file(final)
    assert len(os.fsencode(tmp.name)) <= 255 and owner(tmp) == os.getpid()


# (where --out is, relative to the input folder "in") -> outputs expected after the run
OUT_PLACES = {
    "parent": (".", {"a.wav", "sub/b.wav"}),
    "sibling": ("out", {"out/a.wav", "out/sub/b.wav"}),
    "nested": ("in/out", {"in/out/a.wav", "in/out/sub/b.wav"}),
}


@pytest.mark.parametrize("place", list(OUT_PLACES))
def test_out_folder_anywhere_but_the_input_finds_the_inputs(cli: Cli, env: Env,
                                                            tmp_path: Path,
                                                            place: str) -> None:
    """--out the input folder's parent found no inputs (every file was taken for an
    earlier output). Only a folder inside the input is left out, and a re-run resumes."""
    where, outputs = OUT_PLACES[place]
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    (src / "a.wav").write_bytes(env.wav.read_bytes())
    (src / "sub" / "b.wav").write_bytes(env.wav.read_bytes())
    (tmp_path / where).mkdir(exist_ok=True)
    inputs = {p: p.read_bytes() for p in src.rglob("*.wav")}
    for run in range(2):
        res = cli("enhance", src, "--out", tmp_path / where, "--method", "wiener")
        assert f"enhanced {2 - 2 * run} file(s)" in " ".join(res.stdout.split()), res.stdout
    made = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.wav")
            if p not in inputs}
    assert made == outputs
    assert all(p.read_bytes() == data for p, data in inputs.items())


def test_an_output_landing_on_another_input_is_refused(cli: Cli, env: Env,
                                                       tmp_path: Path) -> None:
    """--out the parent of `in`, which holds in/x.wav and in/in/x.wav: the second's
    output would be the first input."""
    src = tmp_path / "in"
    (src / "in").mkdir(parents=True)
    for rel in ("x.wav", "in/x.wav"):
        (src / rel).write_bytes(env.wav.read_bytes())
    before = {p: p.read_bytes() for p in tmp_path.rglob("*")  if p.is_file()}
    line = _one_line(cli("enhance", src, "--out", tmp_path, "--method", "wiener",
                         "--overwrite", code=2))
    assert f"is the input file {src / 'x.wav'}" in line
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


# -- 8. messages that blame the right thing --------------------------------------------


FIFO_AS = {  # (arguments, extra environment, what the line must say)
    "input": (lambda e, f: ["enhance", f, "o.wav", "--method", "wiener"], {},
              "is a FIFO (named pipe), not an audio file"),
    "ckpt": (lambda e, f: ["enhance", e.wav, "o.wav", "--ckpt", f], {},
             "is a FIFO (named pipe), not a file"),
    "default-model": (lambda e, f: ["enhance", e.wav, "o.wav"],
                      {"SEGAN_DEFAULT_MODEL": "{fifo}"}, "which is a FIFO (named pipe)"),
    "config": (lambda e, f: ["enhance", e.wav, "o.wav", "--method", "wiener",
                             "--config", f], {}, "settings file"),
    "info": (lambda e, f: ["info", f], {}, "is a FIFO (named pipe), not a file"),
}


@pytest.mark.parametrize("case", list(FIFO_AS))
def test_a_fifo_is_named_as_one_not_as_missing(env: Env, tmp_path: Path, case: str) -> None:
    """A FIFO given as input or as SEGAN_DEFAULT_MODEL "does not exist"; opening one to
    read would wait for a writer. It is refused at once, saying what it is."""
    fifo = tmp_path / "stream.wav"
    os.mkfifo(fifo)
    args, extra, words = FIFO_AS[case]
    res = subprocess.run([sys.executable, "-m", "segan_cli", *map(str, args(env, fifo))],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env={**os.environ, **{k: v.format(fifo=fifo)
                                               for k, v in extra.items()}})
    assert res.returncode == 2, res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("error:") and words in line and "FIFO" in line
    assert "not found" not in line and "does not exist" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stream.wav"]


def test_a_float_file_beyond_full_scale_is_blamed_not_the_model(cli: Cli, env: Env,
                                                                tmp_path: Path) -> None:
    """A float WAV holding 3e38 overflowed the model (a linear-output adv generator), and
    the message blamed the checkpoint; it now names the input's peak."""
    import segan_cli

    adv = _tiny_checkpoint(tmp_path / "adv.ckpt", "adv", STATS)
    x, sr = sf.read(env.wav, dtype="float32")
    x[1000] = 3e38
    loud = tmp_path / "loud.wav"
    sf.write(loud, x, sr, subtype="FLOAT")
    line = _one_line(cli("enhance", loud, tmp_path / "o.wav", "--ckpt", adv, code=2))
    assert "reach 3e+38, far beyond full scale" in line and "scale the recording" in line
    assert "checkpoint" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adv.ckpt", "loud.wav"]
    with pytest.raises(ModelOutputError, match="far beyond full scale"):
        segan_cli.load(adv).enhance(x, sr)
