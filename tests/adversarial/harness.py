"""Adversarial pass over every ``segan`` command: bad inputs and injected faults.

Each case runs ``.venv/bin/segan ...`` as a real subprocess in a fresh sandbox that
holds a planted victim set (a recording, a checkpoint, a CSV), and is classified:

- ``clear error``: exit 2 (1 for a folder run with bad files, 130/143 for signals),
  one error line, no traceback, nothing written, every victim byte-identical;
- ``warned``: exit 0, a correct result and a warning naming the bad input;
- ``ok``: a valid input that succeeded with a correct result (controls, odd inputs);
- ``unclear``: refused, but in more than one line, without the expected words, or
  leaving files behind; ``refused``: a valid input refused;
- ``traceback``: a traceback, a timeout or an exit code outside {0, 1, 2, 130, 143};
- ``silent-wrong``: exit 0 with a wrong result (NaN, empty, full-scale, short, fewer
  items, ...) and no word about it;
- ``data loss``: a victim or input changed or removed, a write outside the chosen
  output location, or code run from a crafted file.

A tiny checkpoint is trained once at the start (``configs/tiny.yaml --arch adv
--max-steps 2``) on a corpus made by ``segan prepare pairs`` from
``../shared/data/voicebank-sample`` cut to 1.5 s. The script renices itself to 19 and
runs at most two cases at a time with one thread each.

    nice -n 19 .venv/bin/python -m tests.adversarial --json adversarial.json

``--all`` adds the extended matrix (every input kind for every command, ~590 cases,
hours on a loaded machine); ``--only WORD`` runs the cases whose id contains WORD;
``--keep`` keeps every sandbox (failing ones are kept when the pass fails). Exits 1
when any case is a traceback, silent-wrong, data loss, unclear or refused.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import os
import pickle
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
SEGAN = REPO / ".venv" / "bin" / "segan"
PYTHON = REPO / ".venv" / "bin" / "python"
SAMPLE = REPO.parent / "shared" / "data" / "voicebank-sample"
TINY = REPO / "configs" / "tiny.yaml"
SR = 16000
CODES = {0, 1, 2, 130, 143}
FAILING = ("traceback", "silent-wrong", "data loss", "unclear", "refused")
OUTCOMES = ("ok", "clear error", "warned", *FAILING, "not run")
TEMP = re.compile(r"\.segan-\d+-[a-z0-9_]+\.tmp")
PRECIOUS_CSV = b"file,pesq\nonly_copy.wav,3.1\n"
VALID = {"p232_021": "p286_021", "p232_022": "p286_022", "p232_023": "p286_023"}
MARKER = "PWNED"  # a crafted file that runs code would create this in the sandbox

Check = Callable[[Path, str], "str | None"]


# -- assets built once ---------------------------------------------------------------


@dataclass
class Assets:
    """Shared read-only inputs: sources, corpus, checkpoints, a packaged model."""

    root: Path
    clean: Path
    noisy: Path
    corpus: Path
    ckpt: Path
    ckpt_b: Path
    packaged: Path
    speech: np.ndarray = field(repr=False)
    clean_speech: np.ndarray = field(repr=False)

    @property
    def run(self) -> Path:
        return self.ckpt.parent.parent

    def places(self, sandbox: Path) -> dict[str, str]:
        return {"S": str(sandbox), "ckpt": str(self.ckpt), "ckpt_b": str(self.ckpt_b),
                "corpus": str(self.corpus), "clean": str(self.clean), "noisy": str(self.noisy),
                "tiny": str(TINY), "packaged": str(self.packaged), "wav": "in/x.wav"}


def env(extra: dict[str, str] | None = None, home: Path | None = None) -> dict[str, str]:
    """One thread, no colour, no wrapping, no default-model override unless asked."""
    e = {k: v for k, v in os.environ.items() if k != "SEGAN_DEFAULT_MODEL"}
    e.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
             COLUMNS="400", NO_COLOR="1", TERM="dumb", PYTHONDONTWRITEBYTECODE="1")
    if home is not None:
        e.update(HOME=str(home), MPLCONFIGDIR=str(home / "mpl"))
    e.update(extra or {})
    return e


HOME: Path | None = None


def segan(args: list[str], cwd: Path, timeout: float = 900,
          extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(SEGAN), *args], cwd=cwd, env=env(extra, HOME), text=True,
                          capture_output=True, timeout=timeout, errors="replace")


def build_assets(root: Path) -> Assets:
    """Sources cut to 1.5 s, a corpus, a 2-step tiny adv checkpoint and its variants."""
    import torch

    if not SAMPLE.is_dir():
        sys.exit(f"reference audio not found at {SAMPLE}")
    root.mkdir(parents=True, exist_ok=True)
    clean, noisy = root / "src" / "clean", root / "src" / "noisy"
    ckpt, packaged = root / "run" / "checkpoints" / "last.ckpt", root / "default.pt"
    if (root / "ready").is_file():  # built by an earlier pass with this --work
        return _assets(root, clean, noisy, ckpt, packaged)
    for kind, folder in (("clean", clean), ("noisy", noisy)):
        folder.mkdir(parents=True, exist_ok=True)
        for path in sorted((SAMPLE / kind).glob("*.wav")):
            x, sr = sf.read(path, dtype="float32")
            name = VALID.get(path.stem, path.stem)  # a validation speaker (p286)
            sf.write(folder / f"{name}.wav", x[: 24000], sr, subtype="PCM_16")
    print("building the corpus and a tiny checkpoint ...", flush=True)
    res = segan(["prepare", "pairs", "--clean", str(clean), "--noisy", str(noisy),
                 "--out", str(root / "corpus"), "--test-speakers", "p257"], root)
    if res.returncode:
        sys.exit(f"segan prepare pairs failed:\n{res.stderr[-3000:]}")
    res = segan(["train", "--data", str(root / "corpus"), "--config", str(TINY), "--arch",
                 "adv", "--max-steps", "2", "--out", str(root / "run")], root)
    if res.returncode or not ckpt.is_file():
        sys.exit(f"segan train failed ({res.returncode}):\n{res.stderr[-3000:]}")
    data = torch.load(ckpt, map_location="cpu", weights_only=False)
    for key, value in data["state_dict"].items():
        if key.startswith("generator.") and value.is_floating_point():
            data["state_dict"][key] = value * 1.05  # another model, same shapes
    torch.save(data, root / "b.ckpt")
    res = subprocess.run([str(PYTHON), str(REPO / "scripts" / "package_default.py"), str(ckpt),
                          "--out", str(packaged)], cwd=root, env=env(home=HOME),
                         capture_output=True, text=True)
    if res.returncode:
        sys.exit(f"package_default.py failed:\n{res.stderr[-3000:]}")
    (root / "ready").write_text("")
    return _assets(root, clean, noisy, ckpt, packaged)


def _assets(root: Path, clean: Path, noisy: Path, ckpt: Path, packaged: Path) -> Assets:
    speech, _ = sf.read(noisy / "p232_005.wav", dtype="float32")
    clean_speech, _ = sf.read(clean / "p232_005.wav", dtype="float32")
    return Assets(root, clean, noisy, root / "corpus", ckpt, root / "b.ckpt", packaged,
                  speech, clean_speech)


# -- audio inputs --------------------------------------------------------------------


def wav_bytes(x: np.ndarray, sr: int = SR, subtype: str = "PCM_16") -> bytes:
    path = Path(tempfile.mkstemp(suffix=".wav")[1])
    try:
        sf.write(path, x, sr, subtype=subtype, format="WAV")
        return path.read_bytes()
    finally:
        path.unlink()


def patched(x: np.ndarray, offset: int, fmt: str, value: int) -> bytes:
    """A valid 16-bit WAV with one header field replaced."""
    data = bytearray(wav_bytes(x))
    struct.pack_into(fmt, data, offset, value)
    return bytes(data)


def speech_file(path: Path, a: Assets, seconds: float = 1.5, sr: int = SR,
                channels: int = 1, subtype: str | None = None, scale: float = 1.0) -> None:
    n = int(seconds * SR)
    x = a.speech[:n] * scale
    if sr != SR:
        x = np.interp(np.arange(int(n * sr / SR)) * SR / sr, np.arange(n), x)
    if channels > 1:
        x = np.stack([x * (0.5 + 0.5 * c / channels) for c in range(channels)], axis=1)
    sf.write(path, x.astype(np.float32), sr, subtype=subtype)


def _write(data: bytes) -> Callable[[Path, Assets], None]:
    return lambda p, a: p.write_bytes(data)


def _float_with(value: float, where: slice = slice(100, 200)) -> Callable[[Path, Assets], None]:
    def write(p: Path, a: Assets) -> None:
        x = a.speech.copy()
        x[where] = value
        sf.write(p, x, SR, subtype="FLOAT")
    return write


def _cut(keep: float) -> Callable[[Path, Assets], None]:
    def write(p: Path, a: Assets) -> None:
        data = wav_bytes(a.speech)
        p.write_bytes(data[: 44 + int((len(data) - 44) * keep)])
    return write


def _huge_promise(p: Path, a: Assets) -> None:
    data = bytearray(wav_bytes(a.speech))
    struct.pack_into("<I", data, 40, 0x7FFFFF00)  # the data chunk's size
    p.write_bytes(bytes(data))


def _square(p: Path, a: Assets) -> None:
    t = np.arange(SR)
    sf.write(p, np.sign(np.sin(2 * np.pi * 200 * t / SR)).astype(np.float32) * 0.99997, SR)


@dataclass(frozen=True)
class Audio:
    """A kind of input recording: ``bad`` (refuse), ``ok``, ``odd`` (either) or
    ``short`` (its header promises more audio than it holds: warn)."""

    name: str
    nature: str
    ext: str
    write: Callable[[Path, Assets], None] | None


AUDIO = [
    Audio("missing", "bad", ".wav", None),
    Audio("empty", "bad", ".wav", _write(b"")),
    Audio("zero-frames", "odd", ".wav", lambda p, a: sf.write(p, np.zeros(0, np.float32), SR)),
    Audio("random-bytes", "bad", ".wav", _write(np.random.default_rng(1).bytes(8192))),
    Audio("text", "bad", ".wav", _write(b"this is not a recording\n" * 20)),
    Audio("png", "bad", ".wav", _write(b"\x89PNG\r\n\x1a\n" + bytes(400))),
    Audio("truncated-header", "bad", ".wav", lambda p, a: p.write_bytes(wav_bytes(a.speech)[:20])),
    Audio("header-only", "short", ".wav", _cut(0.0)),
    Audio("promises-more", "short", ".wav", _cut(0.6)),
    Audio("huge-promise", "short", ".wav", _huge_promise),
    Audio("nan-samples", "bad", ".wav", _float_with(np.nan)),
    Audio("inf-samples", "bad", ".wav", _float_with(np.inf)),
    Audio("all-nan", "bad", ".wav", _float_with(np.nan, slice(None))),
    Audio("directory", "bad", ".wav", lambda p, a: p.mkdir()),
    Audio("dangling-symlink", "bad", ".wav", lambda p, a: p.symlink_to(p.parent / "nowhere.wav")),
    Audio("rate-8k", "ok", ".wav", lambda p, a: speech_file(p, a, sr=8000)),
    Audio("rate-4k", "ok", ".wav", lambda p, a: speech_file(p, a, sr=4000)),
    Audio("rate-44k1", "ok", ".wav", lambda p, a: speech_file(p, a, 0.5, sr=44100)),
    Audio("rate-1", "odd", ".wav", lambda p, a: sf.write(p, a.speech[:50], 1)),
    Audio("rate-384k", "odd", ".wav", lambda p, a: speech_file(p, a, 0.25, sr=384000)),
    Audio("rate-0-header", "bad", ".wav",
          lambda p, a: p.write_bytes(patched(a.speech, 24, "<I", 0))),
    Audio("channels-0-header", "bad", ".wav",
          lambda p, a: p.write_bytes(patched(a.speech, 22, "<H", 0))),
    Audio("bits-7-header", "odd", ".wav",
          lambda p, a: p.write_bytes(patched(a.speech, 34, "<H", 7))),
    Audio("stereo", "ok", ".wav", lambda p, a: speech_file(p, a, channels=2)),
    Audio("six-channels", "ok", ".wav", lambda p, a: speech_file(p, a, 0.5, channels=6)),
    Audio("1024-channels", "odd", ".wav", lambda p, a: speech_file(p, a, 0.05, channels=1024)),
    Audio("one-sample", "odd", ".wav", lambda p, a: sf.write(p, a.speech[:1], SR)),
    Audio("ten-samples", "odd", ".wav", lambda p, a: sf.write(p, a.speech[:10], SR)),
    Audio("silence", "ok", ".wav", lambda p, a: sf.write(p, np.zeros(SR, np.float32), SR)),
    Audio("full-scale-square", "ok", ".wav", _square),
    Audio("dc-offset", "ok", ".wav", lambda p, a: sf.write(p, a.speech * 0.1 + 0.8, SR)),
    Audio("beyond-full-scale", "odd", ".wav",
          lambda p, a: sf.write(p, a.speech * 40, SR, subtype="FLOAT")),
    Audio("denormals", "ok", ".wav",
          lambda p, a: sf.write(p, a.speech * 1e-38, SR, subtype="FLOAT")),
    Audio("ulaw", "ok", ".wav", lambda p, a: speech_file(p, a, subtype="ULAW")),
    Audio("pcm24", "ok", ".wav", lambda p, a: speech_file(p, a, subtype="PCM_24")),
    Audio("pcm-u8", "ok", ".wav", lambda p, a: speech_file(p, a, subtype="PCM_U8")),
    Audio("float64", "ok", ".wav", lambda p, a: speech_file(p, a, subtype="DOUBLE")),
    Audio("flac", "ok", ".flac", lambda p, a: speech_file(p, a)),
    Audio("ogg", "ok", ".ogg", lambda p, a: speech_file(p, a)),
    Audio("mp3", "odd", ".mp3", lambda p, a: speech_file(p, a)),
    Audio("aiff", "odd", ".aiff", lambda p, a: speech_file(p, a)),
    Audio("wav-named-flac", "odd", ".flac", lambda p, a: p.write_bytes(wav_bytes(a.speech))),
    Audio("rf64", "odd", ".wav", lambda p, a: sf.write(p, a.speech, SR, format="RF64")),
]
AUDIO_BY_NAME = {k.name: k for k in AUDIO}
MODEL_KINDS = {"missing", "empty", "random-bytes", "promises-more", "nan-samples",
               "directory", "rate-8k", "rate-1", "channels-0-header", "stereo", "one-sample",
               "silence", "beyond-full-scale", "flac", "1024-channels", "huge-promise"}
CORE_SCORED = {"empty", "nan-samples", "promises-more", "rate-8k", "stereo", "silence"}
SCORED_KINDS = {"empty", "zero-frames", "random-bytes", "truncated-header", "header-only",
                "promises-more", "nan-samples", "inf-samples", "directory", "dangling-symlink",
                "rate-8k", "rate-1", "stereo", "one-sample", "silence", "channels-0-header"}


def decoded(path: Path) -> tuple[np.ndarray, int] | None:
    """What soundfile decodes from ``path`` (always 2-D), or None."""
    try:
        x, sr = sf.read(os.fsencode(path), dtype="float64", always_2d=True)
    except Exception:  # noqa: BLE001 - anything unreadable
        return None
    return x, sr


def audio_verdict(out: Path, src: Path | None) -> str | None:
    """Why ``out`` is not a correct enhancement of ``src`` (None when it is)."""
    if not out.is_file():
        return f"{out.name} was not written"
    got = decoded(out)
    if got is None:
        return f"{out.name} cannot be decoded"
    y, sr = got
    if not np.all(np.isfinite(y)):
        return f"{out.name} holds NaN/Inf"
    ref = decoded(src) if src is not None else None
    if ref is not None:
        x, rate = ref
        if sr != rate:
            return f"{out.name} at {sr} Hz, input at {rate} Hz"
        if y.shape != x.shape:
            return f"{out.name} has shape {y.shape}, input {x.shape}"
        finite = np.where(np.isfinite(x), np.abs(x), 0)
        clipped_in = float(np.mean(finite >= 0.999)) if x.size else 0.0
        if y.size and np.mean(np.abs(y) >= 0.999) > max(0.05, 2 * clipped_in):
            return f"{out.name} is mostly full-scale"
    elif y.size == 0:
        return f"{out.name} is empty"
    return None


# -- cases ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One command run in a fresh sandbox and what a correct outcome is.

    ``expect``: ``error`` (refuse), ``ok``, ``either`` (refuse clearly or succeed
    correctly), ``warn`` (succeed with a warning naming ``warn_word``, or refuse),
    ``partial`` (a folder run: exit 1 naming ``warn_word``, the others complete).
    """

    group: str
    name: str
    args: tuple[str, ...]
    setup: Callable[[Path, Assets], str | None] | None = None
    expect: str = "error"
    check: Check | None = None
    outs: tuple[str, ...] = ("out",)
    may_change: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    says: tuple[str, ...] = ()
    warn_word: str = ""
    kind: str = "bad"
    leaves_ok: bool = False  # complete files may stay after a refusal (prepare, train)
    core: bool = True  # in the default pass; the rest run with --all
    timeout: float = 300
    teardown: Callable[[Path], None] | None = None

    @property
    def id(self) -> str:
        return f"{self.group}/{self.name}"


