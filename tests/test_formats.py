"""Formats of `segan enhance` on real VoiceBank speech: MP3 (and every libsndfile format)
in, the output subtype rule, folders of mixed formats, and `-` for stdin/stdout.

The recordings are read from ../shared/data/voicebank-sample and converted to
MP3/FLAC/OGG/... with soundfile in tmp_path; the model runs use the tiny checkpoint
of tests/conftest.py.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import soxr

from segan_cli.cli.app import app
from segan_cli.core.io import audio
from segan_cli.core.io.audio import output_subtype
from segan_cli.errors import AudioError

NAME = "p232_170"  # the shortest sample recordings (about 2 s)
OTHER = "p257_054"
MP3 = "MP3" in sf.available_formats()
needs_mp3 = pytest.mark.skipif(not MP3, reason="this libsndfile has no MP3 (needs >= 1.1)")


def _speech(sample: Path, name: str = NAME) -> tuple[np.ndarray, int]:
    x, sr = sf.read(sample / "noisy" / f"{name}.wav", dtype="float32")
    return x, sr


def _convert(sample: Path, dst: Path, subtype: str | None = None, name: str = NAME,
             rate: int | None = None) -> Path:
    """A real noisy recording written as ``dst`` (format from its extension)."""
    x, sr = _speech(sample, name)
    if rate is not None and rate != sr:
        x, sr = soxr.resample(x, sr, rate), rate
    dst.parent.mkdir(parents=True, exist_ok=True)
    sf.write(dst, x, sr, subtype=subtype)
    return dst


def _frames(path: Path) -> int:
    """Frames a decoder really gets out of ``path`` (MP3 headers only estimate)."""
    return len(sf.read(path, dtype="float32")[0])


def _method(kind: str, ckpt: Path) -> list[str | Path]:
    return ["--ckpt", ckpt] if kind == "model" else ["--method", "wiener"]


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


@needs_mp3
@pytest.mark.parametrize("kind", ["model", "wiener"])
def test_mp3_in_wav_and_flac_out(cli, tiny_ckpt: Path, voicebank_sample: Path,
                                 tmp_path: Path, kind: str) -> None:
    """Was: the MP3 subtype copied into the WAV (libsndfile refused), and a traceback."""
    src = _convert(voicebank_sample, tmp_path / "m.mp3")
    n = _frames(src)
    for out in ("m.wav", "out.flac"):  # m.wav beside m.mp3: same stem, other file
        cli("enhance", src, tmp_path / out, *_method(kind, tiny_ckpt))
        info = sf.info(tmp_path / out)
        assert (info.samplerate, info.channels, info.frames, info.subtype) == \
            (16000, 1, n, "PCM_16")  # neither container takes MPEG: its default
        y, _ = sf.read(tmp_path / out)
        assert np.all(np.isfinite(y)) and np.std(y) > 1e-4
    if kind == "wiener":  # the filter passes speech: the output follows the input
        x, _ = sf.read(src, dtype="float32")
        y, _ = sf.read(tmp_path / "m.wav", dtype="float32")
        assert np.corrcoef(x, y)[0, 1] > 0.8


# (input extension, input subtype, output extension, expected output subtype)
RULE = [
    (".wav", "PCM_24", ".flac", "PCM_24"),    # FLAC takes 24-bit: kept
    (".wav", "FLOAT", ".flac", "PCM_16"),     # FLAC has no float: its default
    (".flac", "PCM_24", ".wav", "PCM_24"),
    (".ogg", "VORBIS", ".wav", "PCM_16"),     # WAV has no Vorbis
    (".ogg", "VORBIS", ".ogg", "VORBIS"),
    (".wav", "PCM_16", ".ogg", "VORBIS"),     # OGG has no PCM
    (".wav", "ULAW", ".au", "ULAW"),          # AU takes mu-law: kept
    (".wav", "PCM_U8", ".flac", "PCM_16"),
    (".aiff", "PCM_24", ".caf", "PCM_24"),
    (".wav", "PCM_16", ".opus", "OPUS"),      # .opus implies Opus in OGG
    (".mp3", "MPEG_LAYER_III", ".wav", "PCM_16"),  # listed by check_format, unwritable
    (".mp3", "MPEG_LAYER_III", ".mp3", "MPEG_LAYER_III"),
    (".wav", "PCM_16", ".mp3", "MPEG_LAYER_III"),
]


@pytest.mark.parametrize("src_ext,src_subtype,dst_ext,expected", RULE)
def test_subtype_rule(cli, voicebank_sample: Path, tmp_path: Path, src_ext: str,
                      src_subtype: str, dst_ext: str, expected: str) -> None:
    """The input's subtype when the output container takes it, else its default."""
    if "MP3" in (audio.SUFFIX_FORMATS[src_ext], audio.SUFFIX_FORMATS[dst_ext]) and not MP3:
        pytest.skip("this libsndfile has no MP3")
    src = _convert(voicebank_sample, tmp_path / f"in{src_ext}", src_subtype)
    dst = tmp_path / f"out{dst_ext}"
    cli("enhance", src, dst, "--method", "wiener")
    info = sf.info(dst)
    assert info.subtype == expected and info.samplerate == 16000
    if not any(e in (".mp3", ".ogg", ".opus") for e in (src_ext, dst_ext)):  # exact length
        assert info.frames == sf.info(src).frames


