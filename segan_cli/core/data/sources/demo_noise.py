"""Demo noise: real recordings from Debian packages plus seeded synthetic noise.

Each noise is one 16 kHz recording in the cache, built once from a fixed recipe and
seed (independent of the corpus seed, so every corpus shares the cache). Real
recordings lose their near-silent stretches (a silent noise excerpt cannot be mixed
at any SNR) and every noise is levelled to the same RMS. The test noises (babble,
fire, other music, brown) never occur in training, as in VoiceBank-DEMAND. The
validation noises (footsteps, mains hum, blue noise) occur in neither training nor
test, so checkpoints are chosen on noise types the model never heard; they live in
their own folder with their own recipe version, so adding them left the cache of
the training and test noises untouched.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.signal import welch

from segan_cli.core.data.sources.demo_speech import decode_g722
from segan_cli.core.io.audio import load_mono, write_audio
from segan_cli.core.io.files import write_text_atomic
from segan_cli.errors import CorpusError

NOISE_RATE = 16000
NOISE_SECONDS = 60.0
NOISE_DBFS = -26.0
NOISE_SEED = 20170904  # fixed: the noise cache must not depend on the corpus seed
RECIPE_VERSION = 1
VALID_RECIPE_VERSION = 1  # the validation noises' folder has its own stamp
FRAME = NOISE_RATE // 10
QUIET_DBFS = -50.0
MOH = "asterisk-moh-opsound-g722"
BUCKLE = "bucklespring-data"
MINETEST = "minetest-data"
FILLETS = "fillets-ng-data-cs"


@dataclass(frozen=True)
class NoiseInputs:
    """What a recipe may use: its package's unpacked tree, a generator, training speech."""

    root: Path | None
    rng: np.random.Generator
    speech: Callable[[], list[np.ndarray]]
    args: tuple[str, ...] = ()
    roots: Mapping[str, Path] = field(default_factory=dict)  # recipes reading several


@dataclass(frozen=True)
class NoiseSpec:
    """One noise recording of the demo corpus and how it is made."""

    name: str
    role: str
    package: str | None
    description: str
    build: Callable[[NoiseInputs], np.ndarray] = field(repr=False)
    args: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # packages of a recipe that reads several

    def record(self) -> dict[str, str | None]:
        return {"role": self.role, "package": self.package, "description": self.description}

    def packages(self) -> tuple[str, ...]:
        """Every Debian package the recipe reads."""
        return self.sources or ((self.package,) if self.package else ())


def db_rms(x: np.ndarray) -> float:
    return 10.0 * float(np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def join(parts: list[np.ndarray], fade: int = NOISE_RATE // 100) -> np.ndarray:
    """Concatenate with short linear cross-fades, so joins do not click."""
    parts = [np.asarray(p, dtype=np.float32) for p in parts if p.size]
    if not parts:
        return np.zeros(0, dtype=np.float32)
    out = parts[0]
    for p in parts[1:]:
        f = min(fade, out.size, p.size)
        ramp = np.linspace(0.0, 1.0, f, dtype=np.float32)
        mid = out[out.size - f:] * (1 - ramp) + p[:f] * ramp
        out = np.concatenate([out[:out.size - f], mid, p[f:]])
    return out


def drop_quiet(x: np.ndarray, floor_db: float = QUIET_DBFS) -> np.ndarray:
    """Remove 100 ms frames quieter than ``floor_db`` (pauses, fades, loop gaps)."""
    n = x.size // FRAME
    if n == 0:
        return x
    loud = np.square(x[:n * FRAME].astype(np.float64)).reshape(n, FRAME).mean(axis=1)
    keep = 10 * np.log10(loud + 1e-20) >= floor_db
    runs, start = [], None
    for i, k in enumerate(np.append(keep, False)):
        if k and start is None:
            start = i
        elif not k and start is not None:
            runs.append(x[start * FRAME:i * FRAME])
            start = None
    return join(runs)


def level(x: np.ndarray, dbfs: float = NOISE_DBFS) -> np.ndarray:
    """Scale to ``dbfs`` RMS, then down if needed so the peak stays below 0.99."""
    y = x * 10 ** ((dbfs - db_rms(x)) / 20)
    peak = float(np.max(np.abs(y)))
    return (y * min(1.0, 0.99 / peak)).astype(np.float32)


def _spectral(rng: np.random.Generator, shape: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    n = int(NOISE_SECONDS * NOISE_RATE)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / NOISE_RATE)
    gain = shape(f)
    gain[0] = 0.0
    return np.fft.irfft(spec * gain, n).astype(np.float32)


def _white(inp: NoiseInputs) -> np.ndarray:
    return inp.rng.standard_normal(int(NOISE_SECONDS * NOISE_RATE)).astype(np.float32)


def _pink(inp: NoiseInputs) -> np.ndarray:
    return _spectral(inp.rng, lambda f: 1.0 / np.sqrt(np.maximum(f, 20.0)))


def _brown(inp: NoiseInputs) -> np.ndarray:
    return _spectral(inp.rng, lambda f: 1.0 / np.maximum(f, 20.0))


def _blue(inp: NoiseInputs) -> np.ndarray:
    return _spectral(inp.rng, lambda f: np.sqrt(np.maximum(f, 20.0)))


def _hum(inp: NoiseInputs, mains: float = 50.0) -> np.ndarray:
    """Mains hum and buzz: 40 harmonics of a slightly drifting 50 Hz, odd ones stronger,
    slowly wavering in level, over a faint hiss (tonal interference)."""
    rng = inp.rng
    n = int(NOISE_SECONDS * NOISE_RATE)
    t = np.arange(n) / NOISE_RATE
    freq = mains * (1 + 0.002 * np.sin(2 * np.pi * 0.05 * t + rng.uniform(0, 2 * np.pi)))
    phase = 2 * np.pi * np.cumsum(freq) / NOISE_RATE
    out = np.zeros(n)
    for k in range(1, 41):
        gain = rng.uniform(0.3, 1.0) * (2.0 if k % 2 else 1.0) / k ** 0.7
        out += gain * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    out *= 1 + 0.2 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 2 * np.pi))
    out += 0.02 * np.std(out) * rng.standard_normal(n)
    return out.astype(np.float32)