def fill(text: str, places: dict[str, str]) -> str:
    """Replace ``{name}`` by ``places[name]`` (other braces stay)."""
    return re.sub(r"\{(\w+)\}", lambda m: places.get(m.group(1), m.group(0)), text)


def sh(text: str) -> tuple[str, ...]:
    return tuple(shlex.split(text))


def plant(sandbox: Path, a: Assets) -> None:
    """The victim set every case must leave byte-identical, and a good input."""
    (sandbox / "victim").mkdir(parents=True)
    (sandbox / "in").mkdir()
    shutil.copyfile(a.noisy / "p232_003.wav", sandbox / "victim" / "rec.wav")
    shutil.copyfile(a.ckpt, sandbox / "victim" / "model.ckpt")
    (sandbox / "victim" / "scores.csv").write_bytes(PRECIOUS_CSV)
    shutil.copyfile(a.noisy / "p232_005.wav", sandbox / "in" / "x.wav")


def steps(*funcs: Callable[[Path, Assets], Any]) -> Callable[[Path, Assets], str | None]:
    """Run setup steps in order; the first reason not to run wins."""
    def run(s: Path, a: Assets) -> str | None:
        for f in funcs:
            reason = f(s, a)
            if isinstance(reason, str):
                return reason
        return None
    return run


def audio_at(rel: str, kind: Audio) -> Callable[[Path, Assets], None]:
    def make(s: Path, a: Assets) -> None:
        path = s / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind.write is not None:
            kind.write(path, a)
    return make


def good_folder(rel: str, names: tuple[str, ...] = ("a", "b"), seconds: float = 0.5):
    def make(s: Path, a: Assets) -> None:
        (s / rel).mkdir(parents=True, exist_ok=True)
        for name in names:
            speech_file(s / rel / f"{name}.wav", a, seconds)
    return make


def pair_folders(rel: str = "in", n: int = 4, seconds: float = 1.0):
    """in/clean and in/noisy with speakers p1..pn, one real utterance each."""
    def make(s: Path, a: Assets) -> None:
        for side in ("clean", "noisy"):
            (s / rel / side).mkdir(parents=True, exist_ok=True)
        samples = sorted(a.clean.glob("*.wav"))
        for i in range(n):
            m = int(seconds * SR)
            c, _ = sf.read(samples[i], dtype="float32")
            x, _ = sf.read(a.noisy / samples[i].name, dtype="float32")
            sf.write(s / rel / "clean" / f"p{i + 1}_0.wav", c[:m], SR)
            sf.write(s / rel / "noisy" / f"p{i + 1}_0.wav", x[:m], SR)
    return make


def noise_folder(rel: str = "in/noise", n: int = 3):
    def make(s: Path, a: Assets) -> None:
        (s / rel).mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(sorted(a.noisy.glob("*.wav"))[:n]):
            x, _ = sf.read(a.noisy / name.name, dtype="float32")
            c, _ = sf.read(a.clean / name.name, dtype="float32")
            sf.write(s / rel / f"n{i + 1}.wav", (x - c)[: SR], SR)
    return make


def copy_tree(src_attr: str, rel: str):
    def make(s: Path, a: Assets) -> None:
        shutil.copytree(getattr(a, src_attr), s / rel, symlinks=True)
    return make


def write_text(rel: str, text: str | bytes):
    def make(s: Path, a: Assets) -> None:
        path = s / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.replace(b"{S}", str(s).encode()) if isinstance(text, bytes) else \
            text.replace("{S}", str(s)).encode()
        path.write_bytes(data)
    return make


def symlink(rel: str, target: str):
    def make(s: Path, a: Assets) -> None:
        (s / rel).parent.mkdir(parents=True, exist_ok=True)
        (s / rel).symlink_to(target)
    return make


def mkdir(rel: str):
    return lambda s, a: (s / rel).mkdir(parents=True, exist_ok=True)


# -- verdicts on an exit-0 result ------------------------------------------------------


def enhanced(out: str, src: str | None) -> Check:
    def check(s: Path, text: str) -> str | None:
        return audio_verdict(s / out, s / src if src else None)
    return check


def folder_enhanced(out: str, src: str, bad: str | None = None) -> Check:
    """Every readable input of ``src`` has a correct output; ``bad`` may be absent."""
    def check(s: Path, text: str) -> str | None:
        for path in sorted((s / src).rglob("*")):
            rel = path.relative_to(s / src)
            if path.is_dir() or (bad and bad in (path.stem, rel.parts[0])):
                continue
            dst = s / out / rel
            if not dst.exists():
                dst = dst.with_suffix(".wav")
            verdict = audio_verdict(dst, path)
            if verdict:
                return verdict
        return None
    return check


def corpus_check(out: str, utterances: int) -> Check:
    """A corpus of ``utterances`` finite, not full-scale files (or a word on fewer)."""
    def check(s: Path, text: str) -> str | None:
        manifest = s / out / "manifest.json"
        if not manifest.is_file():
            return "no manifest.json"
        splits = json.loads(manifest.read_text())["splits"]
        n = sum(len(v) for v in splits.values())
        if n < utterances and not re.search(r"(skip|missing|warning|note|without)", text, re.I):
            return f"{n} of {utterances} utterances, no word about the rest"
        for wav in (s / out).rglob("*.wav"):
            verdict = audio_verdict(wav, None)
            if verdict:
                return verdict
        return None
    return check


def says_word(*words: str) -> Check:
    def check(s: Path, text: str) -> str | None:
        missing = [w for w in words if w.lower() not in text.lower()]
        return f"output does not say {missing}" if missing else None
    return check


def exists(*rels: str) -> Check:
    def check(s: Path, text: str) -> str | None:
        missing = [r for r in rels if not (s / r).is_file() or not (s / r).stat().st_size]
        return f"missing or empty: {missing}" if missing else None
    return check


def scored(n: int) -> Check:
    """The table's last column shows n files scored per row (or a note for the rest)."""
    def check(s: Path, text: str) -> str | None:
        counts = re.findall(r"(\d+)/(\d+)\s*│?\s*$", text, re.M)
        if not counts:
            return "no scores printed"
        for done, total in counts:
            if int(total) < n and "not" not in text.lower():
                return f"{done}/{total} scored of {n}, no word about the rest"
            if int(done) < int(total) and "not scored" not in text.lower():
                return f"{done}/{total} scored, no word about the rest"
        return None
    return check


def all_of(*checks: Check) -> Check:
    def check(s: Path, text: str) -> str | None:
        for c in checks:
            verdict = c(s, text)
            if verdict:
                return verdict
        return None
    return check


# -- the bad-input table ---------------------------------------------------------------


def audio_cases() -> list[Case]:
    cases: list[Case] = []
    single_expect = {"bad": "error", "ok": "ok", "odd": "either", "short": "warn"}
    for k in AUDIO:
        src = f"in/bad{k.ext}"
        put = audio_at(src, k)
        check = enhanced("out/o.wav", src)
        cases.append(Case("audio-enhance-model", k.name,
                          (*sh("enhance"), src, *sh("out/o.wav --ckpt {ckpt}")), put,
                          single_expect[k.nature], check, warn_word="bad",
                          core=k.name in MODEL_KINDS))
        cases.append(Case("audio-enhance-wiener", k.name,
                          (*sh("enhance"), src, *sh("out/o.wav --method wiener")), put,
                          single_expect[k.nature], check, warn_word="bad"))
        if k.name not in ("missing",):
            folder = {"bad": "partial", "ok": "ok", "odd": "either", "short": "warn"}[k.nature]
            cases.append(Case("audio-enhance-folder", k.name,
                              sh("enhance in/d --out out --method wiener"),
                              steps(good_folder("in/d"), audio_at(f"in/d/bad{k.ext}", k)),
                              folder, folder_enhanced("out", "in/d", None if k.nature == "ok"
                                                      else "bad"),
                              warn_word="bad", core=k.name in MODEL_KINDS))
        if k.name in SCORED_KINDS:
            cases.append(Case("audio-evaluate", k.name,
                              sh("evaluate --clean in/clean --enhanced in/enh --workers 1"),
                              steps(good_folder("in/clean", ("a", "b", "bad"), 1.0),
                                    good_folder("in/enh", ("a", "b"), 1.0),
                                    audio_at("in/enh/bad.wav", k)),
                              "warn" if k.nature in ("bad", "short") else "either", scored(3),
                              warn_word="bad", core=k.name in CORE_SCORED))
            cases.append(Case("audio-prepare-pairs", k.name,
                              sh("prepare pairs --clean in/clean --noisy in/noisy --out out/c "
                                 "--test-speakers p4"),
                              steps(pair_folders(), lambda s, a, k=k: (
                                  (s / "in/noisy/p3_0.wav").unlink(),
                                  audio_at("in/noisy/p3_0.wav", k)(s, a))),
                              {"bad": "error", "ok": "either", "odd": "either",
                               "short": "warn"}[k.nature], corpus_check("out/c", 4),
                              warn_word="p3_0", core=k.name in CORE_SCORED))
    for k in (AUDIO_BY_NAME[n] for n in ("empty", "random-bytes", "nan-samples", "inf-samples",
                                         "all-nan", "promises-more", "stereo", "rate-8k",
                                         "silence", "directory", "one-sample", "flac")):
        cases.append(Case("audio-prepare-mix", k.name,
                          sh("prepare mix --clean in/clean --noise in/noise --out out/c "
                             "--test-speakers p4"),
                          steps(pair_folders(), noise_folder(),
                                audio_at(f"in/noise/n9{k.ext}", k)),
                          {"bad": "error", "ok": "either", "odd": "either",
                           "short": "warn"}[k.nature], corpus_check("out/c", 4),
                          warn_word="n9", core=k.name in CORE_SCORED))
    return cases


SETTINGS: list[tuple[str, tuple[str, ...] | bytes]] = [
    ("unknown-key", ("data.foo=1",)),
    ("typo", ("train.bach_size=8",)),
    ("unknown-section", ("foo.bar=1",)),
    ("no-section", ("window=8192",)),
    ("no-equals", ("data.window",)),
    ("empty-value", ("data.window=",)),
    ("empty-key", ("=5",)),
    ("wrong-type", ("data.window=abc",)),
    ("list-for-int", ("data.window=[1,2]",)),
    ("fraction-for-int", ("data.window=1024.5",)),
    ("bool-for-int", ("data.window=true",)),
    ("huge-window", ("data.window=999999488",)),
    ("window-1e9", ("data.window=1e9",)),
    ("nan-window", ("data.window=.nan",)),
    ("nan-lr", ("train.lr_g=.nan",)),
    ("huge-kernel", ("model.kernel_size=100001",)),
    ("huge-channels", ("model.encoder_channels=[100000]",)),
    ("too-many-layers", ("model.encoder_channels=[4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4]",)),
    ("negative-hop", ("data.hop=-1",)),
    ("negative-batch", ("train.batch_size=-4",)),
    ("zero-enhance-batch", ("enhance.batch_size=0",)),
    ("huge-block", ("enhance.block_seconds=1e12",)),
    ("sample-rate-1", ("data.sample_rate=1",)),
    ("unknown-enum", ("enhance.chunking=bogus",)),
    ("inverted-snr-range", ("data.augment.snr_db=[40,-5]",)),
    ("inverted-speed-range", ("data.augment.speed=[1.25,0.8]",)),
    ("speed-out-of-range", ("data.augment.speed=[3,4]",)),
    ("negative-augment-seed", ("data.augment.seed=-1",)),
    ("no-noise-family", ("data.augment.noise={corpus: 0, coloured: 0, speech_shaped: 0, "
                         "babble: 0, tonal: 0, impulsive: 0}",)),
    ("negative-gain", ("data.augment.gain_db=-3",)),
    ("huge-snr", ("data.train_snrs=[1e308]",)),
    ("hop-over-window", ("data.window=1024", "data.hop=4096")),
    ("non-utf8", b"data:\n  window: 1024 \xe9\n"),
    ("utf16", "data:\n  window: 1024\n".encode("utf-16")),
    ("binary", bytes(range(256)) * 4),
    ("nul-byte", b"data:\n  window: \x00\n"),
    ("python-apply-tag", b'data: !!python/object/apply:os.system ["touch {S}/PWNED"]\n'),
    ("python-name-tag", b"data: !!python/name:os.system\n"),
    ("python-new-tag", b'data: !!python/object/new:subprocess.Popen [["touch", "{S}/PWNED"]]\n'),
    ("custom-tag", b"data: !foo {window: 1024}\n"),
    ("deep-nesting", b"data: " + b"[" * 20000 + b"]" * 20000 + b"\n"),
    ("deep-mappings", b"data:" + b"".join(b"\n" + b" " * i + b"k:" for i in range(1, 400))
     + b" 1\n"),
    ("billion-laughs", b"".join(
        [b'x0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n']
        + [f"x{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]\n".encode() for i in range(1, 9)]
        + [b"data:\n  valid_speakers: *a8\n"])),
    ("top-level-list", b"- data\n- window\n"),
    ("top-level-scalar", b"just a string\n"),
    ("huge-file", b"# " + b"x" * (2 << 20) + b"\n"),
    ("syntax-error", b"data: {window: [1024\n"),
    ("tab-indent", b"data:\n\twindow: 1024\n"),
    ("typo-in-file", b"data:\n  windw: 1024\n"),
    ("section-not-mapping", b"data: 5\n"),
    ("inverted-range-in-file", b"data:\n  augment:\n    snr_db: [40, -5]\n"),
    ("config-missing", b""),
    ("config-directory", b""),
]