def test_subtype_rule_function() -> None:
    """output_subtype itself, including audio no subtype of a container can hold."""
    assert output_subtype("o.flac", "FLAC", "PCM_24", 16000, 2) == "PCM_24"
    assert output_subtype("o.flac", "FLAC", "DOUBLE", 16000, 1) == "PCM_16"
    assert output_subtype("o.wav", "WAV", None, 16000, 1) == "PCM_16"
    with pytest.raises(AudioError, match=r"cannot write o.flac: FLAC cannot hold 9-channel"):
        output_subtype("o.flac", "FLAC", "PCM_16", 16000, 9)
    if MP3:
        assert output_subtype("o.wav", "WAV", "MPEG_LAYER_III", 16000, 1) == "PCM_16"
        with pytest.raises(AudioError, match="sample rates of 8000"):
            output_subtype("o.mp3", "MP3", "PCM_16", 7000, 1)


@needs_mp3
def test_unwritable_rate_is_one_line(cli, voicebank_sample: Path, tmp_path: Path) -> None:
    src = _convert(voicebank_sample, tmp_path / "in.wav", rate=7000)
    res = cli("enhance", src, tmp_path / "o.mp3", "--method", "wiener", code=2)
    line = _one_error_line(res.stderr)
    assert f"cannot write {tmp_path / 'o.mp3'}: MP3 cannot hold 1-channel 7000 Hz" in line
    assert not (tmp_path / "o.mp3").exists()


def test_mp3_output_refused_without_libsndfile_mp3(cli, voicebank_sample: Path,
                                                   tmp_path: Path, monkeypatch) -> None:
    """A libsndfile before 1.1 writes no MP3: one line naming what it can write."""
    monkeypatch.delitem(audio.WRITE_FORMATS, ".mp3", raising=False)
    src = _convert(voicebank_sample, tmp_path / "in.wav")
    res = cli("enhance", src, tmp_path / "o.mp3", "--method", "wiener", code=2)
    line = _one_error_line(res.stderr)
    assert "cannot write MP3" in line and ".wav, .flac, .ogg" in line and ".mp3" not in \
        line.split("write one of")[1]
    res = cli("enhance", src, tmp_path / "o.m4a", "--method", "wiener", code=2)
    assert "unsupported extension .m4a" in _one_error_line(res.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav"]


def test_unreadable_formats_are_one_line(cli, tiny_ckpt: Path, tmp_path: Path) -> None:
    """An M4A (not a libsndfile format) and junk named .mp3: the red line, exit 2."""
    m4a = tmp_path / "talk.m4a"
    m4a.write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(200))
    res = cli("enhance", m4a, tmp_path / "o.wav", "--ckpt", tiny_ckpt, code=2)
    line = _one_error_line(res.stderr)
    assert "cannot read audio file" in line and "M4A is not a format libsndfile reads" in line
    assert "ffmpeg -i talk.m4a talk.wav" in line
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(np.random.default_rng(0).bytes(5000))
    res = cli("enhance", junk, tmp_path / "o.wav", "--method", "wiener", code=2)
    assert "cannot read audio file" in _one_error_line(res.stderr)
    assert not (tmp_path / "o.wav").exists()


