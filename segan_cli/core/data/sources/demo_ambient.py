"""Everyday recorded noise for ``prepare demo --size full``: wind, rain, crowds, traffic.

The base demo noises (music on hold, keys, water and lava loops, synthetic colours)
hold none of the noise people record speech in. These categories come from the game
and data packages measured in ``shared/notes/noise-sources.md``: real ambient
recordings, grouped by category so that each category is one noise recording of the
corpus, and the mixer's uniform draw over recordings weighs categories, not files (a
long loop cannot dominate). Within a category every file is decoded, its near-silent
stretches are dropped, the middle ``MAX_FILE_SECONDS`` kept, and it is levelled
before the files are joined with cross-fades; byte-identical files count once.

Whole packages go to one split: training reads ``TRAIN_PACKAGES``, validation reads
``VALID_PACKAGES`` (Red Eclipse and Flare), so checkpoints are chosen on recordings
no training mixture holds. ``ufoai-sound`` and ``supertuxkart-data`` are reserved for
scoring the shipped model and are never read, nor is any file known to be a copy of
one of theirs (MegaGlest's ``rain.ogg``). Recordings the note judged synthetic-like
(generated wind loops) are left out by name.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import zipfile
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from segan_cli.core.data.sources.demo_noise import (
    NOISE_RATE,
    NoiseInputs,
    NoiseSpec,
    drop_quiet,
    join,
    level,
)
from segan_cli.core.io.audio import resample, to_mono
from segan_cli.errors import CorpusError

AMBIENT_VERSION = 1
MAX_FILE_SECONDS = 45.0
RESERVED_PACKAGES = ("ufoai-sound", "supertuxkart-data")
ZAD_ZIP = "usr/share/games/0ad/mods/public/public.zip"


@dataclass(frozen=True)
class AmbientPackage:
    """A package read for ambient noise: its licence and a phrase its copyright holds."""

    name: str
    licence: str
    phrase: str
    split: str  # "train" or "valid": the whole package serves one split


PACKAGES = (
    AmbientPackage("0ad-data", "CC-BY-SA-3.0", "CC-BY-SA", "train"),
    AmbientPackage("megaglest-data", "CC-BY-SA-3.0", "CC-BY-SA", "train"),
    AmbientPackage("scorched3d-data", "GPL-2+", "GPL", "train"),
    AmbientPackage("lincity-ng-data", "GPL-2+", "GPL", "train"),
    AmbientPackage("endless-sky-data", "public domain", "public domain", "train"),
    AmbientPackage("lugaru-data", "CC-BY-SA-3.0", "CC-BY-SA", "train"),
    AmbientPackage("etw-data", "GPL-2+", "GPL", "train"),
    AmbientPackage("redeclipse-data", "CC-BY-SA / CC-BY", "CC-BY", "valid"),
    AmbientPackage("flare-game", "CC-BY-SA-3.0+", "CC-BY-SA", "valid"),
)
TRAIN_PACKAGES = tuple(p.name for p in PACKAGES if p.split == "train")
VALID_PACKAGES = tuple(p.name for p in PACKAGES if p.split == "valid")

_LC = "lincity-ng-data:usr/share/games/lincity-ng/sounds/"
_S3 = "scorched3d-data:usr/share/games/scorched3d/data/globalmods/"
_MG = "megaglest-data:usr/share/games/megaglest/tilesets/"
_ZAD = f"0ad-data:{ZAD_ZIP}!audio/ambient/"
_RE = "redeclipse-data:usr/share/games/redeclipse/data/sounds/ambience/"
_FL = "flare-game:usr/share/games/flare/mods/*/soundfx/environment/"
#: judged synthetic-like in the noise note (generated wind), or a copy of a reserved file
EXCLUDED = ("*/wind*_11.ogg", "*windstorm*", "*snowstorm*", "*windgust*",
            "*/blowwind.ogg", "*/alienwind.ogg", "*/dizzywind.ogg", "*/hollowwind.ogg",
            "*/tilesets/*/rain.ogg", "*/tilesets/winter*/sounds/wind.ogg")


def _ambient(inp: NoiseInputs) -> np.ndarray:
    """The category's files (``package:glob`` or ``package:zip!member-glob``), each
    levelled, quiet parts dropped, capped, joined; copies counted once."""
    seen: set[str] = set()
    parts = []
    for blob_name, blob in _files(inp):
        digest = hashlib.md5(blob).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        x = drop_quiet(_decode(blob, blob_name))
        if x.size < NOISE_RATE:  # under a second of sound: a one-shot, not ambience
            continue
        cap = int(MAX_FILE_SECONDS * NOISE_RATE)
        if x.size > cap:
            mid = x.size // 2
            x = x[mid - cap // 2:mid - cap // 2 + cap]
        parts.append(level(x))
    if not parts:
        raise CorpusError(f"no usable recordings for {', '.join(inp.args)}",
                          "the package layout changed; delete the demo cache and retry")
    return join(parts)


def _files(inp: NoiseInputs) -> list[tuple[str, bytes]]:
    """(name, bytes) of every file the patterns match, in a stable order."""
    out: dict[str, bytes] = {}
    for pattern in inp.args:
        package, _, rest = pattern.partition(":")
        root = inp.roots.get(package)
        if root is None:
            raise CorpusError(f"ambient noise needs the package {package}")
        if "!" in rest:
            archive, _, member = rest.partition("!")
            with zipfile.ZipFile(root / archive) as zf:
                for name in sorted(fnmatch.filter(zf.namelist(), member)):
                    key = f"{package}/{archive}!{name}"
                    if not _excluded(key):
                        out[key] = zf.read(name)
            continue
        for path in sorted(root.glob(rest)):
            key = f"{package}/{path.relative_to(root)}"
            if path.is_file() and not _excluded(key):
                out[key] = path.read_bytes()
    return sorted(out.items())


def _excluded(key: str) -> bool:
    return any(fnmatch.fnmatch(key, pat) for pat in EXCLUDED)


def _decode(blob: bytes, name: str) -> np.ndarray:
    try:
        data, sr = sf.read(io.BytesIO(blob), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for bad files
        raise CorpusError(f"cannot decode {name}: {exc}",
                          "delete the demo cache and retry") from exc
    if not np.all(np.isfinite(data)):
        raise CorpusError(f"{name} holds non-finite samples")
    return resample(to_mono(data), int(sr), NOISE_RATE)


def _spec(name: str, role: str, description: str, *patterns: str) -> NoiseSpec:
    packages = tuple(sorted({p.partition(":")[0] for p in patterns}))
    return NoiseSpec(name, role, ", ".join(packages), description, _ambient, patterns,
                     packages)


AMBIENT_NOISES = (
    _spec("wind", "train", "wind in the open and in a desert (recorded)",
          "lugaru-data:usr/share/games/lugaru/Sounds/Wind.ogg",
          "lugaru-data:usr/share/games/lugaru/Sounds/DesertAmbient.ogg",
          f"{_ZAD}weather/wind*.ogg"),
    _spec("rain", "train", "rain, showers and thunder",
          f"{_ZAD}weather/rain_*.ogg", f"{_ZAD}weather/thunder_*.ogg",
          f"{_S3}none/data/wav/misc/rain.wav",
          f"{_S3}none/data/wav/misc/thunder*.wav"),
    _spec("waterside", "train", "rivers, waves, lakes and harbours",
          f"{_ZAD}water/*.ogg", f"{_ZAD}building/amb_port_*.ogg",
          f"{_S3}none/data/wav/misc/oceanwaves.wav",
          f"{_LC}Water*.wav", f"{_LC}ParklandLake*.wav", f"{_LC}Harbor*.wav"),
    _spec("crowd", "train", "crowds: market, stadium, school, cheering",
          f"{_ZAD}building/amb_trade_*.ogg", f"{_LC}Market*.wav", f"{_LC}SportsCroud*.wav",
          f"{_LC}School*.wav", "etw-data:usr/share/games/etw/crowd/crowd*.wav",
          f"{_S3}apoc/data/wav/misc/cheeringloop.wav"),
    _spec("traffic", "train", "street traffic, trains, a city",
          f"{_LC}Trafic*.wav", f"{_LC}RailTrain*.wav", f"{_LC}DirtTrack*.wav",
          f"{_S3}apoc/data/wav/misc/citysounds.wav"),
    _spec("machinery", "train", "machinery, industry, power plants, engines",
          "endless-sky-data:usr/share/games/endless-sky/sounds/ambient/machinery.mp3",
          f"{_LC}Industry*.wav", f"{_LC}CoalMine*.wav", f"{_LC}OreMine*.wav",
          f"{_LC}PowerCoal*.wav", f"{_LC}Mill*.wav", f"{_LC}Substation*.wav",
          f"{_S3}apoc/data/wav/misc/factoryloop1.wav",
          f"{_S3}apoc/data/wav/misc/cessna.wav", f"{_S3}apoc/data/wav/misc/helicopter.wav"),
    _spec("countryside", "train", "forests by day and night, insects, birds, farms",
          f"{_MG}*/sounds/day.ogg", f"{_MG}*/sounds/night.ogg",
          f"{_MG}*/sounds/nightime.ogg", f"{_MG}*/sounds/sunny_day.ogg",
          f"{_ZAD}dayscape/*.ogg", f"{_ZAD}building/amb_farm_*.ogg",
          f"{_S3}none/data/wav/misc/birds*.wav", f"{_S3}none/data/wav/misc/frogs.wav",
          f"{_LC}Farm*.wav"),
    _spec("weather-valid", "valid", "wind and rain of two packages training never reads",
          f"{_RE}wind.ogg", f"{_RE}wastewind.ogg", f"{_RE}morph/stormrain.ogg",
          f"{_RE}morph/rain.ogg", f"{_RE}morph/stormwind.ogg", f"{_FL}rain.ogg",
          f"{_FL}wind_loop.ogg", f"{_FL}cave_wind_loop.ogg"),
    _spec("outdoors-valid", "valid", "rivers, waterfalls, forest, crickets, distant cars "
          "and machines of two packages training never reads",
          f"{_RE}river.ogg", f"{_RE}creek.ogg", f"{_RE}waterfall*.ogg", f"{_RE}forest*.ogg",
          f"{_RE}nightcrickets.ogg", f"{_RE}cycadas.ogg", f"{_RE}distant_cars.ogg",
          f"{_RE}machine*.ogg", f"{_FL}river_loop.ogg", f"{_FL}bird_twitter_loop.ogg",
          f"{_FL}forest_owl_loop.ogg", f"{_FL}minecart.ogg"),
)


def ambient_specs(*roles: str) -> tuple[NoiseSpec, ...]:
    """The ambient noises of the given roles, in AMBIENT_NOISES order."""
    return tuple(s for s in AMBIENT_NOISES if s.role in roles)


def ambient_packages() -> list[str]:
    """Debian packages the ambient categories read (never a reserved one)."""
    names = sorted({p for s in AMBIENT_NOISES for p in s.sources})
    if reserved := set(names) & set(RESERVED_PACKAGES):
        raise CorpusError(f"reserved noise packages named for the demo: {sorted(reserved)}")
    return names


def ambient_licences() -> dict[str, tuple[str, str]]:
    """Licence and copyright phrase of each ambient package."""
    return {p.name: (p.licence, p.phrase) for p in PACKAGES}
