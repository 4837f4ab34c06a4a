"""``prepare demo``: a small VoiceBank-like corpus of real speech and real noise, offline.

The sources are Debian packages (DESIGN.md section 4), fetched with ``apt-get
download`` and unpacked with ``dpkg-deb -x`` into a cache, decoded once, and mixed by
``prepare_mix`` from a folder linking exactly the selected prompts. The split mirrors
VoiceBank-DEMAND: training voices at the training SNRs, a test voice (the male
Italian one) never heard in training, with test noises never heard in training at the
test SNRs. ``small`` validates on the Spanish voice: the four female voices are only
three people (Allison Smith records English and Spanish), so validating on her
Spanish keeps three distinct talkers in training while checkpoints are still chosen
on prompts never trained on, and never on the test voice. ``full`` adds dozens of
word-clip voices from three more packages (``demo_clips``) and validates on two of
them, a man and a woman who are nobody in training (``demo_roles``), with validation
noises that neither training nor test hears, and adds everyday recorded noise (wind,
rain, crowds, traffic, machinery; ``demo_ambient``) from packages that serve one split
each.

Cache layout (``~/.cache/segan/demo``; ``$SEGAN_CACHE/demo``; or ``cache_dir``):
``debs/``, ``extracted/``, ``prompts-3/<voice>_<prompt>.wav``, ``speech/`` (grouped word clips),
``clips/<voice>.json`` (voice measurements), ``noise/<name>.wav`` (training and
test noises), ``noise-valid/<name>.wav`` and ``selections/<size>-<hash>/`` (links to
the speech, or for ``full`` also the noises, of one selection).
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

import numpy as np

from segan_cli.core.data.pipeline.corpus import CorpusExistsError
from segan_cli.core.data.pipeline.manifest import MANIFEST_NAME, Manifest
from segan_cli.core.data.sources.debian import FetchedPackage, fetch_packages
from segan_cli.core.data.sources.demo_ambient import (
    AMBIENT_NOISES,
    AMBIENT_VERSION,
    ambient_licences,
    ambient_packages,
)
from segan_cli.core.data.sources.demo_clip_measure import sex_of, speech_f0
from segan_cli.core.data.sources.demo_clips import (
    CLIP_PACKAGES,
    ClipSpeech,
    build_clip_speech,
    recipe_record,
    voice_count,
)
from segan_cli.core.data.sources.demo_noise import (
    NOISE_FOLDERS,
    NOISE_RATE,
    NOISE_SEED,
    NOISES,
    RECIPE_VERSION,
    VALID_RECIPE_VERSION,
    NoiseSpec,
    build_noises,
    noise_packages,
    noise_specs,
)
from segan_cli.core.data.sources.demo_roles import TEST_VOICE, voice_roles
from segan_cli.core.data.sources.demo_speech import (
    G722_BIT_RATE,
    G722_RATE,
    NON_SPEECH,
    NON_SPEECH_DIRS,
    VOICES,
    Selection,
    Voice,
    cached_prompt,
    g722_seconds,
    list_prompts,
    select_prompts,
)
from segan_cli.core.data.sources.mix import prepare_mix
from segan_cli.core.io.audio import read_audio, to_mono
from segan_cli.core.io.temporaries import temp_dir
from segan_cli.core.runtime.progress import Progress, SilentProgress
from segan_cli.errors import CorpusError
from segan_cli.settings import DataSettings

PROMPT_FOLDER = "prompts-3"  # decoded prompts, digital silence filled ("speech": raw)
MAX_REJECTED = 0.2  # more rejected prompts than this means the decoder is wrong
SSN_PROMPTS = 40  # per voice, for the long-term spectrum of speech-shaped noise
MIX_HINT = ("build a corpus from your own recordings instead: "
            "segan prepare mix --clean SPEECH_DIR --noise NOISE_DIR --out DIR")


def size_plan(size: str) -> dict[str, Selection]:
    """Prompts per voice role: ``small`` is minutes of audio, ``full`` every prompt."""
    if size == "small":
        return {"train": Selection(1.0, 8.0, 60), "valid": Selection(1.0, 8.0, 30),
                "test": Selection(1.0, 8.0, 40)}
    if size == "full":
        every = Selection(0.0, math.inf, None)
        return {"train": every, "valid": every, "test": every}
    raise CorpusError(f"unknown demo corpus size '{size}'", "use small or full")


def demo_cache(cache_dir: Path | None = None) -> Path:
    """Where the demo sources are kept: ``cache_dir``, else $SEGAN_CACHE/demo, else ~/.cache."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    base = os.environ.get("SEGAN_CACHE")
    if base:
        return Path(base).expanduser() / "demo"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "segan" / "demo"


