"""``bench worker``: run Locust workers for a harness's master on another host, step after step.

A thin command: it loops ``harness.distributed.worker_command`` (a Locust worker that
downloads the step's locustfile from the master), starting a new one when the master
ends a step, until Ctrl-C or ``--steps`` steps. Also the generator options of ``bench run``
and ``bench capacity`` (``--generator-worker``, ``--allow-remote-url``), defined once here.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from harness.cli import cli
from harness.distributed import master_reachable, parse_master, worker_command

F = TypeVar("F", bound=Callable[..., Any])

GENERATOR_WORKER_OPTION = click.option(
    "--generator-worker", "generator_workers", multiple=True, envvar="BENCH_GENERATOR_WORKERS",
    help="A generator host running `bench worker --master THIS_HOST:PORT` (repeatable; replaces "
         "[generator] workers): this host runs the Locust master only.  "
         "[env: BENCH_GENERATOR_WORKERS, space-separated]",
)
ALLOW_REMOTE_URL_OPTION = click.option(
    "--allow-remote-url/--no-allow-remote-url", default=False, envvar="BENCH_ALLOW_REMOTE_URL",
    help="Let --url name a host other than 127.0.0.1 (a cluster, another host or network "
         "namespace you control). Off by default.  [env: BENCH_ALLOW_REMOTE_URL]",
)


def generator_options(function: F) -> F:
    """``--generator-worker`` and ``--allow-remote-url``, for ``run`` and ``capacity``."""
    for option in (ALLOW_REMOTE_URL_OPTION, GENERATOR_WORKER_OPTION):
        function = option(function)
    return function


@cli.command("worker")
@click.option("--master", "master", required=True, envvar="BENCH_MASTER",
              help="HOST:PORT of the harness's Locust master ([generator] master_host and "
                   "master_port of the harness).  [env: BENCH_MASTER]")
@click.option("--processes", type=click.IntRange(min=1), default=1, envvar="BENCH_PROCESSES",
              help="Worker processes on this host; must equal the harness's cpu.generator_processes.  "
                   "[env: BENCH_PROCESSES]")
@click.option("--steps", type=click.IntRange(min=0), default=0, envvar="BENCH_STEPS",
              help="Stop after this many load steps (0: until Ctrl-C).  [env: BENCH_STEPS]")
def worker_command_line(master: str, processes: int, steps: int) -> None:
    """Run Locust workers for the master at MASTER, one per step, until Ctrl-C (or --steps)."""
    run_worker(master, processes, steps)


def run_worker(master: str, processes: int, steps: int = 0, poll_s: float = 0.5) -> int:
    """Start a Locust worker whenever the master listens; return the steps served."""
    host, port = parse_master(master)
    served = 0
    while not steps or served < steps:
        while not master_reachable(host, port):
            time.sleep(poll_s)
        click.echo(f"bench worker: step {served + 1} from master {host}:{port}", err=True)
        code = subprocess.call(worker_command(sys.executable, master, processes))
        served += 1
        if code not in (0, 1):  # 1: the master stopped the test with failures counted; still a step
            click.echo(f"bench worker: Locust worker exited with {code}", err=True)
        time.sleep(poll_s)  # the master's port closes when the step ends
    return served