def test_folder_of_mixed_formats(cli, tiny_ckpt: Path, voicebank_sample: Path,
                                 tmp_path: Path) -> None:
    """Every readable extension is enhanced; audio libsndfile does not read is named
    with the reason; a broken file named like audio fails by name; notes.txt is no news."""
    src = tmp_path / "in"
    made = {"a.wav": "PCM_16", "b.flac": "PCM_24", "c.ogg": "VORBIS", "sub/e.aiff": "PCM_16",
            "sub/f.au": "PCM_16", "g.caf": "PCM_16", "h.w64": "PCM_16"}
    if MP3:
        made["sub/d.mp3"] = "MPEG_LAYER_III"
    for i, (name, subtype) in enumerate(sorted(made.items())):
        _convert(voicebank_sample, src / name, subtype, name=(NAME, OTHER)[i % 2])
    (src / "notes.txt").write_text("recorded on Monday")
    (src / "song.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(200))
    (src / "sub" / "broken.flac").write_bytes(b"fLaC" + bytes(300))
    out = tmp_path / "out"
    res = cli("enhance", src, "--out", out, "--ckpt", tiny_ckpt, code=1)
    assert f"not enhanced: {src / 'song.m4a'} (M4A is not a format libsndfile reads" in \
        res.stderr
    assert f"failed: {src / 'sub' / 'broken.flac'}" in res.stderr, res.stderr
    assert "notes.txt" not in res.output
    assert f"enhanced {len(made)} file(s)" in res.stdout
    assert "1 file(s) not enhanced" in res.stderr and "1 file(s) failed" in res.stderr
    for name, subtype in made.items():
        a, b = sf.info(src / name), sf.info(out / name)
        assert (b.format, b.subtype, b.samplerate, b.channels) == \
            (a.format, subtype, a.samplerate, a.channels), name
        if not name.endswith((".mp3", ".ogg")):
            assert b.frames == a.frames, name
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == \
        sorted(made)
    # fixed, a re-run resumes: nothing redone, the M4A still named
    (src / "sub" / "broken.flac").unlink()
    res = cli("enhance", src, "--out", out, "--ckpt", tiny_ckpt, code=1)  # still no M4A
    assert f"skipping {len(made)} file(s)" in res.stdout and "song.m4a" in res.stderr


def test_folder_with_only_unreadable_audio(cli, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.wma").write_bytes(bytes(100))
    res = cli("enhance", src, "--out", tmp_path / "out", "--method", "wiener", code=2)
    assert f"not enhanced: {src / 'a.wma'} (WMA is not a format libsndfile reads" in \
        res.stderr
    assert "error: no audio files matching" in res.stderr and "Traceback" not in res.output


def test_stdio_argument_errors(cli, voicebank_sample: Path, tmp_path: Path) -> None:
    src = _convert(voicebank_sample, tmp_path / "in.wav")
    res = cli("enhance", tmp_path, "-", "--method", "wiener", code=2)
    assert "its outputs cannot go to standard output" in _one_error_line(res.stderr)
    res = cli("enhance", "-", "--method", "wiener", code=2)
    assert "where should the output go?" in _one_error_line(res.stderr)
    res = cli("enhance", src, "-", "--out", tmp_path / "o.wav", code=2)
    assert "not both" in _one_error_line(res.stderr)


# ---- standard input and output, through a real process -------------------------------

def _segan(*args: str | Path, stdin: bytes = b"", cwd: Path | None = None
           ) -> subprocess.CompletedProcess:
    """`python -m segan_cli ARGS` with ``stdin`` piped in; stdout and stderr as bytes."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "segan_cli", *map(str, args)],
                          input=stdin, capture_output=True, timeout=600, env=env, cwd=cwd)


def _wav_on_stdout(res: subprocess.CompletedProcess) -> tuple[np.ndarray, Any]:
    """The WAV a run wrote on stdout: exactly one RIFF file and nothing else."""
    assert res.returncode == 0, res.stderr.decode()
    out = res.stdout
    assert out[:4] == b"RIFF" and out[8:12] == b"WAVE"
    size = int.from_bytes(out[4:8], "little")
    if size == 0xFFFFFFFF:  # streamed into a pipe: "length unknown", as arecord writes
        align = int.from_bytes(out[32:34], "little")
        assert out[36:40] == b"data" and (len(out) - 44) % align == 0  # whole frames only
    else:
        assert size + 8 == len(out)  # no byte before or after
    y, _ = sf.read(io.BytesIO(out), dtype="float32", always_2d=True)
    return y, sf.info(io.BytesIO(out))


def test_stdin_to_file_and_file_to_stdout_wiener(voicebank_sample: Path,
                                                 tmp_path: Path) -> None:
    """`segan enhance - out.wav < in.wav` and `segan enhance in.flac - > out.wav` give the
    samples the file path gives; stdout keeps 24-bit (WAV takes it)."""
    wav = voicebank_sample / "noisy" / f"{NAME}.wav"
    ref = tmp_path / "ref.wav"
    assert _segan("enhance", wav, ref, "--method", "wiener").returncode == 0
    res = _segan("enhance", "-", tmp_path / "o.wav", "--method", "wiener",
                 stdin=wav.read_bytes())
    assert res.returncode == 0 and res.stdout.decode().startswith("enhanced 1 file(s)")
    assert sf.info(tmp_path / "o.wav").subtype == "PCM_16"
    assert np.array_equal(sf.read(tmp_path / "o.wav")[0], sf.read(ref)[0])
    # the output guard holds for a file named beside `-` (not for stdout)
    res = _segan("enhance", "-", tmp_path / "o.wav", "--method", "wiener",
                 stdin=wav.read_bytes())
    assert res.returncode == 2
    assert "output exists" in _one_error_line(res.stderr.decode())

    flac = _convert(voicebank_sample, tmp_path / "in.flac", "PCM_24")
    assert _segan("enhance", flac, tmp_path / "ref24.wav", "--method", "wiener"
                  ).returncode == 0
    y, info = _wav_on_stdout(_segan("enhance", flac, "-", "--method", "wiener"))
    assert info.subtype == "PCM_24" and info.samplerate == 16000
    assert np.array_equal(y, sf.read(tmp_path / "ref24.wav", dtype="float32",
                                      always_2d=True)[0])


@needs_mp3
def test_pipe_through_the_model(tiny_ckpt: Path, voicebank_sample: Path,
                                tmp_path: Path) -> None:
    """`cat in.mp3 | segan enhance --ckpt C - - > out.wav`: PCM_16 WAV on stdout (MPEG
    does not fit WAV), the samples of the file path, notes on stderr only."""
    mp3 = _convert(voicebank_sample, tmp_path / "in.mp3", name=OTHER)
    cli_ref = tmp_path / "ref.wav"
    assert _segan("enhance", mp3, cli_ref, "--ckpt", tiny_ckpt).returncode == 0
    res = _segan("enhance", "-", "-", "--ckpt", tiny_ckpt, stdin=mp3.read_bytes())
    y, info = _wav_on_stdout(res)
    assert (info.subtype, info.samplerate, info.frames) == ("PCM_16", 16000, _frames(mp3))
    assert np.array_equal(y, sf.read(cli_ref, dtype="float32", always_2d=True)[0])
    assert "standard output" in res.stderr.decode()  # the summary went to stderr


@pytest.mark.parametrize("data,message", [
    (np.random.default_rng(3).bytes(6000), "cannot read audio from standard input: not in "
                                           "an audio format libsndfile recognises"),
    (b"", "no audio on standard input"),
])
def test_bad_stdin_is_one_line(tmp_path: Path, data: bytes, message: str) -> None:
    res = _segan("enhance", "-", "-", "--method", "wiener", stdin=data, cwd=tmp_path)
    assert res.returncode == 2 and res.stdout == b""
    assert message in _one_error_line(res.stderr.decode())
    assert list(tmp_path.iterdir()) == []


def test_stdin_cut_short_is_enhanced_with_a_warning(cli, voicebank_sample: Path,
                                                    tmp_path: Path) -> None:
    """A WAV cut short in the pipe (its header promises more) is enhanced as far as it
    goes, with the one warning line files get (in-process: the runner's stdin)."""
    data = (voicebank_sample / "noisy" / f"{NAME}.wav").read_bytes()
    res = cli.runner.invoke(app, ["enhance", "-", str(tmp_path / "o.flac"), "--method",
                                  "wiener"], input=data[:30044])
    assert res.exit_code == 0, res.output
    assert "warning: standard input is cut short: its header promises 2.09 s" in res.stderr
    assert sf.info(tmp_path / "o.flac").frames == 15000  # (30044 - 44) / 2 bytes


@pytest.mark.parametrize("ext,subtype", [(".ogg", "VORBIS"), (".ogg", "OPUS"),
                                         (".wav", "PCM_16")])
def test_a_file_cut_short_warns_in_every_container(cli, voicebank_sample: Path,
                                                   tmp_path: Path, ext: str,
                                                   subtype: str) -> None:
    """A truncated OGG gave a shorter output without a word (libsndfile takes its length
    from the last page present); WAV warned. Both warn now, in enhance and evaluate; a
    whole file does not."""
    x, sr = sf.read(voicebank_sample / "noisy" / f"{NAME}.wav", dtype="float32")
    for kind in ("whole", "cut"):
        (tmp_path / kind).mkdir()
        sf.write(tmp_path / kind / f"{NAME}{ext}", x, sr, subtype=subtype)
    (tmp_path / "clean").mkdir()
    sf.write(tmp_path / "clean" / f"{NAME}.wav", x, sr)
    cut = tmp_path / "cut" / f"{NAME}{ext}"
    cut.write_bytes(cut.read_bytes()[:len(cut.read_bytes()) * 3 // 5])
    for kind in ("whole", "cut"):
        src = tmp_path / kind / f"{NAME}{ext}"
        res = cli("enhance", src, tmp_path / f"{kind}-out.wav", "--method", "wiener")
        warned = [ln for ln in res.stderr.splitlines() if "cut short" in ln]
        assert len(warned) == (kind == "cut"), res.stderr
        assert sf.info(tmp_path / f"{kind}-out.wav").frames == sf.info(src).frames
        res = cli("evaluate", "--clean", tmp_path / "clean", "--enhanced", tmp_path / kind,
                  "--workers", "1")
        assert ("cut short" in " ".join(res.stderr.split())) == (kind == "cut"), res.stderr


def test_corpus_and_scoring_folders_take_every_readable_format(
        cli, voicebank_sample: Path, tmp_path: Path) -> None:
    """prepare pairs and evaluate --clean/--enhanced pair files by name whatever their
    container (CAF, AU, W64 and FLAC here: lossless, so the lengths match)."""
    names = ["p232_003", "p232_005", "p257_008", "p257_019"]
    exts = [".caf", ".au", ".w64", ".flac"]
    for kind in ("clean", "noisy"):
        for name, ext in zip(names, exts, strict=True):
            x, sr = sf.read(voicebank_sample / kind / f"{name}.wav", dtype="float32")
            (tmp_path / kind).mkdir(exist_ok=True)
            sf.write(tmp_path / kind / f"{name}{ext}", x, sr, subtype="PCM_16")
    cli("prepare", "pairs", "--clean", tmp_path / "clean", "--noisy", tmp_path / "noisy",
        "--out", tmp_path / "corpus", "--test-speakers", "p257")
    from segan_cli.core.data.pipeline.manifest import load_manifest

    manifest = load_manifest(tmp_path / "corpus")
    assert sorted(u.id for s in manifest.splits.values() for u in s) == names
    res = cli("evaluate", "--clean", tmp_path / "clean", "--enhanced", tmp_path / "noisy",
              "--workers", "1")
    assert "4/4" in res.stdout
