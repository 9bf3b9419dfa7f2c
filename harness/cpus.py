"""CPU lists: one parser, one formatter, one strict check (a leaf module, as pyperf's ``_cpu_utils``).

A CPU list is Linux cpuset syntax: ``"0"``, ``"1-3"``, ``"0,2-3"``; the empty string
means "no pinning". Every caller (config validation, the load generator, the backends,
``bench doctor``) uses these functions, so a CPU list means one thing everywhere: a
CPU the machine does not offer is an error, never silently dropped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from harness.errors import ConfigError

_EXAMPLES = "write a CPU number or range, e.g. '1', '0-3' or '0,2'"


def parse_cpu_list(text: str) -> frozenset[int]:
    """CPU numbers of a cpuset string ("0", "1-3", "0,2-3", " 1 , 3"); "" -> empty set.

    Raises ``ConfigError`` (its message starts "cpu set ...") for anything else.
    """
    cpus: set[int] = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        first, dash, last = part.partition("-")
        try:
            low = int(first)
            high = int(last) if dash else low
        except ValueError:
            raise ConfigError(f"cpu set {text!r}: {part!r} is not valid; {_EXAMPLES}") from None
        if low < 0 or high < 0:
            raise ConfigError(f"cpu set {text!r}: {part!r} is not valid; {_EXAMPLES}")
        if high < low:
            raise ConfigError(f"cpu set {text!r}: range {part!r} is backwards; write '{high}-{low}'")
        cpus.update(range(low, high + 1))
    return frozenset(cpus)


def format_cpu_list(cpus: Iterable[int]) -> str:
    """The cpuset string of ``cpus``: runs of three or more become ranges ({0,1,2,5} -> "0-2,5").

    Two neighbours stay a list ({0, 1} -> "0,1"), which reads as two CPUs, not a count.
    """
    parts: list[str] = []
    run: list[int] = []
    for cpu in sorted(set(cpus)):
        if run and cpu != run[-1] + 1:
            parts.append(_format_run(run))
            run = []
        run.append(cpu)
    if run:
        parts.append(_format_run(run))
    return ",".join(parts)


def _format_run(run: list[int]) -> str:
    if len(run) >= 3:
        return f"{run[0]}-{run[-1]}"
    return ",".join(str(cpu) for cpu in run)


def available_cpus() -> frozenset[int]:
    """The CPUs this process may run on (its affinity mask; all CPUs where there is none)."""
    if hasattr(os, "sched_getaffinity"):
        return frozenset(os.sched_getaffinity(0))
    return frozenset(range(os.cpu_count() or 1))


def check_cpu_list(
    text: str, key: str, available: frozenset[int] | None = None
) -> frozenset[int]:
    """``parse_cpu_list`` plus the check that this machine offers every CPU named.

    ``key`` is the config key the value came from (e.g. ``"cpu.target_cpus"``);
    ``available`` defaults to ``available_cpus()``. The ``ConfigError`` names the key,
    the value, the missing CPUs and the available ones.
    """
    try:
        cpus = parse_cpu_list(text)
    except ConfigError as error:
        raise ConfigError(f"{key}: {error}") from None
    usable = available if available is not None else available_cpus()
    missing = sorted(cpus - usable)
    if missing:
        raise ConfigError(
            f"{key} = {text!r} names CPU(s) {missing} that this machine does not offer "
            f"(available: {format_cpu_list(usable)}); set {key} in bench.toml"
        )
    return cpus
