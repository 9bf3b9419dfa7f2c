"""Inject a planned fault schedule into a running deployment while the load runs.

``FaultScheduler`` is a thread started when the load shape starts (``start(load_start_s)``);
it sleeps until each ``PlannedFault``'s time and acts through the deployment's
per-instance control (``kill_service``, ``pause_service`` / ``resume_service``,
``restart_service``). ``stop()`` ends it early (the load ended, Ctrl-C) and returns one
``FaultEvent`` per planned fault: intended and actual time, when it was over, and the
restarts the backend's policy made of the instance afterwards.

A pause always ends: its resume is in a ``finally`` in the thread, ``stop()`` wakes the
thread at once and resumes every instance it paused once more (``resume_service`` is a
no-op when nothing is paused), and the deployment's teardown resumes paused instances too.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.backends.base import Deployment, Restart
from harness.faults import PlannedFault
from harness.results import FaultEvent, FaultRestart

RESTART_WAIT_S = 30.0  # how long stop() waits for a killed instance's restart to show


@dataclass
class _Applied:
    fault: PlannedFault
    at_s: float | None = None
    end_s: float | None = None
    error: str = ""


@dataclass
class FaultScheduler:
    """Runs ``faults`` against ``deployment`` in a thread (see the module doc)."""

    deployment: Deployment
    faults: Sequence[PlannedFault]
    load_start_s: float = 0.0
    _done: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _applied: list[_Applied] = field(default_factory=list)
    _paused: set[str] = field(default_factory=set)

    def start(self, load_start_s: float) -> FaultScheduler:
        """Begin: fault times count from ``load_start_s`` (epoch seconds)."""
        self.load_start_s = load_start_s
        self._applied = [_Applied(fault) for fault in self.faults]
        self._thread = threading.Thread(target=self._run, name="archbench-faults", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        for applied in self._applied:
            delay = self.load_start_s + applied.fault.at_s - time.time()
            if self._done.wait(max(0.0, delay)):
                return
            self._apply(applied)

    def _apply(self, applied: _Applied) -> None:
        fault, deployment = applied.fault, self.deployment
        applied.at_s = time.time()
        try:
            if fault.action == "kill":
                deployment.kill_service(fault.instance)
            elif fault.action == "restart":
                deployment.restart_service(fault.instance)
                applied.end_s = time.time()
            else:
                self._paused.add(fault.instance)
                deployment.pause_service(fault.instance)
                try:
                    self._done.wait(fault.duration_s or 0.0)
                finally:
                    deployment.resume_service(fault.instance)
                    applied.end_s = time.time()
                    self._paused.discard(fault.instance)
        except Exception as error:  # noqa: BLE001 -- record it; the run goes on
            applied.error = str(error).splitlines()[0] if str(error) else type(error).__name__

    def stop(self, wait_restarts_s: float = RESTART_WAIT_S) -> list[FaultEvent]:
        """End the schedule now (resuming anything paused); the events, one per planned fault.

        Waits up to ``wait_restarts_s`` seconds for the restart of an instance killed
        shortly before, so its recovery time is known.
        """
        self._done.set()
        try:
            if self._thread is not None:
                self._thread.join(timeout=self.deployment_timeout())
        finally:
            for name in list(self._paused):
                with contextlib.suppress(Exception):
                    self.deployment.resume_service(name)
        self._await_restarts(wait_restarts_s)
        return [self._event(applied, self.deployment.restarts()) for applied in self._applied]

    def deployment_timeout(self) -> float:
        """Seconds to wait for the thread: a restart in progress may take a health timeout."""
        return float(getattr(self.deployment, "health_timeout", 60.0)) + 10.0

    def _await_restarts(self, wait_s: float) -> None:
        deadline = time.time() + wait_s
        while time.time() < deadline:
            restarts = self.deployment.restarts()
            waiting = [a for a in self._applied if a.fault.action == "kill" and a.at_s is not None
                       and not a.error and not _restarts_of(a, restarts)]
            if not waiting:
                return
            time.sleep(0.2)

    def _event(self, applied: _Applied, restarts: list[Restart]) -> FaultEvent:
        fault = applied.fault
        mine = _restarts_of(applied, restarts)
        end_s = applied.end_s
        if fault.action == "kill" and mine:
            end_s = mine[0].healthy_s
        return FaultEvent(
            action=fault.action, instance=fault.instance, label=fault.label, planned_s=fault.at_s,
            at_s=applied.at_s,
            offset_s=None if applied.at_s is None else applied.at_s - self.load_start_s,
            end_s=end_s, duration_s=fault.duration_s,
            restarts=[FaultRestart(down_s=r.down_s, healthy_s=r.healthy_s, error=r.error) for r in mine],
            error=applied.error,
        )


def _restarts_of(applied: _Applied, restarts: list[Restart]) -> list[Restart]:
    """The policy's restarts of the faulted instance after the fault was applied."""
    if applied.at_s is None:
        return []
    return [r for r in restarts if r.name == applied.fault.instance and r.down_s >= applied.at_s - 0.5]
