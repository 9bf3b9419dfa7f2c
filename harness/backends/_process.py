"""Child processes the local backend starts: own process group, pinned CPUs, death with the harness.

Every process runs in a new session (so one ``killpg`` reaches its whole tree and
a terminal's Ctrl-C reaches only the harness, which then tears down in order),
writes stdout and stderr to one log file, and asks the kernel to signal it when
the harness dies (``PR_SET_PDEATHSIG``) so that even a SIGKILLed harness leaves
no orphans behind.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psutil

from harness.backends.base import ResourceReading
from harness.errors import BenchError
from harness.procmem import tree_memory_bytes

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_PRCTL = _LIBC.prctl  # looked up before any fork, not in the child


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a text file ("" when it does not exist)."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            return "".join(collections.deque(handle, maxlen=lines))
    except FileNotFoundError:
        return ""


@dataclass
class ProcessSpec:
    """How to start one process."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log_path: Path
    cpus: frozenset[int] = frozenset()  # empty: no pinning
    user: tuple[int, int] | None = None  # (uid, gid) to run as; None: as ourselves
    stop_signal: int = signal.SIGTERM
    signal_group: bool = True  # stop_signal to the whole process group, or only to the leader
    stop_timeout: float = 10.0  # seconds between stop_signal and SIGKILL
    discard_signal: int | None = None  # stop signal when its data is deleted next (None: stop_signal)
    cgroup_procs: tuple[str, ...] = ()  # cgroup.procs files the child joins (limits, see _cgroups)


