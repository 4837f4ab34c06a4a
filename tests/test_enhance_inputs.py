"""`segan enhance` with several inputs, a default output name, and the message for a
second argument that is an existing recording (issue 19, item 2), on real recordings."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

NAMES = ("p232_005", "p232_006", "p257_008")


def _noisy(voicebank_sample: Path, tmp_path: Path, exts=(".wav", ".wav", ".flac")
           ) -> list[Path]:
    """Three real noisy recordings as files of the user's (a FLAC among them)."""
    out = []
    for name, ext in zip(NAMES, exts, strict=True):
        x, sr = sf.read(voicebank_sample / "noisy" / f"{name}.wav", dtype="float32")
        path = tmp_path / "rec" / f"{name}{ext}"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, x, sr, subtype="PCM_16")
        out.append(path)
    return out


def test_several_inputs_into_a_folder(cli, tiny_ckpt: Path, voicebank_sample: Path,
                                      tmp_path: Path) -> None:
    a, b, c = _noisy(voicebank_sample, tmp_path)
    before = [p.read_bytes() for p in (a, b, c)]
    res = cli("enhance", a, b, c, "--out", tmp_path / "out", "--ckpt", tiny_ckpt)
    assert "enhanced 3 file(s)" in res.stdout
    for src in (a, b, c):
        got, want = sf.info(tmp_path / "out" / src.name), sf.info(src)
        assert (got.frames, got.samplerate, got.format) == \
            (want.frames, want.samplerate, want.format)
    assert [p.read_bytes() for p in (a, b, c)] == before  # inputs untouched
    # a re-run resumes: finished outputs are skipped, never replaced
    (tmp_path / "out" / b.name).unlink()
    res = cli("enhance", a, b, c, "--out", tmp_path / "out", "--ckpt", tiny_ckpt)
    assert "skipping 2 file(s)" in res.stdout and (tmp_path / "out" / b.name).is_file()


def test_several_inputs_mix_files_and_a_folder(cli, voicebank_sample: Path,
                                               tmp_path: Path) -> None:
    a, b, _ = _noisy(voicebank_sample, tmp_path)
    folder = tmp_path / "more"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(b, folder / "sub" / "x.wav")
    cli("enhance", a, folder, "--out", tmp_path / "out", "--method", "wiener")
    assert (tmp_path / "out" / a.name).is_file()
    assert (tmp_path / "out" / "more" / "sub" / "x.wav").is_file()


def test_second_argument_that_is_a_recording_is_not_an_output(cli, tiny_ckpt: Path,
                                                              voicebank_sample: Path,
                                                              tmp_path: Path) -> None:
    """`segan enhance a.wav b.wav` (DeepFilterNet's way) once advised --overwrite, and
    following that advice replaced b.wav. Now the error names the likely mistake."""
    a, b, _ = _noisy(voicebank_sample, tmp_path)
    kept = b.read_bytes()
    res = cli("enhance", a, b, "--ckpt", tiny_ckpt, code=2)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert f"{b} is an existing recording; to enhance several files give --out DIR" in lines[0]
    assert "--overwrite" not in res.stderr and "Traceback" not in res.output
    assert b.read_bytes() == kept
    # an existing file that is not audio is still an output that exists
    notes = tmp_path / "notes.wav"
    notes.write_text("not audio")
    res = cli("enhance", a, notes, "--ckpt", tiny_ckpt, code=2)
    assert "output exists" in res.stderr and notes.read_text() == "not audio"
    # three inputs without --out: say what to add
    res = cli("enhance", a, b, tmp_path / "c.wav", "--ckpt", tiny_ckpt, code=2)
    assert "3 inputs need an output folder" in res.stderr and "--out DIR" in res.stderr


def test_omitted_output_goes_beside_the_input(cli, tiny_ckpt: Path, voicebank_sample: Path,
                                              tmp_path: Path) -> None:
    a, _, c = _noisy(voicebank_sample, tmp_path)
    cli("enhance", a, "--ckpt", tiny_ckpt)
    cli("enhance", c, "--ckpt", tiny_ckpt)
    for src in (a, c):
        made = src.with_name(f"{src.stem}.enhanced{src.suffix}")
        assert sf.info(made).frames == sf.info(src).frames
    # never clobbering: a second run refuses the existing default output
    made = a.with_name(f"{a.stem}.enhanced.wav")
    stamp = made.stat().st_mtime_ns
    res = cli("enhance", a, "--ckpt", tiny_ckpt, code=2)
    assert "output exists" in res.stderr and made.stat().st_mtime_ns == stamp


def test_missing_input_fails_before_the_model_loads(cli, tmp_path: Path, monkeypatch) -> None:
    """`input not found` took 6.4 s because the model loaded first; now it comes before
    any checkpoint is read (a missing checkpoint would be the error otherwise)."""
    import segan_cli.core.api as api

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr(api.Denoiser, "open", no_loading)
    res = cli("enhance", tmp_path / "gone.wav", tmp_path / "o.wav", code=2)
    assert "input not found" in res.stderr
    res = cli("enhance", tmp_path / "gone.wav", code=2)
    assert "input not found" in res.stderr
    x = np.zeros(1600, np.float32)
    sf.write(tmp_path / "ok.wav", x, 16000)
    res = cli("enhance", tmp_path / "ok.wav", tmp_path / "gone.wav", "--out", tmp_path / "d",
              code=2)
    assert "not both" in res.stderr
    res = cli("enhance", tmp_path / "ok.wav", tmp_path / "ok.wav", tmp_path / "nope.flac",
              "--out", tmp_path / "d", code=2)
    assert "input not found" in res.stderr
