"""Who owns a leftover: one owner token for directories, containers and generator processes.

A harness killed with SIGKILL runs no teardown. Everything it starts carries an
*owner token* naming the harness process (``pid:start_time@host``, start time in
whole seconds since the epoch, so a reused pid is not mistaken for the owner): a
file in each temporary directory, a label on each container, an environment
variable of each load-generator process. The next run removes what belongs to
dead owners. One token format and one liveness rule serve all three.
"""

from __future__ import annotations

import re
import socket
from functools import cache

import psutil

OWNER_ENV = "ARCHBENCH_OWNER"  # environment variable carrying the token of a generator process
_TOKEN = re.compile(r"(\d+):(\d+)@(.*)")
_LEGACY_FILE_TOKEN = re.compile(r"(\d+) (\d+(?:\.\d*)?)")  # "pid start" owner files of archbench <= 0.1


@cache
def owner_token(pid: int | None = None) -> str:
    """``pid:start_time@host`` of process ``pid`` (default: this process)."""
    process = psutil.Process(pid)
    return f"{process.pid}:{int(process.create_time())}@{socket.gethostname()}"


def owner_alive(token: str) -> bool:
    """Whether the process a token names still runs.

    True when the token cannot be judged (unknown format, another host, no permission):
    what cannot be attributed is never removed.
    """
    text = (token or "").strip()
    match = _TOKEN.fullmatch(text) or _LEGACY_FILE_TOKEN.fullmatch(text)
    if match is None or (match.re is _TOKEN and match.group(3) != socket.gethostname()):
        return True
    pid, started = int(match.group(1)), int(float(match.group(2)))
    try:
        return int(psutil.Process(pid).create_time()) == started
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True
