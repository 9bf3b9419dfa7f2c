"""Memory of a process tree, counted once: PSS (proportional set size), RSS as a fallback.

A leaf module (psutil only) shared by the local backend and the resource sampler, so a
memory figure means one thing everywhere. Summed RSS counts pages shared between
processes (PostgreSQL's shared buffers, forked workers' copy-on-write pages) once per
process and climbs like a leak; PSS splits each shared page among its sharers.
"""

from __future__ import annotations

from collections.abc import Iterable

import psutil

MEMORY_MEASURE = "pss"  # what tree_memory measures when it can (else "rss")


def tree_memory(processes: Iterable[psutil.Process]) -> tuple[int, str]:
    """Bytes of memory of ``processes`` together, and the measure: "pss", or "rss" if any fell back.

    PSS (``/proc/PID/smaps_rollup``) counts a shared page once across the processes sharing
    it; a process whose PSS is unreadable (permissions) adds its RSS instead, an upper bound.
    Processes that exit meanwhile add nothing.
    """
    total = 0
    measure = MEMORY_MEASURE
    for process in processes:
        try:
            try:
                total += process.memory_full_info().pss
            except (psutil.AccessDenied, AttributeError):  # AttributeError: no PSS on this OS
                total += process.memory_info().rss
                measure = "rss"
        except psutil.Error:
            continue
    return total, measure


def tree_memory_bytes(processes: Iterable[psutil.Process]) -> int:
    """Bytes of memory of ``processes`` together (PSS, see ``tree_memory``)."""
    return tree_memory(processes)[0]
