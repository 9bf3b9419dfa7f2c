"""One frozen run context: what a ``bench run`` measures, where, and with which backend.

The command builds a ``RunRequest`` from its options (profile, backend and out are already
folded into the ``Config`` as overrides, so they are resolved exactly once), and
``create_context`` turns it into a ``RunContext``: the config, the resolved ``Profile``
(which carries its name), the chosen ``Backend`` and why, the run id and directory, the
console, and for ``--url`` the ``ExternalTarget``. Every later stage reads the context
instead of a long parameter list.

It also holds the two small ideas the run pipeline shares with other commands: the run
id (``new_run_id``) and ``Interrupted``, the exception a signal becomes.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

from rich.console import Console

from harness.backends import choose_backend
from harness.backends.base import Backend
from harness.config import Config, Profile
from harness.errors import ConfigError
from harness.registry import get_topology


class Interrupted(KeyboardInterrupt):
    """A signal (SIGINT, SIGTERM) raised as KeyboardInterrupt so every ``finally`` tears down.

    ``signal_name`` says which one, so partial results can name it.
    """

    def __init__(self, signal_name: str = "SIGINT") -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


def interrupt_name(error: BaseException) -> str:
    """The signal behind a KeyboardInterrupt: ``Interrupted.signal_name``, else "SIGINT" (Ctrl-C)."""
    return error.signal_name if isinstance(error, Interrupted) else "SIGINT"


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def install_interrupt_handlers() -> None:
    """SIGINT and SIGTERM raise ``Interrupted``, whatever disposition this process inherited.

    A command started as ``cmd &`` by a non-interactive shell inherits SIGINT *ignored*;
    long commands call this so Ctrl-C-equivalents still stop them and clean up.
    """
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, _raise_interrupted)


def new_run_id(label: str | None = None, *, prefix: str | None = None) -> str:
    """A sortable run id from the UTC time: ``[prefix-]YYYYmmdd-HHMMSS[-label]``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    if prefix:
        stamp = f"{prefix}-{stamp}"
    return f"{stamp}-{label}" if label else stamp


def resolve_profile(config: Config, name: str, users: int | None = None,
                    duration: float | None = None) -> Profile:
    """Profile ``name`` with ``--users`` (every stage's users) and ``--duration`` applied.

    A new duration (seconds) scales every stage proportionally; the warm-up is capped at
    half of it so a short override still measures something.
    """
    profile = config.profile(name)
    if users is not None:
        if users < 1:
            raise ConfigError(f"--users must be >= 1 (got {users})")
        profile = dataclasses.replace(
            profile, stages=tuple(dataclasses.replace(s, users=users) for s in profile.stages))
    if duration is not None:
        if duration <= 0:
            raise ConfigError(f"--duration must be > 0 (got {duration})")
        scale = duration / profile.duration
        profile = dataclasses.replace(
            profile,
            stages=tuple(dataclasses.replace(s, duration=s.duration * scale) for s in profile.stages),
            warmup=min(profile.warmup, duration / 2),
        )
    return profile


def check_url(url: str, allow_remote: bool = False) -> str:
    """``url`` without a trailing slash; refuse anything not on the loopback interface.

    ``allow_remote`` (``--allow-remote-url``, an explicit opt-in, never a default) accepts
    any http(s) host the user named: a service on another host or network namespace.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--url {url!r}: give http://HOST:PORT, e.g. http://127.0.0.1:8080")
    if parts.hostname not in ("127.0.0.1", "localhost") and not allow_remote:
        raise ConfigError(f"--url {url!r}: give http://127.0.0.1:PORT (archbench only drives local "
                          "services), or add --allow-remote-url to drive the address you named")
    return url.rstrip("/")


@dataclass(frozen=True)
class RunRequest:
    """What the user asked ``bench run`` for, beyond the config (None: not given)."""

    targets: tuple[str, ...] = ()  # empty: run.targets
    users: int | None = None
    duration: float | None = None  # seconds
    url: str | None = None  # drive a running service instead of starting targets
    name: str | None = None  # --url target's name; else a label added to the run id
    pid: int | None = None  # --url service's process id, to sample its resources
    admin_user: str | None = None
    admin_password: str | None = None
    allow_remote_url: bool = False  # --allow-remote-url: --url may name a non-loopback host


@dataclass(frozen=True)
class ExternalTarget:
    """A running service ``bench run --url`` drives (nothing is started or stopped)."""

    name: str
    url: str
    admin_username: str
    admin_password: str
    pid: int | None = None


@dataclass(frozen=True)
class RunContext:
    """Everything a run's stages read; built once by ``create_context``."""

    config: Config
    profile: Profile  # resolved (--users/--duration applied); profile.name is its key
    targets: tuple[str, ...]  # names, in run order (the external target's name with --url)
    run_id: str
    run_dir: Path  # <run.out>/<run_id>, created
    console: Console
    backend: Backend | None = None  # None with --url
    backend_reason: str = ""
    external: ExternalTarget | None = None


def _external(config: Config, request: RunRequest) -> ExternalTarget:
    if request.targets:
        raise ConfigError("give either TARGET names or --url, not both")
    url = check_url(str(request.url), allow_remote=request.allow_remote_url)
    if not request.admin_user or not request.admin_password:
        raise ConfigError("--url needs the service's admin credentials: --admin-user and --admin-password "
                          "(or BENCH_ADMIN_USER / BENCH_ADMIN_PASSWORD)")
    return ExternalTarget(name=request.name or urlsplit(url).netloc.replace(":", "-"), url=url,
                          admin_username=request.admin_user, admin_password=request.admin_password,
                          pid=request.pid)


def make_run_dir(out: Path, label: str | None) -> tuple[str, Path]:
    """Create ``out/<new run id>`` (a suffix when two runs start in the same second); (id, path)."""
    suffix = 1
    while True:
        run_id = new_run_id(label) + (f".{suffix}" if suffix > 1 else "")
        try:
            (out / run_id).mkdir(parents=True, exist_ok=False)
            return run_id, out / run_id
        except FileExistsError:
            suffix += 1


def create_context(config: Config, request: RunRequest, console: Console | None = None) -> RunContext:
    """Validate ``request`` against ``config``, choose the backend, create the run directory.

    Raises ConfigError/BenchError before anything is created when an option is wrong.
    """
    console = console or Console(stderr=True)
    profile = resolve_profile(config, config.run.profile, request.users, request.duration)
    if request.url is not None:
        external = _external(config, request)
        backend, reason, names = None, "", tuple([external.name])
    else:
        external = None
        names = tuple(request.targets) or tuple(config.run.targets)
        for target in names:
            get_topology(target)
        backend, reason = choose_backend(config.run.backend, config)
    run_id, run_dir = make_run_dir(Path(config.run.out), request.name if external is None else None)
    return RunContext(config=config, profile=profile, targets=names, run_id=run_id, run_dir=run_dir,
                      console=console, backend=backend, backend_reason=reason, external=external)


def link_latest(context: RunContext) -> None:
    """Point ``<out>/latest`` at this run's directory (atomically)."""
    out = context.run_dir.parent
    link = out / "latest"
    tmp = out / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(context.run_dir.name)
    os.replace(tmp, link)