def _ssn(inp: NoiseInputs) -> np.ndarray:
    """White noise shaped by the long-term average spectrum of the training voices."""
    speech = [s for s in inp.speech() if s.size >= 512]
    if not speech:
        raise CorpusError("no training speech to shape the speech-shaped noise")
    psd = sum(welch(s, NOISE_RATE, nperseg=512)[1] * s.size for s in speech)
    freqs = np.fft.rfftfreq(512, 1.0 / NOISE_RATE)
    return _spectral(inp.rng, lambda f: np.sqrt(np.interp(f, freqs, psd)))


def _music(inp: NoiseInputs) -> np.ndarray:
    """Up to a minute from the middle of each track, quiet stretches removed."""
    parts = []
    for track in inp.args:
        path = _root(inp) / "usr/share/asterisk/moh" / f"{track}.g722"
        x = drop_quiet(decode_g722(_read(path)))
        half = int(NOISE_SECONDS * NOISE_RATE) // 2
        mid = x.size // 2
        x = x[max(0, mid - half):mid + half]
        parts.append(level(x))
    return join(parts)


def _clips(inp: NoiseInputs) -> np.ndarray:
    """Game sound loops (minetest), each levelled, quiet parts removed, joined."""
    files = sorted({p for pat in inp.args for p in _root(inp).rglob(pat)})
    if not files:
        raise CorpusError(f"no files matching {', '.join(inp.args)} in {_root(inp)}")
    return join([level(drop_quiet(load_mono(p, NOISE_RATE))) for p in files])


def _keyboard(inp: NoiseInputs) -> np.ndarray:
    """Key press/release samples placed at a seeded typing rhythm (about 6 keys/s)."""
    folder = _root(inp) / "usr/share/buckle/wav"
    keys = sorted({p.stem.rsplit("-", 1)[0] for p in folder.glob("*-0.wav")})
    keys = [k for k in keys if (folder / f"{k}-1.wav").is_file()]
    if not keys:
        raise CorpusError(f"no key samples in {folder}")
    sound = {(k, s): load_mono(folder / f"{k}-{s}.wav", NOISE_RATE) for k in keys for s in (0, 1)}
    n = int(NOISE_SECONDS * NOISE_RATE)
    out = np.zeros(n + NOISE_RATE, dtype=np.float32)
    t, rng = 0.05, inp.rng
    while t < NOISE_SECONDS:
        key = keys[int(rng.integers(len(keys)))]
        gain = float(rng.uniform(0.6, 1.0))
        for s, at in ((0, t), (1, t + rng.uniform(0.05, 0.12))):
            a = int(at * NOISE_RATE)
            clip = sound[(key, s)][:out.size - a]
            out[a:a + clip.size] += gain * clip
        t += float(rng.uniform(0.08, 0.28))
    return out[:n]


def _babble(inp: NoiseInputs, talkers: int = 6) -> np.ndarray:
    """Several streams of acted dialogue lines (Czech), each at unit level, summed."""
    files = sorted(_root(inp).rglob("*.ogg"))
    if not files:
        raise CorpusError(f"no dialogue clips in {_root(inp)}")
    n = int(NOISE_SECONDS * NOISE_RATE)
    rng = inp.rng
    out = np.zeros(n, dtype=np.float32)
    for _ in range(talkers):
        parts, total = [], 0
        while total < n:
            x = drop_quiet(load_mono(files[int(rng.integers(len(files)))], NOISE_RATE), -45)
            if x.size == 0:
                continue
            gap = np.zeros(int(rng.uniform(0.05, 0.3) * NOISE_RATE), dtype=np.float32)
            parts += [level(x, -20.0), gap]
            total += x.size + gap.size
        stream = np.concatenate(parts)
        start = int(rng.integers(0, stream.size - n + 1))
        out += stream[start:start + n]
    return out