CORE_SETTINGS = {"unknown-key", "huge-window", "inverted-snr-range", "non-utf8",
                 "python-apply-tag", "config-missing"}


def settings_setup(name: str, spec: tuple[str, ...] | bytes):
    if isinstance(spec, tuple):
        return None
    if name == "config-missing":
        return lambda s, a: None
    if name == "config-directory":
        return mkdir("in/bad.yaml")
    return write_text("in/bad.yaml", spec)


def settings_args(spec: tuple[str, ...] | bytes) -> tuple[str, ...]:
    if isinstance(spec, tuple):
        return tuple(t for kv in spec for t in ("--set", kv))
    return ("--config", "in/bad.yaml")


def settings_cases() -> list[Case]:
    commands = {
        "enhance": ("enhance {wav} out/o.wav --method wiener", None),
        "train": ("train --data {corpus} --out out/run --max-steps 1 --batch-size 2", "tiny"),
        "prepare-pairs": ("prepare pairs --clean {clean} --noisy {noisy} --out out/c", None),
        "evaluate": ("evaluate --clean in/c --enhanced in/e --workers 1", None),
        "prepare-mix": ("prepare mix --clean in/clean --noise in/noise --out out/c", None),
    }
    few = {"unknown-key", "wrong-type", "huge-window", "inverted-snr-range", "non-utf8",
           "python-apply-tag", "billion-laughs", "deep-nesting", "binary", "config-missing",
           "negative-hop", "top-level-list"}
    many = {"typo", "no-equals", "nan-lr", "huge-channels", "negative-batch", "sample-rate-1",
            "inverted-speed-range", "no-noise-family", "hop-over-window", "python-name-tag",
            "huge-file", "utf16"}
    extra = {"evaluate": steps(good_folder("in/c", ("a",)), good_folder("in/e", ("a",))),
             "prepare-mix": steps(pair_folders(), noise_folder())}
    cases = []
    for command, (text, base) in commands.items():
        for name, spec in SETTINGS:
            if command != "enhance" and name not in few | (many if command == "train" else set()):
                continue
            args = sh(text) + settings_args(spec)
            if base == "tiny" and isinstance(spec, tuple):
                args += ("--config", "{tiny}")  # a real run if the fault is missed
            setup = [f for f in (extra.get(command), settings_setup(name, spec)) if f]
            core = command == "enhance" or name in CORE_SETTINGS
            cases.append(Case(f"settings-{command}", name, args, steps(*setup), core=core))
    return cases


# -- crafted checkpoints ---------------------------------------------------------------


class _Exploit:
    """A pickle whose loading would run a shell command."""

    def __init__(self, command: str, func: Any = os.system) -> None:
        self.command, self.func = command, func

    def __reduce__(self) -> tuple:
        return (self.func, (self.command,))


def crafted(edit: Callable[[dict[str, Any], Path], Any]) -> Callable[[Path, Path, Assets], None]:
    """A copy of the tiny checkpoint edited in place (or replaced by edit's return)."""
    def write(path: Path, s: Path, a: Assets) -> None:
        import torch

        data = torch.load(a.ckpt, map_location="cpu", weights_only=False)
        new = edit(data, s)
        torch.save(data if new is None else new, path)
    return write


def _first_gen(data: dict[str, Any]) -> str:
    return next(k for k, v in data["state_dict"].items()
                if k.startswith("generator.") and v.is_floating_point() and v.numel() > 4)


def _poison(value: float) -> Callable[[dict, Path], None]:
    def edit(data: dict, s: Path) -> None:
        key = _first_gen(data)
        data["state_dict"][key] = data["state_dict"][key].clone()
        data["state_dict"][key].view(-1)[3] = value
    return edit


def _setting(section: str, key: str, value: Any) -> Callable[[dict, Path], None]:
    def edit(data: dict, s: Path) -> None:
        data["hyper_parameters"]["settings"][section][key] = value
    return edit


def _stats(key: str, value: Any) -> Callable[[dict, Path], None]:
    def edit(data: dict, s: Path) -> None:
        stats = data["hyper_parameters"].get("stats") or {
            "noisy_mean": 0.0, "noisy_std": 0.1, "clean_mean": 0.0, "clean_std": 0.1}
        data["hyper_parameters"]["stats"] = {**stats, key: value}
    return edit


def _zscore_without_stats(data: dict, s: Path) -> None:
    data["hyper_parameters"]["settings"]["model"]["input_norm"] = "zscore"
    data["hyper_parameters"]["stats"] = None


def _wrong_arch(data: dict, s: Path) -> None:
    model = data["hyper_parameters"]["settings"]["model"]
    model["arch"] = "adv" if model["arch"] == "segan" else "segan"
    model["head"] = "seed"


def _drop(key: str) -> Callable[[dict, Path], None]:
    return lambda data, s: data.pop(key)


def _state(how: str) -> Callable[[dict, Path], None]:
    def edit(data: dict, s: Path) -> None:
        import torch

        key = _first_gen(data)
        if how == "shape":
            data["state_dict"][key] = torch.zeros(1)
        elif how == "string":
            data["state_dict"][key] = "weights"
        elif how == "missing":
            del data["state_dict"][key]
        elif how == "extra":
            data["state_dict"]["generator.extra.weight"] = torch.zeros(3)
        elif how == "half":
            data["state_dict"] = {k: v.half() if v.is_floating_point() else v
                                  for k, v in data["state_dict"].items()}
    return edit


def _exploit_torch(data: dict, s: Path) -> Any:
    return {"state_dict": data["state_dict"], "hyper_parameters": _Exploit(
        f"touch {s}/{MARKER}")}


def _raw_pickle(func: Any) -> Callable[[Path, Path, Assets], None]:
    def write(path: Path, s: Path, a: Assets) -> None:
        arg = f"touch {s}/{MARKER}" if func is os.system else \
            f"open({str(s / MARKER)!r}, 'w').close()"
        path.write_bytes(pickle.dumps(_Exploit(arg, func)))
    return write


def _zip_garbage(path: Path, s: Path, a: Assets) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", b"garbage")
        z.writestr("archive/version", b"3\n")


def _truncate(frac: float | int) -> Callable[[Path, Path, Assets], None]:
    def write(path: Path, s: Path, a: Assets) -> None:
        data = a.ckpt.read_bytes()
        path.write_bytes(data[: frac if isinstance(frac, int) else int(len(data) * frac)])
    return write


def _exported(path: Path, s: Path, a: Assets) -> None:
    res = segan(["export", "--ckpt", str(a.ckpt), "--out", str(path)], s)
    if res.returncode:
        raise RuntimeError(res.stderr)


def _expanded(data: dict, s: Path) -> None:
    """Six 1024-channel layers (490 M weights), each tensor one value expanded: a 13 kB
    file whose generator would take 2 GB."""
    import torch

    from segan_cli.core.models import build_generator
    from segan_cli.settings import validate_settings

    settings = data["hyper_parameters"]["settings"]
    settings["model"]["encoder_channels"] = [1024] * 6
    model = validate_settings(settings, "crafted").model
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in build_generator(
            model, settings["data"]["window"]).state_dict().items()}
    data["state_dict"] = {f"generator.{k}": torch.zeros(()).expand(v) for k, v in shapes.items()}


def _shared_storage(data: dict, s: Path) -> None:
    """Every float tensor a view of one storage: each fits it, together they do not."""
    import torch

    state = data["state_dict"]
    store = torch.zeros(max(v.numel() for v in state.values()))
    data["state_dict"] = {k: store[:v.numel()].view(v.shape) if v.is_floating_point() else v
                          for k, v in state.items()}


def _deflated(path: Path, s: Path, a: Assets) -> None:
    """The checkpoint's archive re-zipped with compression and a megabyte of zeros: it
    unpacks to far more than its size (torch writes archives uncompressed)."""
    with zipfile.ZipFile(a.ckpt) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info) + bytes(1 << 20) * (
                info.filename.endswith("version")))


CKPTS: list[tuple[str, str, Callable[[Path, Path, Assets], None] | None]] = [
    ("missing", "bad", None),
    ("empty", "bad", lambda p, s, a: p.write_bytes(b"")),
    ("directory", "bad", lambda p, s, a: p.mkdir()),
    ("random-bytes", "bad", lambda p, s, a: p.write_bytes(np.random.default_rng(2).bytes(9999))),
    ("text", "bad", lambda p, s, a: p.write_text("not a checkpoint\n")),
    ("a-recording", "bad", lambda p, s, a: shutil.copyfile(a.noisy / "p232_003.wav", p)),
    ("truncated-half", "bad", _truncate(0.5)),
    ("truncated-100-bytes", "bad", _truncate(100)),
    ("zip-of-garbage", "bad", _zip_garbage),
    ("nan-weight", "model", crafted(_poison(float("nan")))),
    ("inf-weight", "model", crafted(_poison(float("inf")))),
    ("nan-stats", "model", crafted(_stats("noisy_std", float("nan")))),
    ("inf-mean", "model", crafted(_stats("clean_mean", float("inf")))),
    ("zero-std", "model", crafted(_stats("clean_std", 0.0))),
    ("stats-a-string", "model", crafted(lambda d, s: d["hyper_parameters"].update(stats="x"))),
    ("sample-rate-1", "bad", crafted(_setting("data", "sample_rate", 1))),
    ("window-1e9", "bad", crafted(_setting("data", "window", 1e9))),
    ("window-999999488", "bad", crafted(_setting("data", "window", 999999488))),
    ("window-1000", "bad", crafted(_setting("data", "window", 1000))),
    ("channels-100000", "bad", crafted(_setting("model", "encoder_channels", [100000]))),
    ("kernel-100001", "bad", crafted(_setting("model", "kernel_size", 100001))),
    ("too-many-layers", "bad", crafted(_setting("model", "encoder_channels", [8] * 1000))),
    ("unknown-setting", "bad", crafted(_setting("model", "bogus", 1))),
    ("zscore-without-stats", "model", crafted(_zscore_without_stats)),
    ("wrong-arch", "model", crafted(_wrong_arch)),
    ("no-state-dict", "bad", crafted(_drop("state_dict"))),
    ("no-hyper-parameters", "bad", crafted(_drop("hyper_parameters"))),
    ("settings-a-string", "bad",
     crafted(lambda d, s: d["hyper_parameters"].update(settings="data: 5"))),
    ("tensor-wrong-shape", "model", crafted(_state("shape"))),
    ("tensor-a-string", "model", crafted(_state("string"))),
    ("tensor-missing", "model", crafted(_state("missing"))),
    ("tensor-extra", "odd", crafted(_state("extra"))),
    ("half-precision", "odd", crafted(_state("half"))),
    ("negative-step", "odd", crafted(lambda d, s: d.update(global_step=-5))),
    ("a-list", "bad", crafted(lambda d, s: [1, 2, 3])),
    ("pickle-os-system", "bad", _raw_pickle(os.system)),
    ("pickle-eval", "bad", _raw_pickle(eval)),
    ("torch-zip-exploit", "bad", crafted(_exploit_torch)),
    ("torchscript-export", "odd", _exported),
    ("packaged-model", "odd", lambda p, s, a: shutil.copyfile(a.packaged, p)),
    ("expanded-tensors", "bad", crafted(_expanded)),
    ("shared-storage", "bad", crafted(_shared_storage)),
    ("deflated-archive", "bad", _deflated),
]


CORE_CKPTS = {"truncated-half", "nan-weight", "nan-stats", "sample-rate-1", "pickle-os-system",
              "torch-zip-exploit", "expanded-tensors", "shared-storage", "deflated-archive"}


def ckpt_setup(write: Callable[[Path, Path, Assets], None] | None):
    def make(s: Path, a: Assets) -> None:
        if write is not None:
            write(s / "in" / "c.ckpt", s, a)
    return make


def checkpoint_cases() -> list[Case]:
    commands = {
        "enhance": ("enhance {wav} out/o.wav --ckpt in/c.ckpt",
                    enhanced("out/o.wav", "in/x.wav")),
        "info": ("info in/c.ckpt", None),
        "export": ("export --ckpt in/c.ckpt --out out/g.pt", exists("out/g.pt")),
        "evaluate": ("evaluate --data {corpus} --no-wiener --ckpt in/c.ckpt --workers 1",
                     scored(5)),
        "init-from": ("train --data {corpus} --init-from in/c.ckpt --out out/run --max-steps 1 "
                      "--batch-size 2", exists("out/run/checkpoints/last.ckpt")),
    }
    few = {"missing", "truncated-half", "nan-weight", "nan-stats", "sample-rate-1",
           "channels-100000", "zscore-without-stats", "wrong-arch", "pickle-os-system",
           "torch-zip-exploit", "tensor-wrong-shape", "random-bytes", "tensor-a-string",
           "pickle-eval", "window-1e9", "no-state-dict", "expanded-tensors", "shared-storage",
           "deflated-archive"}
    cases = []
    for command, (text, check) in commands.items():
        for name, nature, write in CKPTS:
            if command in ("evaluate", "init-from", "info", "export") and name not in few:
                continue
            expect = "either" if nature == "odd" or (command == "info" and nature == "model") \
                else "error"
            if command == "info" and check is None:
                check = says_word("arch")
            core = name in few and (command in ("enhance", "info") or name in CORE_CKPTS)
            cases.append(Case(f"ckpt-{command}", name, sh(text), ckpt_setup(write), expect,
                              check, timeout=600, core=core))
    return cases


