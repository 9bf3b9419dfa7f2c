"""The load generator's own ceiling: requests/s per generator core against a trivial endpoint.

    .venv/bin/python benchmarks/generator_ceiling.py [--seconds 8] [--rounds 3] [--users 20] [--wrk]

A trivial aiohttp server (``GET /ping`` and ``GET /products/{id}`` answer 200 with a
tiny JSON body, ``POST /login`` a token) runs pinned to ``--target-cpu``; Locust runs
pinned to ``--generator-cpu`` with one process, alternately as

* **bare**: a ``FastHttpUser`` doing only ``GET /ping`` (Locust's own statistics on), and
* **shopper**: archbench's closed-model ``Shopper`` (``scenarios/ecommerce.py``) with the
  raw-sample hook on, weights ``view_product`` only (``GET /products/{id}``),

``--rounds`` times each (optionally **wrk** on the same endpoint too). Each run gets
``--warmup`` seconds, then ``--seconds`` are measured: requests the *server* counted
(so every variant is counted the same way) and the generator's CPU time (psutil). The
ceiling per core is requests/s divided by the generator's CPU share: what one fully busy
generator core would send. Prints every run, the medians and the shopper/bare ratio.
Traffic goes to 127.0.0.1 only. ``bench calibrate`` runs the same measurement and caches
the shopper's ceiling for ``bench capacity`` (``harness.calibration``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BARE_LOCUSTFILE = '''\
from locust import FastHttpUser, constant, task


class Bare(FastHttpUser):
    wait_time = constant(0)

    @task
    def ping(self):
        self.client.get("/ping")
'''
VARIANTS = ("bare", "shopper")


@dataclass(frozen=True)
class RunFigures:
    """One measured window of one variant."""

    variant: str
    requests: int  # counted by the server in the window
    seconds: float  # wall-clock length of the window
    cpu_s: float  # generator CPU seconds (user + system) in the window

    @property
    def rps(self) -> float:
        """Requests per second the generator sent."""
        return self.requests / self.seconds

    @property
    def cpu_share(self) -> float:
        """Fraction of one core the generator used (0-1)."""
        return self.cpu_s / self.seconds

    @property
    def per_core(self) -> float:
        """Requests/s one fully busy generator core would send (rps / cpu share)."""
        return self.requests / self.cpu_s if self.cpu_s > 0 else 0.0


# -- the trivial target ---------------------------------------------------------------------


def serve(port: int, latency_ms: float = 0.0) -> None:
    """Run the trivial aiohttp server on 127.0.0.1:``port`` (the ``--serve`` mode).

    ``latency_ms`` > 0: each answer waits that long first (no CPU), like a slower target.
    """
    import asyncio

    from aiohttp import web

    body = b'{"id": 1, "name": "probe", "price_cents": 1999, "stock": 10}'
    count = [0]

    async def tiny(request: web.Request) -> web.Response:
        count[0] += 1
        if latency_ms > 0:
            await asyncio.sleep(latency_ms / 1000)
        return web.Response(body=body, content_type="application/json")

    async def login(request: web.Request) -> web.Response:
        return web.json_response({"token": "t"})

    async def counted(request: web.Request) -> web.Response:
        return web.Response(text=str(count[0]))

    app = web.Application()
    app.add_routes([web.get("/ping", tiny), web.get("/products/{id}", tiny),
                    web.post("/login", login), web.get("/count", counted)])
    try:  # as the targets serve (targets/common/serve.py): the target should outrun the generator
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = None
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, loop=loop)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _pinned(cpu: int) -> object:
    return lambda: os.sched_setaffinity(0, {cpu})


def _served(url: str) -> int:
    with urllib.request.urlopen(f"{url}/count", timeout=5) as response:
        return int(response.read())


class TrivialServer:
    """The trivial server as a pinned subprocess (a context manager); ``url`` once up."""

    def __init__(self, cpu: int, latency_ms: float = 0.0) -> None:
        self.cpu = cpu
        self.latency_ms = latency_ms
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> TrivialServer:
        port = _free_port()
        self._process = subprocess.Popen([sys.executable, __file__, "--serve", str(port),
                                          "--latency-ms", str(self.latency_ms)],
                                         preexec_fn=_pinned(self.cpu))  # type: ignore[arg-type]  # noqa: PLW1509
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                _served(self.url)
                return self
            except OSError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    self.__exit__()
                    raise RuntimeError("the trivial server did not start") from None
                time.sleep(0.1)

    def __exit__(self, *_: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)


# -- one generator run ----------------------------------------------------------------------


def _shopper_settings(directory: Path, users: int, duration_s: float) -> Path:
    from scenarios.plan import Stage
    from scenarios.settings import ScenarioSettings

    weights = {"list_products": 0, "view_product": 1, "place_order": 0, "read_order": 0, "login": 0}
    settings = ScenarioSettings(
        credentials=[(f"shopper-{i}", "pw") for i in range(users)], product_ids=list(range(1, 201)),
        weights=weights, stages=(Stage(duration=duration_s, users=users, spawn_rate=float(users)),),
        samples_dir=str(directory / "samples"))
    path = directory / "scenario.json"
    path.write_text(settings.to_json(), encoding="utf-8")
    return path


def _generator_command(variant: str, url: str, directory: Path, users: int,
                       duration_s: float) -> tuple[list[str], dict[str, str]]:
    from scenarios.settings import ENV_VAR

    env = dict(os.environ)
    if variant == "wrk":
        return ["wrk", "-t1", f"-c{users}", f"-d{duration_s:.0f}s", f"{url}/products/1"], env
    common = ["--headless", "--host", url, "--loglevel", "WARNING", "--exit-code-on-error", "0",
              "--stop-timeout", "1"]
    if variant == "bare":
        locustfile = directory / "bare.py"
        locustfile.write_text(BARE_LOCUSTFILE, encoding="utf-8")
        return [sys.executable, "-m", "locust", "-f", str(locustfile), *common, "-u", str(users),
                "-r", str(users), "-t", f"{duration_s:.0f}s"], env
    env[ENV_VAR] = str(_shopper_settings(directory, users, duration_s))
    return [sys.executable, "-m", "locust", "-f", str(ROOT / "scenarios" / "ecommerce.py"), *common], env


def _cpu_seconds(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the generator's process group (its own session), SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=15)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue
    process.wait()


def measure_run(variant: str, server: TrivialServer, cpu: int, *, users: int = 20,
                warmup_s: float = 3.0, seconds: float = 8.0) -> RunFigures:
    """One run of ``variant`` ("bare", "shopper" or "wrk") pinned to ``cpu``: its measured window."""
    with tempfile.TemporaryDirectory(prefix="archbench-ceiling-") as tmp:
        directory = Path(tmp)
        command, env = _generator_command(variant, server.url, directory, users, warmup_s + seconds + 30)
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, preexec_fn=_pinned(cpu),  # type: ignore[arg-type]  # noqa: PLW1509
                                   start_new_session=True)
        try:
            time.sleep(warmup_s)
            if process.poll() is not None:
                raise RuntimeError(f"{variant} generator exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            requests, cpu_s, started = _served(server.url), _cpu_seconds(process.pid), time.monotonic()
            time.sleep(seconds)
            requests = _served(server.url) - requests
            cpu_s = _cpu_seconds(process.pid) - cpu_s
            elapsed = time.monotonic() - started
        finally:
            _stop(process)
        if variant == "shopper" and not any((directory / "samples").glob("samples-*.tsv")):
            raise RuntimeError("the shopper wrote no sample file: the hook was not on")
        return RunFigures(variant, requests, elapsed, cpu_s)


def measure_rounds(variants: tuple[str, ...], *, generator_cpu: int = 0, target_cpu: int = 1,
                   rounds: int = 3, users: int = 20, warmup_s: float = 3.0, seconds: float = 8.0,
                   latency_ms: float = 0.0, echo: object = print) -> dict[str, list[RunFigures]]:
    """Every variant ``rounds`` times, alternating, against one trivial server: the runs per variant."""
    figures: dict[str, list[RunFigures]] = {variant: [] for variant in variants}
    with TrivialServer(target_cpu, latency_ms) as server:
        for round_ in range(rounds):
            order = variants if round_ % 2 == 0 else tuple(reversed(variants))  # alternate who goes first
            for variant in order:
                run = measure_run(variant, server, generator_cpu, users=users, warmup_s=warmup_s,
                                  seconds=seconds)
                figures[variant].append(run)
                echo(f"round {round_ + 1} {variant:<8} {run.rps:>8.0f} req/s  generator "  # type: ignore[operator]
                     f"{run.cpu_share:>5.0%} of a core  ->  {run.per_core:>7.0f} req/s per core")
    return figures


def median_of(runs: list[RunFigures], figure: str) -> float:
    """The median of one ``RunFigures`` property over ``runs``."""
    return statistics.median(getattr(run, figure) for run in runs)


def paired_ratio(numerator: list[RunFigures], denominator: list[RunFigures], figure: str) -> float:
    """The median over rounds of numerator/denominator, each round's two runs side by side.

    On a shared machine the load other processes put on the cores drifts between rounds;
    a ratio of runs made one after the other is steadier than a ratio of medians.
    """
    return statistics.median(getattr(a, figure) / getattr(b, figure)
                             for a, b in zip(numerator, denominator, strict=True) if getattr(b, figure))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--users", type=int, default=20, help="Locust users (wrk connections)")
    parser.add_argument("--generator-cpu", type=int, default=0)
    parser.add_argument("--target-cpu", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="the server waits this long before each answer (a slower target)")
    parser.add_argument("--wrk", action="store_true", help="also run wrk on GET /products/1")
    parser.add_argument("--json", action="store_true", help="print the medians as JSON at the end")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.latency_ms)
        return
    variants = VARIANTS + (("wrk",) if args.wrk else ())
    if args.wrk and shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    print(f"generator on cpu {args.generator_cpu}, trivial target on cpu {args.target_cpu}, "
          f"{args.users} users, {args.rounds} alternating rounds of {args.seconds:g}s "
          f"(after {args.warmup:g}s warm-up), server latency {args.latency_ms:g} ms")
    figures = measure_rounds(variants, generator_cpu=args.generator_cpu, target_cpu=args.target_cpu,
                             rounds=args.rounds, users=args.users, warmup_s=args.warmup,
                             seconds=args.seconds, latency_ms=args.latency_ms)
    medians = {v: {f: median_of(runs, f) for f in ("rps", "cpu_share", "per_core")}
               for v, runs in figures.items()}
    for variant, median in medians.items():
        print(f"median {variant:<8} {median['rps']:>8.0f} req/s  generator {median['cpu_share']:>5.0%} "
              f"of a core  ->  {median['per_core']:>7.0f} req/s per core")
    shopper, bare = figures["shopper"], figures["bare"]
    print(f"shopper + hook / bare FastHttpUser (median of per-round ratios): "
          f"{paired_ratio(shopper, bare, 'per_core'):.2f}x per core, "
          f"{paired_ratio(shopper, bare, 'rps'):.2f}x req/s")
    if "wrk" in figures:
        print(f"shopper + hook / wrk: {paired_ratio(shopper, figures['wrk'], 'rps'):.2f}x req/s "
              f"(bare / wrk: {paired_ratio(bare, figures['wrk'], 'rps'):.2f}x)")
    if args.json:
        print(json.dumps(medians))


if __name__ == "__main__":
    main()
