"""Keep OpenBLAS to one thread while scoring.

The suite's only matrix products are tiny (pystoi's one-third-octave band matrix).
OpenBLAS spreads them over every core and its threads spin between calls, which
costs more CPU than it saves and, in a process pool, makes the workers fight each
other: on 2 cores, 25 VoiceBank files took 3.4 s with default threads against
2.5 s single-threaded, and ``workers=2`` gained nothing. So batch scoring pins the
OpenBLAS libraries loaded in the process (numpy's and scipy's) to one thread, found
through ``/proc/self/maps`` and ctypes, as threadpoolctl does; elsewhere (no
``/proc``, MKL, Accelerate) this is a no-op.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

_PREFIXES = ("openblas", "scipy_openblas")
_SUFFIXES = ("", "64_")


def _openblas_controls() -> list[tuple[Callable[[], int], Callable[[int], None]]]:
    """(get, set) thread-count functions of every OpenBLAS loaded in this process."""
    maps = Path("/proc/self/maps")
    try:
        lines = maps.read_text().splitlines()
    except OSError:
        return []
    paths = sorted({ln.split()[-1] for ln in lines
                    if "openblas" in ln.rsplit("/", 1)[-1].lower() and "/" in ln})
    controls = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in _PREFIXES:
            for suffix in _SUFFIXES:
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    get.restype = ctypes.c_int
                    put.argtypes = [ctypes.c_int]
                    controls.append((get, put))
                    break
            else:
                continue
            break
    return controls


def limit_blas_threads(n: int = 1) -> None:
    """Set every loaded OpenBLAS to ``n`` threads (a pool worker's initializer)."""
    for _, put in _openblas_controls():
        put(n)


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the block with OpenBLAS on one thread, then restore the previous counts."""
    controls = _openblas_controls()
    previous = [get() for get, _ in controls]
    for _, put in controls:
        put(1)
    try:
        yield
    finally:
        for (_, put), count in zip(controls, previous, strict=True):
            put(count)