# -- outputs, workers, corpora, the default model --------------------------------------


W = "--method wiener"
EVAL = "evaluate --clean in/c --enhanced in/e --workers 1"
EVAL_SETUP = steps(good_folder("in/c", ("a",)), good_folder("in/e", ("a",)))
FOLDER = good_folder("in/d")


def output_cases() -> list[Case]:
    o = "outputs"
    victim_rec = "victim/rec.wav"
    return [
        Case(o, "enhance-existing", sh(f"enhance {{wav}} {victim_rec} {W}"), says=("exists",)),
        Case(o, "enhance-model-existing", sh(f"enhance {{wav}} {victim_rec} --ckpt {{ckpt}}"),
             says=("exists",)),
        Case(o, "export-existing", sh("export --ckpt {ckpt} --out victim/model.ckpt"),
             says=("exists",)),
        Case(o, "export-onnx-existing",
             sh("export --ckpt {ckpt} --out out/g.pt --onnx victim/model.ckpt")),
        Case(o, "evaluate-csv-existing", sh(f"{EVAL} --csv victim/scores.csv"), EVAL_SETUP,
             says=("exists",)),
        Case(o, "evaluate-json-existing", sh(f"{EVAL} --json victim/scores.csv"), EVAL_SETUP,
             says=("exists",)),
        Case(o, "stats-plot-existing", sh(f"stats {{corpus}} --plot {victim_rec}"),
             says=("exists",)),
        Case(o, "export-dotdot", sh("export --ckpt {ckpt} --out nodir/../victim/model.ckpt"),
             says=("exists",)),
        Case(o, "enhance-dotdot", sh(f"enhance {{wav}} nodir/../{victim_rec} {W}"),
             says=("exists",)),
        Case(o, "evaluate-json-dotdot", sh(f"{EVAL} --json nodir/../victim/scores.csv"),
             EVAL_SETUP, says=("exists",)),
        Case(o, "stats-plot-dotdot", sh(f"stats {{corpus}} --plot nodir/../{victim_rec}"),
             says=("exists",)),
        Case(o, "enhance-symlink", sh(f"enhance {{wav}} out/link.wav {W}"),
             symlink("out/link.wav", "../victim/rec.wav")),
        Case(o, "export-symlink", sh("export --ckpt {ckpt} --out out/link.ckpt"),
             symlink("out/link.ckpt", "../victim/model.ckpt")),
        Case(o, "evaluate-csv-symlink", sh(f"{EVAL} --csv out/link.csv"),
             steps(EVAL_SETUP, symlink("out/link.csv", "../victim/scores.csv"))),
        Case(o, "stats-plot-symlink", sh("stats {corpus} --plot out/link.png"),
             symlink("out/link.png", "../victim/rec.wav")),
        Case(o, "folder-symlink-out-of-out", sh(f"enhance in/d --out out {W}"),
             steps(FOLDER, audio_at("in/d/sub/rec.wav", AUDIO_BY_NAME["stereo"]),
                   symlink("out/sub", "../victim")), says=("outside",)),
        Case(o, "glob-dotdot", sh(f"enhance in/d --out out --glob ../../victim/*.wav {W}"),
             FOLDER, says=("--glob",)),
        Case(o, "glob-sub-dotdot",
             sh(f"enhance in/d --out out --glob sub/../../../victim/*.wav {W}"),
             steps(FOLDER, mkdir("in/d/sub")), says=("--glob",)),
        Case(o, "glob-absolute", sh(f"enhance in/d --out out --glob {{S}}/victim/*.wav {W}"),
             FOLDER, says=("--glob",)),
        Case(o, "glob-doublestar-dotdot",
             sh(f"enhance in/d --out out --glob **/../../../victim/*.wav {W}"),
             steps(FOLDER, mkdir("in/d/sub")), says=("--glob",)),
        Case(o, "glob-etc", sh(f"enhance in/d --out out --glob /etc/* {W}"), FOLDER),
        Case(o, "glob-parent-star", sh(f"enhance in/d --out out --glob ../* {W}"), FOLDER),
        Case(o, "glob-empty", ("enhance", "in/d", "--out", "out", "--glob", "", *sh(W)),
             FOLDER, "either", folder_enhanced("out", "in/d")),
        Case(o, "glob-unclosed-bracket", sh(f"enhance in/d --out out --glob [ {W}"), FOLDER,
             "either", says_word("0")),
        Case(o, "input-is-output", sh(f"enhance {{wav}} {{wav}} {W} --overwrite"),
             says=("input",)),
        Case(o, "input-is-output-dotdot", sh(f"enhance {{wav}} in/../in/x.wav {W} --overwrite"),
             says=("input",)),
        Case(o, "output-symlink-to-input", sh(f"enhance {{wav}} out/l.wav {W} --overwrite"),
             symlink("out/l.wav", "../in/x.wav")),
        Case(o, "output-hardlink-to-input", sh(f"enhance {{wav}} out/h.wav {W} --overwrite"),
             steps(mkdir("out"), lambda s, a: os.link(s / "in/x.wav", s / "out/h.wav")),
             "either", enhanced("out/h.wav", "in/x.wav"), may_change=("out/h.wav",)),
        Case(o, "export-onto-its-checkpoint",
             sh("export --ckpt victim/model.ckpt --out victim/model.ckpt --overwrite"),
             says=("input",)),
        Case(o, "evaluate-json-onto-checkpoint",
             sh("evaluate --data {corpus} --no-wiener --ckpt victim/model.ckpt --json "
                "victim/model.ckpt --overwrite"), says=("input",)),
        Case(o, "folder-into-itself", sh(f"enhance in/d --out in/d {W} --overwrite"), FOLDER),
        Case(o, "folder-into-itself-dotdot", sh(f"enhance in/d --out in/d/../d {W}"), FOLDER),
        Case(o, "folder-out-inside-in", sh(f"enhance in/d --out in/d/o {W}"), FOLDER, "either",
             folder_enhanced("in/d/o", "in/d", "o"), outs=("in/d/o",)),
        Case(o, "folder-out-is-a-file", sh(f"enhance in/d --out {victim_rec} {W}"), FOLDER),
        Case(o, "folder-without-out", sh(f"enhance in/d {W}"), FOLDER),
        Case(o, "file-without-output", sh(f"enhance {{wav}} {W}")),
        Case(o, "output-twice", sh(f"enhance {{wav}} out/a.wav --out out/b.wav {W}")),
        Case(o, "train-out-is-a-file",
             sh("train --data {corpus} --out victim/model.ckpt --config {tiny} --max-steps 1")),
        Case(o, "prepare-out-is-a-file",
             sh(f"prepare pairs --clean {{clean}} --noisy {{noisy}} --out {victim_rec}")),
        Case(o, "prepare-into-foreign-folder",
             sh("prepare pairs --clean {clean} --noisy {noisy} --out victim --force"),
             expect="either", check=corpus_check("victim", 25), outs=("victim",)),
        Case(o, "unknown-extension", sh(f"enhance {{wav}} out/o.xyz {W}")),
        Case(o, "no-extension", sh(f"enhance {{wav}} out/o {W}"), expect="either",
             check=enhanced("out/o", "in/x.wav")),
        Case(o, "mp3-output", sh(f"enhance {{wav}} out/o.mp3 {W}"), expect="either",
             check=exists("out/o.mp3")),
        Case(o, "missing-parents", sh(f"enhance {{wav}} out/new/deep/o.wav {W}"),
             expect="either", check=enhanced("out/new/deep/o.wav", "in/x.wav")),
        Case(o, "output-an-existing-dir", sh(f"enhance {{wav}} out {W}"), mkdir("out"),
             "either", enhanced("out/x.wav", "in/x.wav")),
        Case(o, "stats-plot-not-png", sh("stats {corpus} --plot out/p.txt"), expect="either",
             check=exists("out/p.txt")),
        Case(o, "evaluate-csv-equals-json", sh(f"{EVAL} --csv out/a.csv --json out/a.csv"),
             EVAL_SETUP),
        Case(o, "export-onnx-equals-out",
             sh("export --ckpt {ckpt} --out out/g.pt --onnx out/g.pt")),
        Case(o, "export-onnx-missing-package",
             sh("export --ckpt {ckpt} --out out/g.pt --onnx out/g.onnx"), expect="either",
             check=exists("out/g.pt", "out/g.onnx")),
        # controls: valid outputs, and --overwrite replacing exactly the named file
        Case(o, "control-enhance", sh(f"enhance {{wav}} out/o.wav {W}"), expect="ok",
             check=enhanced("out/o.wav", "in/x.wav"), kind="control"),
        Case(o, "control-enhance-model", sh("enhance {wav} out/o.flac --ckpt {ckpt}"),
             expect="ok", check=enhanced("out/o.flac", "in/x.wav"), kind="control"),
        Case(o, "control-overwrite", sh(f"enhance {{wav}} {victim_rec} {W} --overwrite"),
             expect="ok", check=enhanced(victim_rec, "in/x.wav"), outs=("victim",),
             may_change=(victim_rec,), kind="control"),
        Case(o, "control-folder", sh(f"enhance in/d --out out {W}"), FOLDER, "ok",
             folder_enhanced("out", "in/d"), kind="control"),
        Case(o, "control-export", sh("export --ckpt {ckpt} --out out/g.pt"), expect="ok",
             check=exists("out/g.pt"), kind="control"),
        Case(o, "control-evaluate", sh(f"{EVAL} --csv out/a.csv --json out/a.json"),
             EVAL_SETUP, "ok", all_of(exists("out/a.csv", "out/a.json"), scored(1)),
             kind="control"),
        Case(o, "control-stats-plot", sh("stats {corpus} --plot out/p.png"), expect="ok",
             check=exists("out/p.png"), kind="control"),
        Case(o, "control-info", sh("info {ckpt}"), expect="ok", check=says_word("adv"),
             kind="control"),
    ]


def option_cases() -> list[Case]:
    g = "options"
    folder = sh(f"enhance in/d --out out {W}")
    return [
        Case(g, "workers-32", (*folder, "--workers", "32"), FOLDER, "either",
             all_of(folder_enhanced("out", "in/d"), says_word("capped"))),
        Case(g, "workers-0", (*folder, "--workers", "0")),
        Case(g, "workers-negative", (*folder, "--workers", "-3")),
        Case(g, "workers-not-a-number", (*folder, "--workers", "abc")),
        Case(g, "workers-huge", (*folder, "--workers", "99999999999999999999999"), FOLDER,
             "either", folder_enhanced("out", "in/d")),
        Case(g, "evaluate-workers-32", sh(f"{EVAL} --workers 32"), EVAL_SETUP, "either",
             all_of(scored(1), says_word("capped"))),
        Case(g, "evaluate-workers-0", sh(f"{EVAL} --workers 0"), EVAL_SETUP),
        Case(g, "batch-size-0", sh("enhance {wav} out/o.wav --ckpt {ckpt} --batch-size 0")),
        Case(g, "batch-size-huge",
             sh("enhance {wav} out/o.wav --ckpt {ckpt} --batch-size 100000000")),
        Case(g, "chunking-bogus", sh("enhance {wav} out/o.wav --ckpt {ckpt} --chunking bogus")),
        Case(g, "method-bogus", sh("enhance {wav} out/o.wav --method bogus")),
        Case(g, "device-cuda-absent", sh("enhance {wav} out/o.wav --ckpt {ckpt} --device cuda")),
        Case(g, "device-bogus", sh("enhance {wav} out/o.wav --ckpt {ckpt} --device tpu9")),
        Case(g, "seed-negative", sh("enhance {wav} out/o.wav --ckpt {ckpt} --seed -1"),
             expect="either", check=enhanced("out/o.wav", "in/x.wav")),
        Case(g, "evaluate-mode-bogus", sh(f"{EVAL} --mode bogus"), EVAL_SETUP),
        Case(g, "evaluate-split-missing", sh("evaluate --data {corpus} --split nosuch")),
        Case(g, "evaluate-nothing", sh("evaluate")),
        Case(g, "evaluate-data-and-clean", sh(f"{EVAL} --data {{corpus}}"), EVAL_SETUP),
        Case(g, "evaluate-more-names", sh(f"{EVAL} --name a --name b"), EVAL_SETUP),
        Case(g, "evaluate-ckpt-with-clean", sh(f"{EVAL} --ckpt {{ckpt}}"), EVAL_SETUP),
        Case(g, "train-max-steps-negative",
             sh("train --data {corpus} --config {tiny} --out out/run --max-steps -7")),
        Case(g, "train-batch-size-0",
             sh("train --data {corpus} --config {tiny} --out out/run --batch-size 0")),
        Case(g, "train-devices-bogus",
             sh("train --data {corpus} --config {tiny} --out out/run --devices abc "
                "--max-steps 1")),
        Case(g, "train-accelerator-gpu-absent",
             sh("train --data {corpus} --config {tiny} --out out/run --accelerator gpu "
                "--max-steps 1")),
        Case(g, "train-precision-bogus",
             sh("train --data {corpus} --config {tiny} --out out/run --precision 7-bit")),
        Case(g, "train-arch-bogus",
             sh("train --data {corpus} --config {tiny} --out out/run --arch resnet")),
        Case(g, "train-resume-nothing",
             sh("train --data {corpus} --config {tiny} --out out/run --resume --max-steps 1")),
        Case(g, "train-resume-and-init",
             sh("train --data {corpus} --out out/run --resume --init-from {ckpt}")),
        Case(g, "prepare-demo-bad-size", sh("prepare demo --out out/c --size huge")),
        Case(g, "prepare-voicebank-no-source", sh("prepare voicebank --out out/c")),
        Case(g, "prepare-voicebank-from-missing",
             sh("prepare voicebank --out out/c --from in/nowhere")),
        Case(g, "prepare-voicebank-from-garbage",
             sh("prepare voicebank --out out/c --from in/g"),
             steps(mkdir("in/g"), write_text("in/g/clean_trainset_28spk_wav.zip", "no zip"))),
        Case(g, "unknown-command", sh("frobnicate")),
        Case(g, "unknown-option", sh("enhance {wav} out/o.wav --frobnicate")),
        Case(g, "info-missing", sh("info in/nothing.ckpt")),
        Case(g, "info-run-folder-empty", sh("info in/run"), mkdir("in/run")),
        Case(g, "info-run-folder", sh("info {S}/in/run"), copy_tree("run", "in/run"),
             expect="either", check=says_word("arch")),
    ]


def _corpus_copy(edit: Callable[[Path], None] | None = None):
    def make(s: Path, a: Assets) -> None:
        shutil.copytree(a.corpus, s / "in" / "corpus")
        if edit is not None:
            edit(s / "in" / "corpus")
    return make