def package_licences() -> dict[str, tuple[str, str]]:
    """Licence of each package's recordings, and a phrase its copyright file must hold."""
    out = {v.package: (v.licence, v.talent.split(" (")[0]) for v in VOICES}
    out.update({
        "asterisk-moh-opsound-g722": ("CC-BY-SA-3.0", "Attribution-ShareAlike 3.0"),
        "bucklespring-data": ("GPL-2+", "License: GPL-2+"),
        "minetest-data": ("CC-BY-SA-3.0 (*.ogg)", "CC-BY-SA-3.0"),
        "fillets-ng-data-cs": ("GPL-2", "version 2 dated June, 1991"),
    })
    out.update({p.name: (p.licence, p.phrase) for p in CLIP_PACKAGES})
    out.update(ambient_licences())
    return out


def prepare_demo(
    out: Path, *, cache_dir: Path | None = None, data: DataSettings, force: bool = False,
    progress: Progress | None = None, size: str = "small",
) -> Manifest:
    """Build the demo corpus in ``out`` from Debian's recorded prompts and noises."""
    progress = progress or SilentProgress()
    plan = size_plan(size)
    out = Path(out)
    if (out / MANIFEST_NAME).is_file() and not force:
        raise CorpusExistsError(f"a finished corpus already exists in {out}",
                                "pass --force to rebuild it")
    cache = demo_cache(cache_dir)
    packages = fetch_all(cache, progress, size)
    clips = clip_speech(cache, packages, data.window, progress) if size == "full" else None
    roles = voice_roles(data.valid_speakers, clips.used if clips else ())
    speech_dir, selection = materialise_speech(cache, packages, size, roles, data.seed,
                                               progress, clips)
    noise_dir, noise_roles = demo_noises(cache, packages, size, progress)
    source = demo_source(size, cache, packages, roles, plan, data.seed, selection, clips)
    return prepare_mix(
        speech_dir, noise_dir, out,
        sample_rate=data.sample_rate, train_snrs=data.train_snrs, test_snrs=data.test_snrs,
        valid_snrs=data.valid_snrs,
        valid_speakers=[v for v, r in roles.items() if r == "valid"],
        test_speakers=[v for v, r in roles.items() if r == "test"],
        test_noises=noise_roles["test"], valid_noises=noise_roles.get("valid"),
        seed=data.seed, quality=data.resample_quality, force=force, progress=progress,
        name="segan-demo",
        source_extra=source)


def fetch_all(cache: Path, progress: Progress, size: str = "small"
              ) -> dict[str, FetchedPackage]:
    """Every source package of the size, downloaded and unpacked once."""
    names = [v.package for v in VOICES] + noise_packages()
    if size == "full":
        names += [p.name for p in CLIP_PACKAGES] + ambient_packages()
    progress.start("fetching Debian packages", len(names))
    return fetch_packages(names, cache, MIX_HINT, progress.advance)


def clip_speech(cache: Path, packages: dict[str, FetchedPackage], window: int,
                progress: Progress) -> ClipSpeech:
    """The word-clip voices measured and grouped into utterances (once; then cached)."""
    roots = {p.name: packages[p.name].root for p in CLIP_PACKAGES}
    progress.start("measuring and joining word clips", voice_count(roots))
    return build_clip_speech(cache, roots, window, progress.advance)


def demo_noises(cache: Path, packages: dict[str, FetchedPackage], size: str,
                progress: Progress) -> tuple[Path, dict[str, list[str]]]:
    """Build the size's noise recordings; returns their folder and the names per role.

    ``small`` uses the training and test noises' folder as it is; ``full`` links
    those, the validation noises and the everyday recorded categories (their own
    folder, ``noise-ambient``, with its own stamp) into one selection folder.
    """
    folders = {k: v for k, v in NOISE_FOLDERS.items() if size == "full" or "valid" not in v[0]}
    ambient = AMBIENT_NOISES if size == "full" else ()
    progress.start("building noise recordings",
                   sum(len(noise_specs(*roles)) for roles, _ in folders.values())
                   + len(ambient))
    roots = {name: pkg.root for name, pkg in packages.items()}
    wavs: list[Path] = []
    for folder, (roles, version) in folders.items():
        wavs += build_noises(cache / folder, roots, lambda: ssn_speech(cache, packages),
                             progress.advance, roles, version).values()
    names = {role: [s.name for s in noise_specs(role)]
             for roles, _ in folders.values() for role in roles}
    if ambient:
        wavs += build_noises(cache / "noise-ambient", roots, lambda: [], progress.advance,
                             version=AMBIENT_VERSION, specs=ambient).values()
        for spec in ambient:
            names[spec.role].append(spec.name)
    if size == "small":
        return cache / "noise", names
    return link_selection(cache / "selections", wavs, f"noise-{size}"), names


def materialise_speech(
    cache: Path, packages: dict[str, FetchedPackage], size: str, roles: dict[str, str],
    seed: int, progress: Progress, clips: ClipSpeech | None = None,
) -> tuple[Path, dict]:
    """Decode the selected prompts (once) and link them into a selection folder."""
    plan = size_plan(size)
    chosen: list[tuple[Voice, str, Path]] = []
    for voice in VOICES:
        prompts = list_prompts(packages[voice.package].root, voice)
        keys = select_prompts(prompts, plan[roles[voice.id]], seed, voice.id)
        chosen += [(voice, k, prompts[k]) for k in keys]
    progress.start("decoding speech prompts (G.722)", len(chosen))
    wavs: list[Path] = []
    rejected: dict[str, list[str]] = {}
    for voice, key, src in chosen:
        dst = cache / PROMPT_FOLDER / f"{voice.id}_{key}.wav"
        _, problem = cached_prompt(src, dst, load=False)
        if problem:
            rejected.setdefault(voice.id, []).append(f"{key}: {problem}")
            progress.note(f"skipped prompt {voice.id}/{key}: {problem}")
        else:
            wavs.append(dst)
        progress.advance(1)
    for voice in VOICES:
        n = sum(1 for v, _, _ in chosen if v is voice)
        bad = rejected.get(voice.id, [])
        if n and len(bad) > MAX_REJECTED * n:
            raise CorpusError(f"{len(bad)} of {n} decoded prompts of {voice.package} do not "
                              f"look like speech (e.g. {bad[0]})",
                              "is the G722 package working? delete the demo cache and retry")
    counts = {v.id: sum(1 for w in wavs if w.name.startswith(v.id + "_")) for v in VOICES}
    extra = {}
    if clips is not None:
        extra["prompt_f0"] = {v.id: speech_f0(_spread(
            [w for w in wavs if w.name.startswith(v.id + "_")])) for v in VOICES}
        extra["prompt_minutes"] = {v.id: round(sum(
            g722_seconds(p) for vv, _, p in chosen if vv is v) / 60, 2) for v in VOICES}
        for voice_wavs in clips.wavs.values():
            wavs += voice_wavs
    return link_selection(cache / "selections", wavs, size), {
        "prompts": counts, "rejected": rejected, **extra}


def _spread(wavs: list[Path], n: int = SSN_PROMPTS) -> list[np.ndarray]:
    """Up to ``n`` evenly spaced recordings of a list, decoded (for a voice's F0)."""
    idx = np.linspace(0, len(wavs) - 1, min(n, len(wavs))).astype(int) if wavs else []
    return [to_mono(read_audio(wavs[i])[0]) for i in idx]


def link_selection(base: Path, wavs: list[Path], size: str) -> Path:
    """A folder holding exactly ``wavs`` (as links), named by its content, made once.

    The name's digest covers where each file lies too, so a recipe that writes the same
    names elsewhere (filled prompts in ``prompts-3/``) never reuses a stale selection.
    """
    names = sorted(f"{w.name}\t{w.parent.name}" for w in wavs)
    digest = hashlib.sha1("\n".join(names).encode("utf-8")).hexdigest()[:12]
    folder = base / f"{size}-{digest}"
    if folder.is_dir():
        return folder
    base.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir(base, folder.name)
    try:
        for w in wavs:
            _link(w, tmp / w.name)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _link(target: Path, link: Path) -> None:
    try:
        link.symlink_to(os.path.relpath(target, link.parent))
    except OSError:
        try:
            os.link(target, link)
        except OSError:
            shutil.copyfile(target, link)


