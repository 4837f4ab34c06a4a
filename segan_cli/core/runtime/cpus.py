"""How many processes this run can usefully start.

``os.cpu_count()`` counts the machine's CPUs, but a process may be limited to fewer
(``taskset``, a container's cpuset, a batch scheduler); workers beyond the usable
cores only add memory (each holds a model or a metric pipeline) and contention.
"""

from __future__ import annotations

import os


def usable_cores() -> int:
    """CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity API on this platform
        return max(1, os.cpu_count() or 1)