def _trunc(rel: str, keep: float = 0.5) -> Callable[[Path], None]:
    def edit(c: Path) -> None:
        data = (c / rel).read_bytes()
        (c / rel).write_bytes(data[: int(len(data) * keep)])
    return edit


def _manifest(edit: Callable[[dict], Any]) -> Callable[[Path], None]:
    def do(c: Path) -> None:
        m = json.loads((c / "manifest.json").read_text())
        new = edit(m)
        (c / "manifest.json").write_text(json.dumps(m if new is None else new))
    return do


def _collide(layout: tuple[str, str], side: str = "clean"):
    """Two source files that would become one utterance id, on ``side`` only."""
    def make(s: Path, a: Assets) -> None:
        for rel in layout:
            for folder in ("clean", "noisy"):
                name = rel if folder == side else rel.rsplit(".", 1)[0] + ".wav"
                path = s / "in" / folder / name
                path.parent.mkdir(parents=True, exist_ok=True)
                if not path.exists():
                    sf.write(path, a.speech[: SR], SR, format=path.suffix[1:].upper())
    return make


def _noisy_at(rate: int, short_by: int = 0):
    def make(s: Path, a: Assets) -> None:
        for path in sorted((s / "in" / "noisy").glob("*.wav")):
            x, _ = sf.read(path, dtype="float32")
            n = round(len(x) * rate / SR) - short_by
            y = np.interp(np.arange(n) * SR / rate, np.arange(len(x)), x).astype(np.float32)
            sf.write(path, y, rate)
    return make


def corpus_cases() -> list[Case]:
    g = "corpus"
    corpus = "in/corpus"
    train = f"train --data {corpus} --config {{tiny}} --out out/run --max-steps 1 --batch-size 2"
    pairs = "prepare pairs --clean in/clean --noisy in/noisy --out out/c --test-speakers p4"
    mix = "prepare mix --clean in/clean --noise in/noise --out out/c --test-speakers p4"
    pf, nf = pair_folders(), noise_folder()
    return [
        Case(g, "stats-truncated-cache", sh(f"stats {corpus}"),
             _corpus_copy(_trunc("cache/train.clean.npy")), says=("--force",)),
        Case(g, "train-truncated-cache", sh(train),
             _corpus_copy(_trunc("cache/train.clean.npy")), says=("--force",)),
        Case(g, "stats-cache-not-npy", sh(f"stats {corpus}"), _corpus_copy(
            lambda c: (c / "cache/train.noisy.npy").write_bytes(b"RIFF....WAVE" * 40))),
        Case(g, "train-bounds-truncated", sh(train),
             _corpus_copy(_trunc("cache/train.bounds.npy", 0.9))),
        Case(g, "train-cache-missing", sh(train),
             _corpus_copy(lambda c: (c / "cache/train.clean.npy").unlink())),
        Case(g, "stats-manifest-missing", sh(f"stats {corpus}"),
             _corpus_copy(lambda c: (c / "manifest.json").unlink())),
        Case(g, "stats-manifest-corrupt", sh(f"stats {corpus}"),
             _corpus_copy(lambda c: (c / "manifest.json").write_text("{\"splits\": [1,"))),
        Case(g, "stats-manifest-empty-object", sh(f"stats {corpus}"),
             _corpus_copy(lambda c: (c / "manifest.json").write_text("{}"))),
        Case(g, "stats-manifest-wrong-types", sh(f"stats {corpus}"),
             _corpus_copy(_manifest(lambda m: m.update(splits=5)))),
        Case(g, "stats-manifest-negative-frames", sh(f"stats {corpus}"), _corpus_copy(
            _manifest(lambda m: m["splits"]["train"][0].update(frames=-5)))),
        Case(g, "stats-manifest-rate-0", sh(f"stats {corpus}"),
             _corpus_copy(_manifest(lambda m: m.update(sample_rate=0)))),
        Case(g, "stats-manifest-path-escape", sh(f"stats {corpus}"), _corpus_copy(
            _manifest(lambda m: m["splits"]["train"][0].update(clean="../../victim/rec.wav"))),
             "either", says_word("train")),
        Case(g, "stats-wav-missing", sh(f"stats {corpus}"), _corpus_copy(
            lambda c: next((c / "train" / "clean").glob("*.wav")).unlink())),
        Case(g, "stats-missing", sh("stats in/nowhere")),
        Case(g, "stats-a-file", sh("stats {wav}")),
        Case(g, "stats-empty-folder", sh("stats in/e"), mkdir("in/e")),
        Case(g, "train-data-missing", sh(train.replace(corpus, "in/nowhere"))),
        Case(g, "train-data-not-a-corpus", sh(train.replace(corpus, "in/e")), mkdir("in/e")),
        Case(g, "train-empty-train-split", sh(train),
             _corpus_copy(_manifest(lambda m: m["splits"].update(train=[])))),
        Case(g, "train-window-beyond-utterances",
             sh(train + " --set data.window=65536 --set data.hop=32768"), _corpus_copy(),
             "either", exists("out/run/checkpoints/last.ckpt")),
        Case(g, "evaluate-test-wav-deleted",
             sh(f"evaluate --data {corpus} --workers 1 --no-wiener"), _corpus_copy(
                 lambda c: next((c / "test" / "noisy").glob("*.wav")).unlink()),
             "warn", scored(5), warn_word="not scored"),
        Case(g, "evaluate-test-wav-garbage",
             sh(f"evaluate --data {corpus} --workers 1 --no-wiener"), _corpus_copy(
                 lambda c: next((c / "test" / "clean").glob("*.wav")).write_bytes(b"junk")),
             "warn", scored(5), warn_word="not scored"),
        Case(g, "evaluate-no-match", sh("evaluate --clean in/c --enhanced in/e --workers 1"),
             steps(good_folder("in/c", ("a",)), good_folder("in/e", ("b",)))),
        Case(g, "evaluate-8k-vs-16k", sh("evaluate --clean in/c --enhanced in/e --workers 1"),
             steps(good_folder("in/c", ("a",)), audio_at("in/e/a.wav", AUDIO_BY_NAME["rate-8k"]))
             , says=("rate",)),
        Case(g, "evaluate-8k-resample",
             sh("evaluate --clean in/c --enhanced in/e --workers 1 --resample"),
             steps(good_folder("in/c", ("a",), 1.5),
                   audio_at("in/e/a.wav", AUDIO_BY_NAME["rate-8k"])), "either", scored(1)),
        Case(g, "pairs-wav-beside-flac", sh(pairs), steps(pf, _collide(("p1_0.wav", "p1_0.flac"))),
             says=("p1_0",)),
        Case(g, "pairs-spk-dir-vs-flat", sh(pairs),
             steps(pf, _collide(("spk/x.wav", "spk__x.wav"))), says=("spk",)),
        Case(g, "pairs-case-collision", sh(pairs),
             steps(pf, _collide(("p1_0.wav", "P1_0.wav"))), says=("p1_0",)),
        Case(g, "pairs-noisy-side-collision", sh(pairs),
             steps(pf, _collide(("p2_0.wav", "p2_0.flac"), "noisy")), says=("p2_0",)),
        Case(g, "pairs-noisy-4k", sh(pairs), steps(pf, _noisy_at(4000)), "ok",
             corpus_check("out/c", 4)),
        Case(g, "pairs-noisy-8k-short-1", sh(pairs), steps(pf, _noisy_at(8000, 1)), "ok",
             corpus_check("out/c", 4)),
        Case(g, "pairs-noisy-44k1", sh(pairs), steps(pf, _noisy_at(44100)), "ok",
             corpus_check("out/c", 4)),
        Case(g, "pairs-length-mismatch", sh(pairs), steps(pf, lambda s, a: sf.write(
            s / "in/noisy/p2_0.wav", a.speech[: SR - 160], SR)), says=("p2_0",)),
        Case(g, "pairs-noisy-without-clean", sh(pairs), steps(pf, lambda s, a: sf.write(
            s / "in/noisy/p5_0.wav", a.speech[:SR], SR)), "either", corpus_check("out/c", 5)),
        Case(g, "pairs-clean-without-noisy", sh(pairs), steps(pf, lambda s, a: sf.write(
            s / "in/clean/p5_0.wav", a.speech[:SR], SR)), "either", corpus_check("out/c", 5)),
        Case(g, "pairs-empty-clean", sh(pairs), steps(mkdir("in/clean"), mkdir("in/noisy"))),
        Case(g, "pairs-clean-missing", sh(pairs), mkdir("in/noisy")),
        Case(g, "pairs-clean-a-file", sh(pairs.replace("in/clean", "{wav}")), pf),
        Case(g, "pairs-unknown-test-speaker", sh(pairs.replace("p4", "nobody")), pf, "either",
             all_of(corpus_check("out/c", 4), says_word("nobody"))),
        Case(g, "pairs-clean-equals-noisy",
             sh(pairs.replace("in/noisy", "in/clean")), pf, "either", corpus_check("out/c", 4)),
        Case(g, "pairs-out-inside-clean",
             sh(pairs.replace("out/c", "in/clean/corpus")), pf, "either",
             corpus_check("in/clean/corpus", 4), outs=("in/clean/corpus",)),
        Case(g, "pairs-only-non-audio", sh(pairs), steps(
            write_text("in/clean/a.txt", "x"), write_text("in/noisy/a.txt", "x"))),
        Case(g, "mix-empty-noise", sh(mix), steps(pf, mkdir("in/noise"))),
        Case(g, "mix-snrs-not-numbers", sh(mix + " --train-snrs abc"), steps(pf, nf)),
        Case(g, "mix-snrs-nan", sh(mix + " --train-snrs nan"), steps(pf, nf)),
        Case(g, "mix-snrs-huge", sh(mix + " --train-snrs 1e308"), steps(pf, nf)),
        Case(g, "mix-unknown-test-noise", sh(mix + " --test-noises nosuch.wav"), steps(pf, nf)),
        Case(g, "mix-colliding-ids", sh(mix), steps(pf, nf, lambda s, a: sf.write(
            s / "in/clean/p1_0.flac", a.speech[:SR], SR))),
        Case(g, "mix-silent-noise", sh(mix), steps(pf, nf, lambda s, a: sf.write(
            s / "in/noise/n1.wav", np.zeros(SR, np.float32), SR)), "either",
             corpus_check("out/c", 4)),
        Case(g, "mix-silent-speech", sh(mix), steps(pf, nf, lambda s, a: sf.write(
            s / "in/clean/p2_0.wav", np.zeros(SR, np.float32), SR)), "either",
             corpus_check("out/c", 4)),
        Case(g, "control-pairs", sh(pairs), pf, "ok", corpus_check("out/c", 4), kind="control"),
        Case(g, "control-mix", sh(mix), steps(pf, nf), "ok", corpus_check("out/c", 4),
             kind="control"),
        Case(g, "control-stats", sh("stats {corpus}"), expect="ok", check=says_word("train"),
             kind="control"),
        Case(g, "control-evaluate-data",
             sh("evaluate --data {corpus} --ckpt {ckpt} --workers 1 --json out/s.json"),
             expect="ok", check=all_of(scored(5), exists("out/s.json")), kind="control",
             timeout=600),
        Case(g, "control-prepare-again", sh("prepare pairs --clean {clean} --noisy {noisy} "
                                            "--out in/corpus --test-speakers p257"),
             _corpus_copy(), "ok", says_word("corpus"), outs=("in/corpus",), kind="control"),
    ]


def default_cases() -> list[Case]:
    g = "default-word"
    on = (("SEGAN_DEFAULT_MODEL", "{packaged}"),)
    return [
        Case(g, "info", sh("info default"), expect="either", check=says_word("default")),
        Case(g, "enhance-no-ckpt", sh("enhance {wav} out/o.wav"), expect="either",
             check=enhanced("out/o.wav", "in/x.wav")),
        Case(g, "info-env", sh("info default"), expect="ok", check=says_word("default"), env=on,
             kind="control"),
        Case(g, "enhance-env", sh("enhance {wav} out/o.wav"), expect="ok",
             check=enhanced("out/o.wav", "in/x.wav"), env=on, kind="control"),
        Case(g, "enhance-word", sh("enhance {wav} out/o.wav --ckpt default"), expect="ok",
             check=enhanced("out/o.wav", "in/x.wav"), env=on, kind="control"),
        Case(g, "enhance-word-upper", sh("enhance {wav} out/o.wav --ckpt DEFAULT"),
             expect="either", check=enhanced("out/o.wav", "in/x.wav"), env=on),
        Case(g, "export-word", sh("export --ckpt default --out out/g.pt"), expect="ok",
             check=exists("out/g.pt"), env=on, kind="control"),
        Case(g, "evaluate-word", sh("evaluate --data {corpus} --no-wiener --ckpt default "
                                    "--workers 1"), expect="ok", check=scored(5), env=on,
             kind="control", timeout=600),
        Case(g, "init-from-word", sh("train --data {corpus} --init-from default --out out/run "
                                     "--max-steps 1 --batch-size 2"), expect="ok",
             check=exists("out/run/checkpoints/last.ckpt"), env=on, kind="control",
             timeout=600),
        Case(g, "init-from-word-other-config",
             sh("train --data {corpus} --init-from default --config {tiny} --arch segan "
                "--out out/run --max-steps 1 --batch-size 2"), expect="either",
             check=exists("out/run/checkpoints/last.ckpt"), env=on, timeout=600),
        Case(g, "word-with-wiener", sh("enhance {wav} out/o.wav --ckpt default --method wiener"),
             expect="either", check=enhanced("out/o.wav", "in/x.wav"), env=on),
        Case(g, "env-missing", sh("info default"), env=(("SEGAN_DEFAULT_MODEL", "in/no.pt"),)),
        Case(g, "env-directory", sh("enhance {wav} out/o.wav"), mkdir("in/d"),
             env=(("SEGAN_DEFAULT_MODEL", "in/d"),)),
        Case(g, "env-garbage", sh("enhance {wav} out/o.wav"), write_text("in/g.pt", "garbage"),
             env=(("SEGAN_DEFAULT_MODEL", "in/g.pt"),)),
        Case(g, "env-nan-model", sh("enhance {wav} out/o.wav"), _nan_packaged,
             env=(("SEGAN_DEFAULT_MODEL", "in/nan.pt"),)),
        Case(g, "env-exploit", sh("info default"), ckpt_setup(_raw_pickle(os.system)),
             env=(("SEGAN_DEFAULT_MODEL", "in/c.ckpt"),)),
        Case(g, "env-training-ckpt", sh("enhance {wav} out/o.wav"), expect="either",
             check=enhanced("out/o.wav", "in/x.wav"), env=(("SEGAN_DEFAULT_MODEL", "{ckpt}"),)),
        Case(g, "file-named-default", sh("info default"), write_text("default", "garbage"),
             expect="either", check=says_word("default"), env=on, outs=()),
        Case(g, "file-named-default-dotslash", sh("info ./default"),
             write_text("default", "garbage")),
    ]