def ssn_speech(cache: Path, packages: dict[str, FetchedPackage]) -> list[np.ndarray]:
    """Speech for the long-term spectrum of speech-shaped noise: a fixed, seed-free,
    evenly spaced set of prompts of every non-test voice (so the noise cache is shared)."""
    out = []
    for voice in VOICES:
        if voice.id == TEST_VOICE:
            continue
        prompts = list_prompts(packages[voice.package].root, voice)
        keys = select_prompts(prompts, Selection(1.0, 8.0, None), 0, voice.id)
        for i in np.linspace(0, len(keys) - 1, min(SSN_PROMPTS, len(keys))).astype(int):
            x, problem = cached_prompt(prompts[keys[i]],
                                       cache / PROMPT_FOLDER / f"{voice.id}_{keys[i]}.wav")
            if problem is None and x is not None:
                out.append(x)
    return out


def demo_source(size: str, cache: Path, packages: dict[str, FetchedPackage],
                roles: dict[str, str], plan: dict[str, Selection], seed: int,
                selection: dict, clips: ClipSpeech | None = None) -> dict:
    """Provenance for the manifest: packages, versions, licences, voices, selection, noise.

    ``full`` adds each voice's measured F0, sex and minutes, the word-clip voices (used
    and dropped, with why) and the recipe that grouped their clips.
    """
    licences = package_licences()
    pkgs = []
    for name, pkg in packages.items():
        licence, phrase = licences[name]
        text = _copyright_text(pkg)
        pkgs.append({**pkg.record(), "licence": licence if phrase in text else
                     f"unverified ({licence} expected; see {pkg.copyright_file()})"})
    voices = [{**asdict(v), "role": roles[v.id], "prompts": selection["prompts"][v.id]}
              for v in VOICES]
    noises = NOISES + AMBIENT_NOISES if clips is not None else noise_specs("train", "test")
    extra = {} if clips is None else _clip_source(voices, roles, selection, clips)
    return {
        "kind": "demo", "size": size, "cache": str(cache.resolve()), "packages": pkgs,
        "voices": voices, **extra,
        "selection": {
            "seed": seed, "per_role": {r: _plan_record(s) for r, s in plan.items()},
            "excluded_prompts": sorted(NON_SPEECH),
            "excluded_folders": sorted(NON_SPEECH_DIRS), "rejected": selection["rejected"],
        },
        "decoder": {"library": "G722", "version": _version("G722"),
                    "sample_rate": G722_RATE, "bit_rate": G722_BIT_RATE},
        "noise_recordings": {s.name: _noise_record(s, licences) for s in noises},
        "noise_recipe": {"version": RECIPE_VERSION, "seed": NOISE_SEED,
                         "sample_rate": NOISE_RATE,
                         **({"valid_version": VALID_RECIPE_VERSION,
                             "ambient_version": AMBIENT_VERSION} if clips else {})},
    }


def _clip_source(voices: list[dict], roles: dict[str, str], selection: dict,
                 clips: ClipSpeech) -> dict:
    """The full corpus' extra provenance; measured figures are added to ``voices``."""
    for v in voices:
        f0 = selection["prompt_f0"][v["id"]]
        v.update({"f0_hz": f0, "sex_measured": sex_of(f0),
                  "minutes": selection["prompt_minutes"][v["id"]]})
    for m in clips.used:
        voices.append({**m.record(), "role": roles[m.id], "utterances": len(clips.wavs[m.id])})
    return {"dropped_voices": clips.dropped, "clip_recipe": recipe_record()}


def _noise_record(spec: NoiseSpec, licences: dict[str, tuple[str, str]]) -> dict:
    """A noise recording's role, description, packages and their licences."""
    rec = spec.record()
    packages = spec.packages()
    rec["licence"] = "; ".join(f"{p}: {licences[p][0]}" for p in packages) if packages \
        else "synthetic (generated here)"
    return rec


def _plan_record(s: Selection) -> dict:
    return {"min_seconds": s.min_seconds,
            "max_seconds": None if math.isinf(s.max_seconds) else s.max_seconds,
            "count": s.count}


def _copyright_text(pkg: FetchedPackage) -> str:
    try:
        return " ".join(pkg.copyright_file().read_text(encoding="utf-8",
                                                       errors="replace").split())
    except OSError:
        return ""


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None

