"""Live pipes (issue 19, item 3): `segan enhance - -` enhances a WAV stream as it comes,
writing each finished block at once: a slow writer sees audio come back before it has
finished writing, as `arecord -f S16_LE -r 16000 | segan enhance - - | aplay` needs."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

HEADER = 44


def _stream_header(rate: int, channels: int = 1) -> bytes:
    """A WAV header as arecord writes it to a pipe: PCM_16, lengths unknown."""
    align = 2 * channels
    return (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, channels, rate, rate * align, align, 16) + b"data"
        + struct.pack("<I", 0xFFFFFFFF))


def _live(args: list[str], pcm: bytes, rate: int, pieces: int, pause: float
          ) -> tuple[float | None, float, bytes, str]:
    """Run `segan enhance - - ARGS`, writing ``pcm`` in ``pieces`` with ``pause`` between
    them; (when the first audio came back, when the writer finished, stdout, stderr)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "segan_cli", "enhance", "-", "-", *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    got: list[bytes] = []
    first: list[float] = []

    def reader() -> None:
        assert proc.stdout is not None
        while piece := proc.stdout.read1(65536):
            got.append(piece)
            if not first and sum(map(len, got)) > HEADER:
                first.append(time.monotonic())

    thread = threading.Thread(target=reader)
    thread.start()
    assert proc.stdin is not None
    proc.stdin.write(_stream_header(rate))
    step = len(pcm) // pieces // 2 * 2
    for i in range(pieces):
        proc.stdin.write(pcm[i * step:(i + 1) * step if i < pieces - 1 else len(pcm)])
        proc.stdin.flush()
        time.sleep(pause)
    done = time.monotonic()
    proc.stdin.close()
    thread.join(timeout=600)
    proc.wait(timeout=600)
    assert proc.stderr is not None
    return (first[0] if first else None), done, b"".join(got), proc.stderr.read().decode()


@pytest.mark.parametrize("method", ["wiener", "model"])
def test_output_comes_before_the_input_ends(tiny_ckpt: Path, voicebank_sample: Path,
                                            method: str) -> None:
    x, rate = sf.read(voicebank_sample / "noisy" / "p232_005.wav", dtype="int16")
    x = np.tile(x, 3)  # ~6 s of real speech, written over ~6 s
    args = ["--method", "wiener"] if method == "wiener" else ["--ckpt", str(tiny_ckpt)]
    first, done, out, err = _live(args, x.tobytes(), rate, pieces=24, pause=0.25)
    assert first is not None, err
    assert first < done - 1.0, (first, done)  # audio came back while input still flowed
    assert out[:4] == b"RIFF" and int.from_bytes(out[4:8], "little") == 0xFFFFFFFF
    y = np.frombuffer(out[HEADER:], dtype="<i2")
    assert len(y) == len(x)  # same length: nothing lost at the end
    assert np.std(y) > 0


def test_streamed_output_equals_the_file_path(voicebank_sample: Path, tmp_path: Path) -> None:
    """What the pipe gives is what `segan enhance in.wav out.wav` writes."""
    src = voicebank_sample / "noisy" / "p232_005.wav"
    x, rate = sf.read(src, dtype="int16")
    _, _, out, err = _live(["--method", "wiener"], x.tobytes(), rate, pieces=4, pause=0.0)
    subprocess.run([sys.executable, "-m", "segan_cli", "enhance", str(src),
                    str(tmp_path / "ref.wav"), "--method", "wiener"], check=True,
                   capture_output=True)
    ref, _ = sf.read(tmp_path / "ref.wav", dtype="int16")
    assert np.array_equal(np.frombuffer(out[HEADER:], dtype="<i2"), ref), err