def _nan_packaged(s: Path, a: Assets) -> None:
    import torch

    data = torch.load(a.packaged, map_location="cpu", weights_only=False)
    state = data["state_dict"] if "state_dict" in data else data["generator"]
    key = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 4)
    state[key] = state[key].clone()
    state[key].view(-1)[2] = float("nan")
    torch.save(data, s / "in" / "nan.pt")


# -- injected faults as table cases: full and read-only disks --------------------------


def tmpfs(rel: str, options: str, fill: bool) -> Callable[[Path, Assets], str | None]:
    """Mount a tiny tmpfs at ``rel`` (filled to the last byte when ``fill``)."""
    def make(s: Path, a: Assets) -> str | None:
        mnt = s / rel
        mnt.mkdir(parents=True)
        if os.geteuid() != 0:
            return "needs root to mount a tmpfs (root ignores chmod, so no fallback)"
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mnt)],
                             capture_output=True, text=True)
        if res.returncode:
            return f"cannot mount a tmpfs: {res.stderr.strip()}"
        if fill:
            with open(mnt / "filler", "wb", buffering=0) as fh, contextlib.suppress(OSError):
                while True:
                    fh.write(b"\0" * 4096)
        return None
    return make


def unmount(rel: str) -> Callable[[Path], None]:
    def undo(s: Path) -> None:
        if os.path.ismount(s / rel):
            subprocess.run(["umount", "-l", str(s / rel)], check=False)
    return undo


def disk_cases() -> list[Case]:
    writers = [
        ("enhance-model", "enhance {wav} D/o.wav --ckpt {ckpt}", None),
        ("enhance-flac", "enhance {wav} D/o.flac --ckpt {ckpt}", None),
        ("enhance-wiener", "enhance {wav} D/o.wav --method wiener", None),
        ("enhance-folder", "enhance in/d --out D/out --method wiener", FOLDER),
        ("enhance-folder-workers", "enhance in/d --out D/out --method wiener --workers 2",
         FOLDER),
        ("export", "export --ckpt {ckpt} --out D/g.pt", None),
        ("evaluate-json", f"{EVAL} --json D/s.json", EVAL_SETUP),
        ("evaluate-csv", f"{EVAL} --csv D/s.csv", EVAL_SETUP),
        ("stats-plot", "stats {corpus} --plot D/p.png", None),
        ("prepare-pairs", "prepare pairs --clean in/clean --noisy in/noisy --out D/c "
                          "--test-speakers p4", pair_folders()),
        ("train", "train --data {corpus} --config {tiny} --out D/run --max-steps 1 "
                  "--batch-size 2", None),
    ]
    cases = []
    for disk, options, fill, word in (("full", "size=256k", True, "no space"),
                                      ("ro", "ro,size=64k", False, "read-only")):
        for name, text, extra in writers:
            if disk == "ro" and name in ("enhance-flac", "evaluate-csv", "enhance-folder-workers"):
                continue
            mount = tmpfs(disk, options, fill)
            setup = steps(extra, mount) if extra else mount
            cases.append(Case(f"fault-{'disk-full' if fill else 'read-only'}", name,
                              sh(text.replace("D/", f"{disk}/")), setup, outs=(disk,),
                              says=(word,), kind="fault", teardown=unmount(disk),
                              leaves_ok=name in ("prepare-pairs", "train"),
                              timeout=600))
    return cases


# -- running a case ------------------------------------------------------------------


@dataclass
class Result:
    id: str
    group: str
    kind: str
    command: str
    code: int | None
    outcome: str
    note: str = ""
    first_line: str = ""
    seconds: float = 0.0


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root``: its type and, for files, an md5 of the content."""
    seen: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        for name in dirnames + filenames:
            path = base / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                seen[rel] = "link:" + os.readlink(path)
            elif path.is_dir():
                seen[rel] = "dir"
            elif path.is_file():
                h = hashlib.md5()
                with open(path, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        h.update(chunk)
                seen[rel] = h.hexdigest()
            else:
                seen[rel] = "special"
    return seen


PROGRESS = re.compile(r"━|(\d+:\d\d:\d\d|-:--:--)\s*$")


def meaningful(text: str) -> list[str]:
    """Non-blank lines without progress bars (a bar, or an elapsed time at the end)."""
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not PROGRESS.search(ln)]


def first_line(stdout: str, stderr: str) -> str:
    lines = meaningful(stderr)
    for ln in lines:
        if ln.startswith(("error:", "failed:", "warning:", "Error", "│ ")):
            return ln[:300]
    return (lines or meaningful(stdout) or [""])[0][:300]


def one_error(stderr: str) -> tuple[bool, str]:
    """Whether stderr is one error (red line, or click's usage panel), and the line."""
    lines = meaningful(stderr)
    if any(ln.startswith("╭─ Error") for ln in lines):  # click's usage error
        body = [ln.strip("│ ").strip() for ln in lines if ln.startswith("│")]
        return True, " ".join(body)
    errors = [ln for ln in lines if ln.startswith("error:")]
    others = [ln for ln in lines if not ln.startswith(("error:", "note:", "warning:"))]
    if len(errors) == 1 and lines[-1] == errors[0] and not others:
        return True, errors[0]
    return False, " | ".join(lines[-3:])[:300]


def under(rel: str, roots: tuple[str, ...]) -> bool:
    return any(rel == r or rel.startswith(r.rstrip("/") + "/") for r in roots)


def classify(case: Case, code: int | None, stdout: str, stderr: str, before: dict[str, str],
             after: dict[str, str], sandbox: Path) -> tuple[str, str]:
    text = stdout + "\n" + stderr
    lost = [k for k, v in before.items() if after.get(k) != v and k not in case.may_change]
    new = [k for k in after if k not in before]
    outside = [k for k in new if not under(k, case.outs)]
    if MARKER in after:
        return "data loss", "a crafted file ran code (the marker file appeared)"
    if lost:
        return "data loss", f"changed or removed: {', '.join(sorted(lost)[:4])}"
    if outside:
        return "data loss", f"written outside {list(case.outs)}: {', '.join(sorted(outside)[:4])}"
    if code is None:
        return "traceback", f"no exit after {case.timeout:.0f} s (killed)"
    if "Traceback (most recent call last)" in text:
        return "traceback", first_line("", stderr.split("Traceback")[-1])
    if code not in CODES:
        return "traceback", f"exit code {code}"
    inside = [k for k in new if under(k, case.outs) and after[k] != "dir"
              and not (case.leaves_ok and not TEMP.search(k))]
    clean, line = one_error(stderr)
    leftovers = [k for k in after if TEMP.search(k) and k not in before]
    if code == 0:
        verdict = case.check(sandbox, text) if case.check else None
        if leftovers:
            verdict = verdict or f"temporaries left: {leftovers[:2]}"
        if case.expect == "error":
            return "silent-wrong", f"accepted a bad input{': ' + verdict if verdict else ''}"
        if verdict:
            return "silent-wrong", verdict
        if case.expect in ("warn", "partial"):
            warned = [ln for ln in meaningful(stderr) if ln.startswith(("warning:", "note:"))
                      or "not scored" in ln or "failed" in ln]
            if not any(case.warn_word.lower() in ln.lower() for ln in warned):
                return "silent-wrong", f"no warning naming {case.warn_word!r}"
            return "warned", line if not clean else ""
        return "ok", ""
    if code == 1 and case.expect in ("partial", "either", "warn"):
        failed = [ln for ln in meaningful(stderr)
                  if ln.startswith(("failed:", "not enhanced:"))]
        named = [ln for ln in failed if case.warn_word and case.warn_word in ln]
        verdict = case.check(sandbox, text) if case.check else None
        if named and len(failed) == len(named) and not verdict and not leftovers:
            return "clear error", ""
        return "unclear", verdict or f"exit 1: {' | '.join(failed)[:200] or 'no file named'}"
    expected_codes = {2} if case.expect != "partial" else {1, 2}
    if code not in expected_codes:
        return "unclear", f"exit {code}: {line}"
    if not clean:
        return "unclear", f"not one line: {line}"
    if inside:
        return "unclear", f"refused but wrote {', '.join(sorted(inside)[:3])}"
    missing = [w for w in case.says if w.lower() not in line.lower()]
    if missing:
        return "unclear", f"the line does not say {missing}: {line}"
    if case.expect == "ok":
        return "refused", line
    return "clear error", ""


def run_case(case: Case, a: Assets, work: Path, keep: bool) -> Result:
    sandbox = work / "cases" / re.sub(r"[^A-Za-z0-9_.-]+", "_", case.id)
    if sandbox.exists():
        shutil.rmtree(sandbox)
    sandbox.mkdir(parents=True)
    places = a.places(sandbox)
    args = [fill(t, places) for t in case.args]
    command = "segan " + " ".join(shlex.quote(t) for t in args)
    t0 = time.monotonic()
    try:
        plant(sandbox, a)
        reason = case.setup(sandbox, a) if case.setup else None
        if reason:
            return Result(case.id, case.group, case.kind, command, None, "not run", reason)
        extra = {k: (v[1:] if v.startswith("=") else fill(v, places) if "{" in v
                     else str(sandbox / v)) for k, v in case.env}
        before = snapshot(sandbox)
        code: int | None
        try:
            res = segan(args, sandbox, case.timeout, extra)
            code, stdout, stderr = res.returncode, res.stdout, res.stderr
        except subprocess.TimeoutExpired as exc:
            code = None
            stdout = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
            stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        after = snapshot(sandbox)
        outcome, note = classify(case, code, stdout, stderr, before, after, sandbox)
        (work / "logs").mkdir(exist_ok=True)
        log = work / "logs" / (sandbox.name + ".txt")
        log.write_text(f"$ {command}\nexit {code}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
                       errors="backslashreplace")  # file names that are not UTF-8
        return Result(case.id, case.group, case.kind, command, code, outcome, note,
                      first_line(stdout, stderr), time.monotonic() - t0)
    except Exception as exc:  # noqa: BLE001 - a harness fault is reported, not fatal
        return Result(case.id, case.group, case.kind, command, None, "not run",
                      f"harness: {type(exc).__name__}: {exc}")
    finally:
        if case.teardown is not None:
            case.teardown(sandbox)
        if not keep:
            _remove(sandbox)


def _remove(path: Path) -> None:
    for dirpath, _, _ in os.walk(path):
        if os.path.ismount(dirpath):
            subprocess.run(["umount", "-l", dirpath], check=False)
    shutil.rmtree(path, ignore_errors=True)


# -- injected faults that need more than one process -----------------------------------


@dataclass
class Proc:
    popen: subprocess.Popen
    out: Path
    err: Path

    def text(self) -> tuple[str, str]:
        return (self.out.read_text(errors="replace"), self.err.read_text(errors="replace"))


def start(args: list[str], cwd: Path, name: str, extra: dict[str, str] | None = None) -> Proc:
    out, err = cwd.parent / f"{cwd.name}.{name}.out", cwd.parent / f"{cwd.name}.{name}.err"
    with open(out, "w") as fo, open(err, "w") as fe:
        p = subprocess.Popen([str(SEGAN), *args], cwd=cwd, env=env(extra, HOME), stdout=fo,
                             stderr=fe)
    return Proc(p, out, err)


def wait_for(done: Callable[[], bool], proc: Proc, timeout: float = 300) -> bool:
    end = time.monotonic() + timeout
    while not done():
        if proc.popen.poll() is not None or time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def children(pid: int) -> list[int]:
    """Descendant pids of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        found += kids
        frontier += kids
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def load_ckpt(path: Path) -> dict[str, Any]:
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)


def gan_steps(state: dict[str, Any]) -> int:
    """GAN steps of a checkpoint: Lightning counts both optimisers' steps."""
    return int(state.get("global_step") or 0) // 2


def md5s(root: Path) -> dict[str, str]:
    return {k: v for k, v in snapshot(root).items() if v != "dir"}


FAULTS: list[tuple[str, str, Callable[[Path, Assets], tuple[str, str, str, int | None]]]] = []


def fault(group: str, name: str):
    """Register a multi-process fault: returns (outcome, note, command, exit code)."""
    def register(func):
        FAULTS.append((group, name, func))
        return func
    return register


TRAIN_LONG = ["--config", str(TINY), "--arch", "adv", "--max-steps", "400", "--batch-size", "4",
              "--set", "data.window=2048", "--set", "data.hop=1024",
              "--set", "train.val_check_interval=2", "--set", "train.val_utterances=1"]


def _signal_train(sig: signal.Signals, code: int):
    def run(s: Path, a: Assets) -> tuple[str, str, str, int | None]:
        args = ["train", "--data", str(a.corpus), "--out", "run", *TRAIN_LONG]
        command = f"segan {' '.join(args)}  (then {sig.name})"
        last = s / "run" / "checkpoints" / "last.ckpt"
        p = start(args, s, "first")
        if not wait_for(last.is_file, p, 600):
            p.popen.kill()
            return "unclear", "training never wrote last.ckpt", command, p.popen.wait()
        time.sleep(1.0)
        p.popen.send_signal(sig)
        try:
            rc = p.popen.wait(300)
        except subprocess.TimeoutExpired:
            p.popen.kill()
            return "traceback", f"no exit 300 s after {sig.name}", command, None
        out, err = p.text()
        if "Traceback" in out + err:
            return "traceback", first_line("", err), command, rc
        if rc != code:
            return "unclear", f"exit {rc}, expected {code}", command, rc
        lines = [ln for ln in meaningful(err) if "stopped at step" in ln]
        if len(lines) != 1 or "--resume" not in lines[0]:
            return "unclear", f"no one-line resume note: {' | '.join(meaningful(err)[-2:])}", \
                command, rc
        step = int(re.search(r"step (\d+)", lines[0]).group(1))
        try:
            state = load_ckpt(last)
        except Exception as exc:  # noqa: BLE001
            return "data loss", f"last.ckpt does not load: {exc}", command, rc
        if gan_steps(state) != step:
            return "unclear", f"last.ckpt at step {gan_steps(state)}, line says {step}", \
                command, rc
        resume = [t if t != "400" else str(step + 2) for t in args] + ["--resume"]
        r = segan(resume, s, 900)
        if r.returncode != 0:
            return "unclear", f"resume exited {r.returncode}: {first_line(r.stdout, r.stderr)}", \
                command, rc
        if gan_steps(load_ckpt(last)) != step + 2:
            return "silent-wrong", "resume did not continue from the stopping step", command, rc
        return "ok", f"stopped at step {step}, resumed to {step + 2}", command, rc
    return run


fault("fault-signal", "train-SIGTERM")(_signal_train(signal.SIGTERM, 143))
fault("fault-signal", "train-SIGINT")(_signal_train(signal.SIGINT, 130))


def _long_folder(s: Path, a: Assets, n: int = 16, seconds: float = 6.0) -> Path:
    d = s / "in" / "long"
    d.mkdir(parents=True)
    x = np.tile(a.speech, int(np.ceil(seconds * SR / len(a.speech))))[: int(seconds * SR)]
    for i in range(n):
        sf.write(d / f"f{i:02d}.wav", np.roll(x, i * 997), SR)
    return d


@fault("fault-signal", "enhance-workers-SIGKILL")
def _kill_workers(s: Path, a: Assets) -> tuple[str, str, str, int | None]:
    _long_folder(s, a)
    args = ["enhance", "in/long", "--out", "out", "--ckpt", str(a.ckpt), "--workers", "2"]
    command = "segan " + " ".join(args) + "  (then SIGKILL)"
    p = start(args, s, "run")
    if not wait_for(lambda: len(children(p.popen.pid)) >= 2, p, 300):
        return "not run", "the run ended before its workers started", command, p.popen.poll()
    time.sleep(2.0)
    kids = children(p.popen.pid)
    p.popen.kill()
    p.popen.wait()
    time.sleep(3.0)
    survivors = [k for k in kids if alive(k)]
    for k in survivors:  # ours: started by the process this case started
        with contextlib.suppress(OSError):
            os.kill(k, signal.SIGKILL)
    if survivors:
        return "data loss", f"{len(survivors)} worker(s) still running 3 s after SIGKILL", \
            command, -9
    partial = [f for f in (s / "out").glob("[!.]*.wav") if audio_verdict(f, s / "in/long" / f.name)]
    if partial:
        return "data loss", f"partial outputs visible: {[f.name for f in partial]}", command, -9
    r = segan(args, s, 900)  # the re-run completes and tidies the temporaries
    left = [k for k in snapshot(s / "out") if TEMP.search(k)]
    verdict = folder_enhanced("out", "in/long")(s, r.stdout + r.stderr)
    if r.returncode or verdict or left:
        return "unclear", f"re-run: exit {r.returncode}, {verdict or left}", command, -9
    return "ok", f"{len(kids)} workers gone; re-run completed, no temporaries", command, -9


@fault("fault-signal", "enhance-folder-SIGTERM")
def _term_folder(s: Path, a: Assets) -> tuple[str, str, str, int | None]:
    _long_folder(s, a, 12)
    args = ["enhance", "in/long", "--out", "out", "--ckpt", str(a.ckpt)]
    command = "segan " + " ".join(args) + "  (then SIGTERM)"
    p = start(args, s, "run")
    if not wait_for(lambda: len(list((s / "out").glob("*.wav"))) >= 2, p, 300):
        return "not run", "the run ended before two outputs", command, p.popen.poll()
    p.popen.send_signal(signal.SIGTERM)
    rc = p.popen.wait(120)
    out, err = p.text()
    if "Traceback" in out + err:
        return "traceback", first_line("", err), command, rc
    partial = [f for f in (s / "out").glob("[!.]*.wav") if audio_verdict(f, s / "in/long" / f.name)]
    left = [k for k in snapshot(s / "out") if TEMP.search(k)]
    if rc != 143 or partial or left:
        return "unclear", f"exit {rc}, partial {partial}, temporaries {left}", command, rc
    r = segan(args, s, 900)
    verdict = folder_enhanced("out", "in/long")(s, r.stdout + r.stderr)
    if r.returncode or verdict:
        return "unclear", f"re-run: exit {r.returncode}, {verdict}", command, rc
    return "ok", "exit 143, finished outputs whole, re-run completed", command, rc


def _prepare_interrupted(kill: signal.Signals):
    def run(s: Path, a: Assets) -> tuple[str, str, str, int | None]:
        for side in ("clean", "noisy"):  # full-length sources: a slower prepare
            shutil.copytree(SAMPLE / side, s / "in" / side)
        args = ["prepare", "pairs", "--clean", "in/clean", "--noisy", "in/noisy",
                "--out", "X/corpus", "--test-speakers", "p257"]
        command = "segan " + " ".join(args) + f"  (then {kill.name}, then again)"
        ref = segan([t.replace("X/", "ref/") for t in args], s, 900)
        if ref.returncode:
            return "unclear", f"reference prepare failed: {first_line(ref.stdout, ref.stderr)}", \
                command, ref.returncode
        run_args = [t.replace("X/", "int/") for t in args]
        p = start(run_args, s, "first")
        corpus = s / "int" / "corpus"
        if not wait_for(lambda: len(list(corpus.rglob("*.wav"))) >= 6, p, 300):
            return "not run", "prepare finished before it could be interrupted", command, \
                p.popen.poll()
        p.popen.send_signal(kill)
        rc = p.popen.wait(120)
        out, err = p.text()
        if "Traceback" in out + err:
            return "traceback", first_line("", err), command, rc
        expected = {signal.SIGKILL: -9, signal.SIGINT: 130, signal.SIGTERM: 143}[kill]
        if rc != expected:
            return "unclear", f"exit {rc}, expected {expected}", command, rc
        again = segan(run_args, s, 900)
        if again.returncode:
            return "unclear", f"re-run exited {again.returncode}: " \
                f"{first_line(again.stdout, again.stderr)}", command, rc
        left = [k for k in snapshot(corpus) if TEMP.search(k) or k.startswith(".")]
        if left:
            return "unclear", f"stale temporaries after the re-run: {left[:3]}", command, rc
        mine, ref_md5 = md5s(corpus), md5s(s / "ref" / "corpus")
        differ = sorted(k for k in set(mine) | set(ref_md5) if mine.get(k) != ref_md5.get(k))
        if differ:
            return "silent-wrong", f"differs from an uninterrupted run: {differ[:4]}", \
                command, rc
        return "ok", f"exit {rc}; re-run md5-identical ({len(mine)} files), no temporaries", \
            command, rc
    return run


fault("fault-signal", "prepare-SIGKILL-rerun")(_prepare_interrupted(signal.SIGKILL))
fault("fault-signal", "prepare-SIGINT-rerun")(_prepare_interrupted(signal.SIGINT))
fault("fault-signal", "prepare-SIGTERM-rerun")(_prepare_interrupted(signal.SIGTERM))


@fault("fault-signal", "train-SIGKILL-resume")
def _kill_train(s: Path, a: Assets) -> tuple[str, str, str, int | None]:
    args = ["train", "--data", str(a.corpus), "--out", "run", *TRAIN_LONG]
    command = "segan " + " ".join(args) + "  (then SIGKILL, --resume)"
    last = s / "run" / "checkpoints" / "last.ckpt"
    p = start(args, s, "first")
    if not wait_for(last.is_file, p, 600):
        p.popen.kill()
        return "unclear", "training never wrote last.ckpt", command, p.popen.wait()
    time.sleep(2.0)
    p.popen.kill()
    p.popen.wait()
    try:
        step = gan_steps(load_ckpt(last))
    except Exception as exc:  # noqa: BLE001
        return "data loss", f"last.ckpt unreadable after SIGKILL: {exc}", command, -9
    resume = [t if t != "400" else str(step + 2) for t in args] + ["--resume"]
    r = segan(resume, s, 900)
    left = [k for k in snapshot(s / "run") if TEMP.search(k)]
    if r.returncode or left:
        return "unclear", f"resume exit {r.returncode}, temporaries {left[:2]}: " \
            f"{first_line(r.stdout, r.stderr)}", command, -9
    return "ok", f"last.ckpt at step {step} loads; resume ran, no temporaries", command, -9


@fault("fault-concurrent", "enhance-two-checkpoints-one-folder")
def _concurrent_enhance(s: Path, a: Assets) -> tuple[str, str, str, int | None]:
    d = s / "in" / "d"
    d.mkdir(parents=True)
    for i in range(30):
        sf.write(d / f"f{i:02d}.wav", np.roll(a.speech[: SR], i * 331), SR)
    solo = {}
    for tag, ck in (("a", a.ckpt), ("b", a.ckpt_b)):
        r = segan(["enhance", "in/d", "--out", f"solo_{tag}", "--ckpt", str(ck)], s)
        if r.returncode:
            return "unclear", f"solo run failed: {first_line(r.stdout, r.stderr)}", "", None
        solo[tag] = md5s(s / f"solo_{tag}")
    runs = {tag: ["enhance", "in/d", "--out", "out", "--ckpt", str(ck)]
            for tag, ck in (("a", a.ckpt), ("b", a.ckpt_b))}
    command = " & ".join("segan " + " ".join(v) for v in runs.values())
    procs = {tag: start(args, s, tag) for tag, args in runs.items()}
    codes = {tag: p.popen.wait(900) for tag, p in procs.items()}
    texts = {tag: "\n".join(p.text()) for tag, p in procs.items()}
    if any("Traceback" in t for t in texts.values()):
        return "traceback", "a concurrent run raised", command, max(codes.values())
    final = md5s(s / "out")
    owner = {}
    for name, digest in final.items():
        who = [t for t in solo if solo[t].get(name) == digest]
        if len(who) != 1:
            return "silent-wrong", f"{name} matches neither run's output", command, None
        owner[name] = who[0]
    if len(final) != 30:
        return "silent-wrong", f"{len(final)} of 30 outputs", command, None
    for tag, t in texts.items():
        m = re.search(r"enhanced (\d+) file", t)
        claimed = int(m.group(1)) if m else 0
        won = sum(1 for w in owner.values() if w == tag)
        if claimed != won:
            return "data loss", f"run {tag} enhanced {claimed} files but owns {won}: " \
                "outputs were replaced", command, codes[tag]
        lost = 30 - won
        failed = len(re.findall(r"^failed:.*exists", t, re.M))
        skipped = re.search(r"skipping (\d+) file", t)
        said = failed + (int(skipped.group(1)) if skipped else 0)
        if said != lost:
            return "unclear", f"run {tag} lost {lost} files but reported {said}", command, \
                codes[tag]
    split = Counter(owner.values())
    return "ok", f"exit codes {codes}; files a/b {split['a']}/{split['b']}, none replaced", \
        command, max(codes.values())


@fault("fault-concurrent", "export-two-runs-one-file")
def _concurrent_export(s: Path, a: Assets) -> tuple[str, str, str, int | None]:
    runs = {tag: ["export", "--ckpt", str(ck), "--out", "out/g.pt"]
            for tag, ck in (("a", a.ckpt), ("b", a.ckpt_b))}
    (s / "out").mkdir()
    command = " & ".join("segan " + " ".join(v) for v in runs.values())
    procs = {tag: start(args, s, tag) for tag, args in runs.items()}
    codes = {tag: p.popen.wait(600) for tag, p in procs.items()}
    texts = {tag: p.text() for tag, p in procs.items()}
    if any("Traceback" in "".join(t) for t in texts.values()):
        return "traceback", "a concurrent export raised", command, None
    if sorted(codes.values()) != [0, 2]:
        return "unclear", f"exit codes {codes} (expected one 0 and one 2)", command, None
    loser = next(t for t, c in codes.items() if c == 2)
    ok, line = one_error(texts[loser][1])
    if not ok or "exists" not in line:
        return "unclear", f"the loser says: {line}", command, 2
    if [k for k in snapshot(s / "out") if TEMP.search(k)]:
        return "unclear", "temporaries left", command, 2
    return "ok", f"one export published, the other: {line[:80]}", command, 2


@fault("fault-concurrent", "prepare-two-runs-one-corpus")
def _concurrent_prepare(s: Path, a: Assets) -> tuple[str, str, str, int | None]:
    pair_folders()(s, a)
    args = ["prepare", "pairs", "--clean", "in/clean", "--noisy", "in/noisy", "--out", "out/c",
            "--test-speakers", "p4"]
    command = "segan " + " ".join(args) + "  (twice at once)"
    ref = segan([t.replace("out/c", "ref/c") for t in args], s)
    procs = [start(args, s, tag) for tag in ("a", "b")]
    codes = [p.popen.wait(600) for p in procs]
    texts = ["\n".join(p.text()) for p in procs]
    if any("Traceback" in t for t in texts):
        return "traceback", "a concurrent prepare raised", command, None
    if any(c not in (0, 2) for c in codes) or 0 not in codes:
        return "unclear", f"exit codes {codes}", command, None
    for c, p in zip(codes, procs, strict=True):
        if c == 2 and not one_error(p.text()[1])[0]:
            return "unclear", f"the refused run says: {one_error(p.text()[1])[1]}", command, 2
    mine, want = md5s(s / "out" / "c"), md5s(s / "ref" / "c")
    if ref.returncode or mine != want:
        differ = sorted(k for k in set(mine) | set(want) if mine.get(k) != want.get(k))
        return "silent-wrong", f"corpus differs from a single run: {differ[:4]}", command, None
    return "ok", f"exit codes {codes}; corpus identical to a single run", command, max(codes)


@fault("fault-signal", "evaluate-SIGTERM")
def _term_evaluate(s: Path, a: Assets) -> tuple[str, str, str, int | None]:
    good_folder("in/c", tuple(f"f{i}" for i in range(80)), 2.0)(s, a)
    good_folder("in/e", tuple(f"f{i}" for i in range(80)), 2.0)(s, a)
    args = ["evaluate", "--clean", "in/c", "--enhanced", "in/e", "--workers", "1",
            "--json", "out/s.json", "--csv", "out/s.csv"]
    command = "segan " + " ".join(args) + "  (then SIGTERM)"
    p = start(args, s, "run")
    time.sleep(6.0)
    if p.popen.poll() is not None:
        return "not run", "evaluate finished before the signal", command, p.popen.returncode
    p.popen.send_signal(signal.SIGTERM)
    rc = p.popen.wait(120)
    out, err = p.text()
    if "Traceback" in out + err:
        return "traceback", first_line("", err), command, rc
    written = list((s / "out").glob("*")) if (s / "out").exists() else []
    if rc != 143 or written:
        return "unclear", f"exit {rc}, wrote {[w.name for w in written]}", command, rc
    return "ok", "exit 143, nothing written", command, rc


def run_fault(group: str, name: str, func, a: Assets, work: Path, keep: bool) -> Result:
    sandbox = work / "cases" / f"{group}_{name}"
    if sandbox.exists():
        shutil.rmtree(sandbox)
    sandbox.mkdir(parents=True)
    t0 = time.monotonic()
    try:
        plant(sandbox, a)
        before = {k: v for k, v in snapshot(sandbox).items() if k.startswith("victim")}
        outcome, note, command, code = func(sandbox, a)
        after = snapshot(sandbox)
        lost = [k for k, v in before.items() if after.get(k) != v]
        if lost:
            outcome, note = "data loss", f"victims changed: {lost}"
        first = ""
        for log in sorted(work.glob(f"cases/{sandbox.name}.*.err")):
            first = first or first_line("", log.read_text(errors="replace"))
    except Exception as exc:  # noqa: BLE001
        return Result(f"{group}/{name}", group, "fault", "", None, "not run",
                      f"harness: {type(exc).__name__}: {exc}")
    finally:
        if not keep:
            _remove(sandbox)
    return Result(f"{group}/{name}", group, "fault", command, code, outcome, note, first,
                  time.monotonic() - t0)


# -- main ----------------------------------------------------------------------------


# -- the second pass (issue 20): markup in names, special files, onto-input -------------


def fifo(rel: str):
    def make(s: Path, a: Assets) -> None:
        (s / rel).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(s / rel)
    return make


def copy_to(rel: str, src: str = "in/x.wav"):
    def make(s: Path, a: Assets) -> None:
        (s / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(s / src, s / rel)
    return make


def _ogg_cut(s: Path, a: Assets) -> None:
    sf.write(s / "in" / "cut.ogg", np.tile(a.speech, 4), SR, format="OGG", subtype="VORBIS")
    data = (s / "in" / "cut.ogg").read_bytes()
    (s / "in" / "cut.ogg").write_bytes(data[:len(data) * 3 // 5])


def _short_pair(s: Path, a: Assets) -> None:
    for side, seconds in (("c", 1.0), ("e", 0.5)):
        (s / "in" / side).mkdir(parents=True, exist_ok=True)
        speech_file(s / "in" / side / "a.wav", a, seconds)


def _loud(s: Path, a: Assets) -> None:
    x = a.speech.copy()
    x[1000] = 3e38
    sf.write(s / "in" / "loud.wav", x, SR, subtype="FLOAT")


ODD_NAME = os.fsdecode(b"caf\xe9")  # Latin-1: not UTF-8
LONG_NAME = "a" * 251 + ".wav"  # 255 bytes, the most a name may hold


def second_pass_cases() -> list[Case]:
    m, sp, oi, g = "markup-names", "special-files", "onto-input", "second-pass"
    corp = copy_tree("corpus", "in/corp")
    return [
        Case(m, "output-name", ("enhance", "in/x.wav", "out/o[/].wav", *sh(W)), None, "ok",
             enhanced("out/o[/].wav", "in/x.wav")),
        Case(m, "input-folder", ("enhance", "in/in[/]x.wav", "out/o.wav", *sh(W)),
             copy_to("in/in[/]x.wav"), "ok", enhanced("out/o.wav", "in/x.wav")),
        Case(m, "out-folder", ("enhance", "in/d", "--out", "out/out[/]x", *sh(W)), FOLDER,
             "ok", folder_enhanced("out/out[/]x", "in/d")),
        Case(m, "bad-file-in-draft", sh(f"enhance in/d --out out {W}"),
             steps(FOLDER, write_text("in/d/[draft]/bad.wav", b"not audio")), "partial",
             warn_word="[draft]/bad.wav"),
        Case(m, "missing-input", ("enhance", "in/no[/]such.wav", "out/o.wav", *sh(W)),
             says=("no[/]such.wav",)),
        Case(m, "evaluate-label", sh("evaluate --clean in/c --enhanced in/[draft] --workers 1"),
             steps(good_folder("in/c", ("a",)), good_folder("in/[draft]", ("a",))), "ok",
             says_word("[draft]")),
        *[Case(sp, f"overwrite-fifo-{name}", (*sh(text), "--overwrite"), steps(
            EVAL_SETUP, fifo(f"out/f{ext}")), says=("FIFO",), timeout=120)
          for name, ext, text in (
              ("enhance", ".wav", f"enhance {{wav}} out/f.wav {W}"),
              ("evaluate-csv", ".csv", f"{EVAL} --csv out/f.csv"),
              ("stats-plot", ".png", "stats {corpus} --plot out/f.png"),
              ("export", ".pt", "export --ckpt {ckpt} --out out/f.pt"))],
        Case(sp, "overwrite-dev-null", sh(f"enhance {{wav}} out/n.wav {W} --overwrite"),
             symlink("out/n.wav", "/dev/null"), says=("character device",)),
        Case(sp, "fifo-input", sh(f"enhance in/f.wav out/o.wav {W}"), fifo("in/f.wav"),
             says=("FIFO",), timeout=120),
        Case(sp, "fifo-ckpt", sh("enhance {wav} out/o.wav --ckpt in/f.ckpt"),
             fifo("in/f.ckpt"), says=("FIFO",), timeout=120),
        Case(sp, "fifo-default-model", sh("enhance {wav} out/o.wav"), fifo("in/f.ckpt"),
             env=(("SEGAN_DEFAULT_MODEL", "in/f.ckpt"),), says=("FIFO",), timeout=120),
        Case(sp, "fifo-config", sh(f"enhance {{wav}} out/o.wav {W} --config in/f.yaml"),
             fifo("in/f.yaml"), says=("FIFO",), timeout=120),
        Case(oi, "evaluate-csv-clean", sh(f"{EVAL} --csv in/c/a.wav --overwrite"), EVAL_SETUP,
             says=("input",)),
        Case(oi, "evaluate-json-enhanced", sh(f"{EVAL} --json in/e/a.wav --overwrite"),
             EVAL_SETUP, says=("input",)),
        Case(oi, "evaluate-report-clean", sh(f"{EVAL} --report in/c --overwrite"), EVAL_SETUP,
             says=("input",)),
        Case(oi, "evaluate-csv-config",
             sh(f"{EVAL} --config in/s.yaml --csv in/s.yaml --overwrite"),
             steps(EVAL_SETUP, write_text("in/s.yaml", "evaluate:\n  workers: 1\n")),
             says=("input",)),
        Case(oi, "evaluate-json-manifest", sh("evaluate --data in/corp --no-wiener --json "
                                              "in/corp/manifest.json --overwrite"), corp,
             says=("input",)),
        Case(oi, "stats-plot-manifest",
             sh("stats in/corp --plot in/corp/manifest.json --overwrite"), corp,
             says=("input",)),
        Case(oi, "stats-plot-cache",
             sh("stats in/corp --plot in/corp/cache/train.bounds.npy --overwrite"), corp,
             says=("input",)),
        Case(oi, "export-onnx-checkpoint", sh("export --ckpt victim/model.ckpt --out out/g.pt "
                                              "--onnx victim/model.ckpt --overwrite"),
             says=("input",)),
        Case(oi, "info-plot-run-settings",
             sh("info in/run --plot in/run/settings.yaml --overwrite"),
             copy_tree("run", "in/run"), says=("input",)),
        Case(oi, "prepare-out-is-clean",
             sh("prepare pairs --clean in/clean --noisy in/noisy --out in/clean"),
             pair_folders(), says=("source folder",)),
        Case(g, "seed-2^64", sh("enhance {wav} out/o.wav --ckpt {ckpt} --seed "
                                "18446744073709551616"), says=("seed",)),
        Case(g, "columns-1", sh("info {ckpt}"), expect="ok", check=says_word("window"),
             env=(("COLUMNS", "=1"),)),
        Case(g, "non-utf8-name", ("enhance", f"in/{ODD_NAME}.wav", "out/o.wav", *sh(W)),
             copy_to(f"in/{ODD_NAME}.wav"), "ok", enhanced("out/o.wav", "in/x.wav")),
        Case(g, "non-utf8-folder", sh(f"enhance in/d --out out {W}"),
             copy_to(f"in/d/{ODD_NAME}.wav"), "ok", folder_enhanced("out", "in/d")),
        Case(g, "name-255-bytes", ("enhance", "in/x.wav", f"out/{LONG_NAME}", *sh(W)), None,
             "ok", enhanced(f"out/{LONG_NAME}", "in/x.wav")),
        Case(g, "out-is-the-parent", sh(f"enhance in/d --out in {W}"), FOLDER, "ok",
             folder_enhanced("in", "in/d"), outs=("in",)),
        Case(g, "yaml-key-twice", sh(f"enhance {{wav}} out/o.wav {W} --config in/d.yaml"),
             write_text("in/d.yaml", "enhance:\n  batch_size: 4\nenhance:\n  dry: 0.1\n"),
             says=("twice",)),
        Case(g, "ogg-cut-short", sh(f"enhance in/cut.ogg out/o.wav {W}"), _ogg_cut, "warn",
             warn_word="cut short"),
        Case(g, "enhanced-much-shorter", sh(EVAL), _short_pair, "warn",
             warn_word="scored over"),
        Case(g, "float-3e38", sh("enhance in/loud.wav out/o.wav --ckpt {ckpt}"), _loud,
             "either", enhanced("out/o.wav", "in/loud.wav"), says=("full scale",)),
    ]


def all_cases() -> list[Case]:
    return (audio_cases() + settings_cases() + checkpoint_cases() + output_cases()
            + option_cases() + corpus_cases() + default_cases() + disk_cases()
            + second_pass_cases())


def summary(results: list[Result]) -> str:
    groups = sorted({r.group for r in results}, key=lambda g: (g.startswith("fault"), g))
    cols = [o for o in OUTCOMES if any(r.outcome == o for r in results)] or ["ok"]
    width = max(len(g) for g in groups) + 2
    lines = [f"{'class':<{width}}" + "".join(f"{c:>14}" for c in cols) + f"{'total':>8}"]
    for g in groups:
        mine = Counter(r.outcome for r in results if r.group == g)
        lines.append(f"{g:<{width}}" + "".join(f"{mine.get(c, 0) or '':>14}" for c in cols)
                     + f"{sum(mine.values()):>8}")
    every = Counter(r.outcome for r in results)
    lines.append(f"{'all':<{width}}" + "".join(f"{every.get(c, 0) or '':>14}" for c in cols)
                 + f"{len(results):>8}")
    bad = [r for r in results if r.kind == "bad"]
    faults = [r for r in results if r.kind == "fault"]
    controls = [r for r in results if r.kind == "control"]
    count = Counter(r.outcome for r in bad)
    lines += [
        "",
        f"bad inputs tried:     {len(bad)}",
        f"  clear errors:       {count['clear error']}",
        f"  warned (exit 0):    {count['warned']}",
        f"  handled (odd but valid input, correct result): {count['ok']}",
        f"  tracebacks:         {count['traceback']}",
        f"  silent-wrong:       {count['silent-wrong']}",
        f"  data loss:          {count['data loss']}",
        f"  unclear errors:     {count['unclear']}",
        f"  valid refused:      {count['refused']}",
        f"  not run:            {count['not run']}",
        f"faults injected:      {sum(r.outcome != 'not run' for r in faults)} "
        f"(survived {sum(r.outcome in ('ok', 'clear error') for r in faults)}, "
        f"not run {sum(r.outcome == 'not run' for r in faults)})",
        f"controls:             {sum(r.outcome == 'ok' for r in controls)}/{len(controls)} ok",
    ]
    for r in results:
        if r.outcome in FAILING or r.outcome == "not run":
            lines.append(f"  {r.outcome:>12}  {r.id}: {r.note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    global HOME
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, help="write every case's record here")
    ap.add_argument("--only", action="append", default=[], help="run cases whose id has this")
    ap.add_argument("--work", type=Path, help="working folder (default: a new temporary one)")
    ap.add_argument("--jobs", type=int, default=2, choices=(1, 2), help="cases at a time")
    ap.add_argument("--keep", action="store_true", help="keep every sandbox")
    ap.add_argument("--all", action="store_true",
                    help="also the extended matrix (every input kind for every command)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    args = ap.parse_args(argv)
    os.nice(max(0, 19 - os.nice(0)))
    cases = [c for c in all_cases() if (c.core or args.all)
             and (not args.only or any(w in c.id for w in args.only))]
    faults = [f for f in FAULTS if not args.only or any(w in f"{f[0]}/{f[1]}" for w in args.only)]
    if args.list:
        for c in cases:
            print(c.id, c.kind, c.expect)
        for g, n, _ in faults:
            print(f"{g}/{n} fault")
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="segan-adversarial-"))
    HOME = work / "home"
    HOME.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    assets = build_assets(work / "assets")
    shared = snapshot(assets.root)
    print(f"{len(cases)} cases and {len(faults)} multi-process faults in {work}", flush=True)
    results: list[Result] = []
    lock = threading.Lock()

    def record(r: Result) -> None:
        with lock:
            results.append(r)
            mark = "!!" if r.outcome in FAILING else "  "
            print(f"{mark} [{len(results):>3}] {r.outcome:<12} {r.id} ({r.seconds:.0f} s)"
                  f"{': ' + r.note[:150] if r.note else ''}", flush=True)

    stopping = threading.Event()  # SIGINT/SIGTERM: finish the running cases, then report

    def stop(signum: int, frame: Any) -> None:
        stopping.set()
        print(f"signal {signum}: finishing the running cases, then the summary", flush=True)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    def one(c: Case) -> None:
        if not stopping.is_set():
            record(run_case(c, assets, work, args.keep))

    for group, name, func in faults:  # two processes each: one at a time, first
        if not stopping.is_set():
            record(run_fault(group, name, func, assets, work, args.keep))
    by_group: dict[str, list[Case]] = {}
    for c in cases:
        by_group.setdefault(c.group, []).append(c)
    # round-robin over the classes, so that a pass stopped early still samples each
    ordered = [c for batch in itertools.zip_longest(*by_group.values()) for c in batch if c]
    with ThreadPoolExecutor(args.jobs) as pool:
        for c in ordered:
            pool.submit(one, c)
    changed = [k for k, v in shared.items() if snapshot(assets.root).get(k) != v]
    if changed:
        results.append(Result("harness/shared-assets", "harness", "bad", "", None, "data loss",
                              f"shared inputs changed: {changed[:4]}"))
    order = {c.id: i for i, c in enumerate(cases)}
    results.sort(key=lambda r: order.get(r.id, len(order)))
    text = summary(results)
    if stopping.is_set():
        text += (f"\nstopped early: {len(results)} of {len(cases) + len(faults)} cases ran "
                 "(a partial pass)")
    print("\n" + text)
    print(f"\n{time.monotonic() - t0:.0f} s; logs in {work / 'logs'}")
    if args.json:
        args.json.write_text(json.dumps({
            "complete": not stopping.is_set(), "summary": text,
            "command": "nice -n 19 .venv/bin/python -m tests.adversarial "
                       + " ".join(argv if argv is not None else sys.argv[1:]),
            "cases": [r.__dict__ for r in results]}, indent=1))
    if not args.keep and not any(r.outcome in FAILING for r in results):
        shutil.rmtree(work / "cases", ignore_errors=True)
    return 1 if any(r.outcome in FAILING for r in results) else 0

