"""Keep BLAS to one thread while scoring.

The suite's only matrix products are tiny (pystoi's one-third-octave band matrix).
OpenBLAS spreads them over every core and its threads spin between calls, which
costs more CPU than it saves and, in a process pool, makes the workers fight each
other: on 2 cores, 25 VoiceBank files took 3.4 s with default threads against
2.5 s single-threaded, and ``workers=2`` gained nothing. threadpoolctl limits every
BLAS library loaded in the process (numpy's and scipy's).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits


def limit_blas_threads(n: int = 1) -> None:
    """Set every loaded BLAS to ``n`` threads (a pool worker's initializer)."""
    threadpool_limits(limits=n, user_api="blas")


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the block with BLAS on one thread, then restore the previous counts."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield
