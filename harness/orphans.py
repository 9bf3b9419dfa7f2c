"""Load generators never outlive the harness that started them.

Two defences, because a SIGKILLed harness runs no teardown:

* **Parent-death signal.** Locust is started with ``PR_SET_PDEATHSIG`` = SIGKILL
  (``die_with_parent``), so the kernel kills it when the harness dies; its
  ``--processes`` workers set the same against Locust in ``scenarios/hook.py``, so
  the chain reaches every fork. (The signal fires when the *forking thread* exits:
  start Locust from a thread that lives as long as the load does.)
* **Reaper.** Every generator carries ``ARCHBENCH_OWNER=<owner token>`` in its
  environment (``harness.backends.ownership``); ``reap_dead_generators`` kills the
  process group of any process whose owner is dead: what slipped through (e.g. the
  signal lost in a race, or a non-Linux ``prctl``) is stopped by the next run.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import time
from collections.abc import Callable, Iterable

import psutil

from harness.backends.ownership import OWNER_ENV, owner_alive

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_PRCTL = _LIBC.prctl  # looked up before any fork, not in the child


def die_with_parent(cpus: Iterable[int] = ()) -> Callable[[], None]:
    """A ``preexec_fn``: SIGKILL this child when the calling thread's process dies; pin ``cpus``.

    Exits the child at once if the parent already died before ``prctl`` took effect.
    """
    parent = os.getpid()
    pinned = set(cpus)

    def setup() -> None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)
        if pinned:
            os.sched_setaffinity(0, pinned)

    return setup


def dead_owner_groups() -> dict[int, list[psutil.Process]]:
    """Process groups holding a process whose ``ARCHBENCH_OWNER`` names a dead owner.

    Our own group is never included; processes we may not inspect are skipped.
    """
    own_group = os.getpgid(0)
    groups: dict[int, list[psutil.Process]] = {}
    for process in psutil.process_iter():
        try:
            token = process.environ().get(OWNER_ENV)
            if token is None or owner_alive(token):
                continue
            group = os.getpgid(process.pid)
        except (psutil.Error, ProcessLookupError, PermissionError):
            continue
        if group != own_group and process.pid != os.getpid():
            groups.setdefault(group, []).append(process)
    return groups


def reap_dead_generators(timeout_s: float = 5.0) -> list[int]:
    """SIGKILL every group that ``dead_owner_groups`` finds; wait up to ``timeout_s`` seconds.

    Returns the pids that were found (for a log line); best effort, never raises.
    """
    groups = dead_owner_groups()
    found = [process for members in groups.values() for process in members]
    for group, members in groups.items():
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):  # the group is gone: kill the members one by one
            for process in members:
                with contextlib.suppress(psutil.Error):
                    process.kill()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(_alive(process) for process in found):
        time.sleep(0.05)
    return [process.pid for process in found]


def _alive(process: psutil.Process) -> bool:
    """Running and not a zombie (a killed orphan may wait a moment for init to reap it)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