@dataclass
class ManagedProcess:
    """A started process tree: start, stop (always bounded), measure."""

    spec: ProcessSpec
    # Thread that forks: PR_SET_PDEATHSIG fires when the *forking thread* exits, so a
    # deployment forks from one thread of its own that lives as long as it does, not from
    # whichever caller (e.g. an asyncio.to_thread worker) asked for a restart.
    spawner: Executor | None = field(default=None, repr=False)
    popen: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def start(self) -> None:
        """Start the process (new session, log file, pinned CPUs, parent-death signal)."""
        if self.running():
            return
        if self.popen is not None and self.popen.returncode is None:
            self.stop(timeout=0)  # it exited (or was killed) unreaped: reap it and its group first
        if self.spawner is not None:
            self.spawner.submit(self._spawn).result()
        else:
            self._spawn()

    def _spawn(self) -> None:
        spec = self.spec
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = spec.log_path.open("ab")
        try:
            self.popen = subprocess.Popen(
                spec.argv,
                env=spec.env,
                cwd=spec.cwd,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # preexec_fn, not a wrapper binary: the child joins its cgroups while still root,
                # then drops to spec.user, then sets PDEATHSIG (a credential change clears it);
                # glibc's atfork handlers keep malloc usable in the child even with threads.
                preexec_fn=_child_setup(os.getpid(), spec),  # noqa: PLW1509
            )
        except OSError as error:
            self._close_log()
            raise BenchError(f"{spec.name}: could not start {spec.argv[0]}: {error}") from None

    def exit_status(self) -> int | None:
        """The leader's exit status once it exited (negative: killed by that signal), else None.

        Looks without reaping (``WNOWAIT``): until ``stop`` reaps the leader its PID, and so
        its process-group id, cannot be reused by another process, which keeps ``killpg`` safe.
        """
        popen = self.popen
        if popen is None:
            return None
        if popen.returncode is not None:
            return popen.returncode
        try:
            info = os.waitid(os.P_PID, popen.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # reaped behind our back: Popen reports what it can
            return popen.poll()
        if info is None:
            return None
        return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status

    def running(self) -> bool:
        return self.popen is not None and self.exit_status() is None

    def processes(self) -> list[psutil.Process]:
        """The leader and all its live descendants (empty once the leader exited)."""
        if not self.running():
            return []
        assert self.popen is not None
        try:
            leader = psutil.Process(self.popen.pid)
            return [leader, *leader.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def read_resources(self, name: str | None = None) -> ResourceReading:
        """Cumulative CPU seconds (user+system, including reaped children) and memory bytes (PSS)."""
        cpu = 0.0
        processes = self.processes()
        for proc in processes:
            try:
                times = proc.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            # children_* hold CPU of children already waited for (e.g. postgres backends of
            # closed connections); live children are counted by their own entry.
            cpu += times.user + times.system + times.children_user + times.children_system
        return ResourceReading(name=name or self.name, time=time.time(), cpu_seconds=cpu,
                               rss_bytes=tree_memory_bytes(processes))

    def stop(self, timeout: float | None = None, *, discard: bool = False) -> None:
        """Signal, wait up to ``timeout`` seconds (default: the spec's), SIGKILL what is left, reap.

        ``discard``: its data is deleted next, so use the spec's ``discard_signal`` if any.
        """
        popen = self.popen
        if popen is None or popen.returncode is not None:  # never started, or already reaped
            self._close_log()
            return
        if timeout is None:
            timeout = self.spec.stop_timeout
        signum = self.spec.stop_signal
        if discard and self.spec.discard_signal is not None:
            signum = self.spec.discard_signal
        deadline = time.monotonic() + timeout
        # Descendants and group members other than the leader (psutil's wait() on our own child
        # would reap it too early); members whose leader already died are found by group id.
        others = {proc.pid: proc for proc in self.processes() if proc.pid != popen.pid}
        others.update((proc.pid, proc) for proc in _group_members(popen.pid))
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self.spec.signal_group:
                os.killpg(popen.pid, signum)
            else:
                os.kill(popen.pid, signum)
        while self.exit_status() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        alive = _wait_gone(list(others.values()), deadline)
        # The leader is not reaped yet, so its group id is still ours: kill whatever is left in
        # the group, plus descendants that left it (setsid), checked by psutil's identity test.
        self.kill()
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        _wait_gone(alive + _group_members(popen.pid), time.monotonic() + 5)
        try:
            popen.wait(timeout=10)
        except subprocess.TimeoutExpired:  # stuck in the kernel (D state): nothing more to do
            pass
        self._close_log()

    def kill(self) -> None:
        """SIGKILL the whole process group at once (a crash, not a shutdown); does not reap."""
        popen = self.popen
        if popen is None or popen.returncode is not None:
            return  # reaped: the group id may belong to someone else now
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(popen.pid, signal.SIGKILL)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def _group_members(pgid: int) -> list[psutil.Process]:
    """Live processes of process group ``pgid`` other than its leader."""
    members = []
    for proc in psutil.process_iter():
        if proc.pid == pgid:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(proc.pid) == pgid and _alive(proc):
                members.append(proc)
    return members


def _alive(proc: psutil.Process) -> bool:
    """Running and not a zombie (a zombie has finished; only its parent's wait is missing)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_gone(processes: list[psutil.Process], deadline: float) -> list[psutil.Process]:
    """Wait until every process has exited or ``deadline`` (time.monotonic()); the survivors."""
    alive = [proc for proc in processes if _alive(proc)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [proc for proc in alive if _alive(proc)]
    return alive


def _child_setup(parent_pid: int, spec: ProcessSpec) -> Callable[[], None]:
    """The ``preexec_fn`` of every child: runs after fork, before exec, in this order.

    1. join the instance's cgroups (``spec.cgroup_procs``) while still root, so every
       process it forks later is limited from the start;
    2. drop to ``spec.user`` (groups, gid, uid) — done here rather than by ``subprocess``
       because that switch would come before step 1;
    3. PR_SET_PDEATHSIG, which a credential change clears, so after step 2; it fires when
       the forking *thread* exits, so deployments are started from the thread that keeps them;
    4. pin to ``spec.cpus``.
    """
    cpus, death_signal, procs, user = spec.cpus, spec.stop_signal, spec.cgroup_procs, spec.user

    def setup() -> None:
        pid = str(os.getpid())
        for path in procs:
            with open(path, "w", encoding="ascii") as handle:
                handle.write(pid)
        if user is not None:
            os.setgroups([])
            os.setgid(user[1])
            os.setuid(user[0])
        _PRCTL(_PR_SET_PDEATHSIG, int(death_signal), 0, 0, 0)
        if os.getppid() != parent_pid:  # the harness died before prctl took effect
            os._exit(1)
        if cpus:
            os.sched_setaffinity(0, cpus)

    return setup