def _root(inp: NoiseInputs) -> Path:
    if inp.root is None:
        raise ValueError("this noise recipe needs a package")
    return inp.root


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise CorpusError(f"expected recording missing: {path}",
                          "the package layout changed; delete the demo cache and retry")
    return path.read_bytes()


NOISES = (
    NoiseSpec("music-macroform", "train", MOH, "music on hold: three Macroform tracks",
              _music, ("macroform-cold_day", "macroform-robot_dity", "macroform-the_simplicity")),
    NoiseSpec("keyboard", "train", BUCKLE, "typing: buckling-spring key samples at a seeded "
              "rhythm", _keyboard),
    NoiseSpec("water", "train", MINETEST, "flowing water loops", _clips,
              ("env_sounds_water.*.ogg",)),
    NoiseSpec("lava", "train", MINETEST, "bubbling lava loops", _clips,
              ("env_sounds_lava.*.ogg",)),
    NoiseSpec("white", "train", None, "white Gaussian noise", _white),
    NoiseSpec("pink", "train", None, "pink (1/f) noise", _pink),
    NoiseSpec("ssn", "train", None, "speech-shaped noise: the long-term spectrum of the "
              "training voices", _ssn),
    NoiseSpec("babble", "test", FILLETS, "babble: six streams of acted Czech dialogue",
              _babble),
    NoiseSpec("fire", "test", MINETEST, "crackling fire loops", _clips,
              ("fire_fire.*.ogg", "fire_large.ogg", "fire_small.ogg")),
    NoiseSpec("music-others", "test", MOH, "music on hold by two other artists",
              _music, ("reno_project-system", "manolo_camp-morning_coffee")),
    NoiseSpec("brown", "test", None, "brown (1/f^2) noise", _brown),
    NoiseSpec("footsteps", "valid", MINETEST, "footsteps on grass, gravel, snow, wood, "
              "metal and more", _clips, ("*_footstep.*ogg",)),
    NoiseSpec("hum", "valid", None, "mains hum and buzz: harmonics of 50 Hz", _hum),
    NoiseSpec("blue", "valid", None, "blue noise (power rising 3 dB per octave)", _blue),
)
# training and test noises share one folder (and stamp), validation noises another
NOISE_FOLDERS = {"noise": (("train", "test"), RECIPE_VERSION),
                 "noise-valid": (("valid",), VALID_RECIPE_VERSION)}


def noise_specs(*roles: str) -> tuple[NoiseSpec, ...]:
    """The noises of the given roles, in NOISES order."""
    return tuple(s for s in NOISES if s.role in roles)


def noise_packages() -> list[str]:
    """Debian packages the noise recipes read."""
    return sorted({s.package for s in NOISES if s.package})


def build_noises(folder: Path, roots: dict[str, Path],
                 speech: Callable[[], list[np.ndarray]],
                 advance: Callable[[int], None] | None = None,
                 roles: tuple[str, ...] = ("train", "test"),
                 version: int = RECIPE_VERSION,
                 specs: Sequence[NoiseSpec] | None = None) -> dict[str, Path]:
    """Make every missing noise recording of ``roles`` (or ``specs``) in ``folder``;
    returns name -> wav.

    The folder's stamp holds ``version``: a changed recipe rebuilds only that folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    recipe = folder / "recipe.json"
    stamp = {"version": version, "seed": NOISE_SEED, "sample_rate": NOISE_RATE}
    try:
        current = json.loads(recipe.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        current = None
    if current != stamp:
        for old in folder.glob("*.wav"):
            old.unlink()
        write_text_atomic(recipe, json.dumps(stamp))
    out = {}
    for spec in noise_specs(*roles) if specs is None else specs:
        path = folder / f"{spec.name}.wav"
        if not path.is_file():
            rng = np.random.default_rng([NOISE_SEED, zlib.crc32(spec.name.encode("utf-8"))])
            root = roots[spec.package] if spec.package and not spec.sources else None
            own = {p: roots[p] for p in spec.sources}
            x = level(spec.build(NoiseInputs(root, rng, speech, spec.args, own)))
            _check_continuous(spec.name, x)
            write_audio(path, x, NOISE_RATE, "PCM_16")
        out[spec.name] = path
        if advance:
            advance(1)
    return out


def _check_continuous(name: str, x: np.ndarray) -> None:
    """Every 100 ms of a noise must carry sound, or a short utterance could get silence."""
    n = x.size // FRAME
    if n < 10:
        raise CorpusError(f"demo noise '{name}' came out shorter than a second")
    frames = np.square(x[:n * FRAME].astype(np.float64)).reshape(n, FRAME).mean(axis=1)
    quietest = 10 * float(np.log10(frames.min() + 1e-20))
    if quietest < -75:
        raise CorpusError(f"demo noise '{name}' has a silent stretch ({quietest:.0f} dBFS)")
