"""The signals of a listening file (noisy, each system's output, clean) and their WAVs.

Every signal is brought to one rate (the corpus's, else the clean file's) and written
as 16-bit PCM WAV, which every browser plays and which keeps the folder small enough
to zip and send. Enhanced rows' outputs come from memory (see
:func:`~segan_cli.core.evaluation.plans.enhanced_output`); files are read from disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from segan_cli.core.evaluation.plans import System, enhanced_output
from segan_cli.core.io.audio import audio_info, load_mono
from segan_cli.core.report.numbers import compared, reference
from segan_cli.errors import SeganError

CLEAN_LABEL = "Clean"


@dataclass
class Track:
    """One column of a listening file: a label and its signal, or why there is none."""

    label: str
    system: System | None  # the row it belongs to; None for the clean reference
    signal: np.ndarray | None
    problem: str = ""


def _paths(system: System, name: str) -> tuple[Path, Path | np.ndarray] | None:
    """(clean path, input or output) of ``name`` in a row: a pair's enhanced side, or
    an enhanced row's noisy input."""
    for item, clean, other in system.pairs:
        if item == name:
            return Path(clean), other  # type: ignore[return-value]
    for item, clean, noisy in system.items:
        if item == name:
            return Path(clean), Path(noisy)
    return None


def _load(source: Path | np.ndarray, rate: int) -> tuple[np.ndarray | None, str]:
    if isinstance(source, np.ndarray):
        return np.asarray(source, dtype=np.float32), ""
    try:
        return load_mono(source, rate), ""
    except SeganError as exc:
        return None, str(exc)


def tracks(name: str, systems: list[System]) -> tuple[list[Track], int]:
    """The tracks of one file, Noisy first and Clean last, and their common rate."""
    found = [p for s in systems if (p := _paths(s, name)) is not None]
    if not found:
        raise SeganError(f"no row holds the file {name}")
    clean_path = found[0][0]
    rate = next((s.sample_rate for s in systems if s.sample_rate), None)
    if rate is None:
        rate = audio_info(clean_path).sample_rate
    ref = reference(systems)
    noisy_src = None
    if ref is not None and (p := _paths(ref, name)) is not None:
        noisy_src = p[1]
    else:  # an enhanced row knows its input
        noisy_src = next((p[1] for s in systems if s.items
                          and (p := _paths(s, name)) is not None), None)
    out = []
    if noisy_src is not None:
        out.append(Track(ref.label if ref is not None else "Noisy", ref,
                         *_load(noisy_src, rate)))
    for system in compared(systems):
        if system.enhance is not None:
            sig = enhanced_output(system, name)
            out.append(Track(system.label, system, sig,
                             "" if sig is not None else "could not be enhanced"))
        elif (p := _paths(system, name)) is not None:
            out.append(Track(system.label, system, *_load(p[1], rate)))
        else:
            out.append(Track(system.label, system, None, "no such file in this row"))
    out.append(Track(CLEAN_LABEL, None, *_load(clean_path, rate)))
    return out, rate


def write_wav16(path: Path, signal: np.ndarray, rate: int) -> None:
    """Write a mono signal as 16-bit PCM WAV, clipped to [-1, 1] rather than wrapped."""
    sf.write(str(path), np.clip(np.asarray(signal, dtype=np.float32), -1.0, 1.0), rate,
             subtype="PCM_16", format="WAV")
