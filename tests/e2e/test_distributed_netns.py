"""Distributed load generation for real, on one machine: three "hosts" as network namespaces.

- namespace T ("target host"): PostgreSQL and the monolith (the local backend on T's own
  loopback), plus a second monolith process bound to T's address 10.231.77.2 on the same
  database: the one load hits (``python -m targets.monolith`` with HOST set);
- the root namespace: the harness and the Locust master (bound to 10.231.78.1);
- namespace G ("generator host"): two ``bench worker`` processes (one Locust worker each).

Links (private /30s, only between the namespaces this test creates): root-T
10.231.77.1/.2, root-G 10.231.78.1/.2, G-T 10.231.79.1/.2 (G reaches T's 10.231.77.2 over
it by a host route, so no forwarding is switched on anywhere).

Checks: the result has the single-host structure (plus ``generator.workers``), both
workers' samples are in samples.parquet (their streamed counts add up to its rows and
each is > 0), their clock offsets are reported, integrity holds.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SUFFIX = f"{os.getpid() % 100000}"
NS_TARGET, NS_GEN = f"abT{SUFFIX}", f"abG{SUFFIX}"
TARGET_IP, MASTER_IP, GEN_IP = "10.231.77.2", "10.231.78.1", "10.231.78.2"
TARGET_PORT, MASTER_PORT = 18080, 15557

pytestmark = [pytest.mark.needs_postgres, pytest.mark.e2e, pytest.mark.timeout(420)]


def _netns_available() -> tuple[bool, str]:
    if not shutil.which("ip") or os.geteuid() != 0:
        return False, "needs root and iproute2 (`ip netns`)"
    probe = f"abP{SUFFIX}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return made.returncode == 0, made.stderr.strip()


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _make_namespaces() -> None:
    for ns in (NS_TARGET, NS_GEN):
        _ip("netns", "add", ns)
        _ip("-n", ns, "link", "set", "lo", "up")
    links = ((f"vT{SUFFIX}", f"vt{SUFFIX}", None, NS_TARGET, "10.231.77.1/30", "10.231.77.2/30"),
             (f"vG{SUFFIX}", f"vg{SUFFIX}", None, NS_GEN, "10.231.78.1/30", "10.231.78.2/30"),
             (f"wG{SUFFIX}", f"wT{SUFFIX}", NS_GEN, NS_TARGET, "10.231.79.1/30", "10.231.79.2/30"))
    for left, right, left_ns, right_ns, left_ip, right_ip in links:
        _ip("link", "add", left, "type", "veth", "peer", "name", right)
        _ip("link", "set", right, "netns", right_ns)
        if left_ns:
            _ip("link", "set", left, "netns", left_ns)
        _ip(*(["-n", left_ns] if left_ns else []), "addr", "add", left_ip, "dev", left)
        _ip(*(["-n", left_ns] if left_ns else []), "link", "set", left, "up")
        _ip("-n", right_ns, "addr", "add", right_ip, "dev", right)
        _ip("-n", right_ns, "link", "set", right, "up")
    # G reaches the target's address over the G-T link (no forwarding through the root namespace)
    _ip("-n", NS_GEN, "route", "add", f"{TARGET_IP}/32", "via", "10.231.79.2")


def _delete_namespaces() -> None:
    for ns in (NS_TARGET, NS_GEN):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    for link in (f"vT{SUFFIX}", f"vG{SUFFIX}"):
        subprocess.run(["ip", "link", "del", link], capture_output=True)


def serve_target(address: str, port: int, ready: Path) -> None:
    """(Run inside namespace T.) The monolith on the local backend, plus one app process on ``address``."""
    from harness.config import load_config
    from harness.context import install_interrupt_handlers
    from harness.verify import start_target

    install_interrupt_handlers()
    config = load_config(check_cpus=False)
    with start_target(config, "monolith", "local") as (deployment, _, _):
        pid = deployment.pids("app")[0]
        raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        env = dict(item.decode().split("=", 1) for item in raw if b"=" in item)
        env.update(HOST=address, PORT=str(port), WORKERS="1")
        app = subprocess.Popen([PYTHON, "-m", "targets.monolith"], env=env, cwd=ROOT)
        try:
            ready.write_text(json.dumps({"user": deployment.admin_username,
                                         "password": deployment.admin_password}))
            while app.poll() is None:
                time.sleep(0.5)
        finally:
            app.terminate()
            app.wait(timeout=10)


def _wait_healthy(url: str, timeout_s: float) -> None:
    import urllib.request

    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url}/health never answered 200")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_two_workers_in_another_namespace_drive_a_target_in_a_third(tmp_path: Path) -> None:
    available, why = _netns_available()
    if not available:
        if os.environ.get("BENCH_REQUIRE_NETNS"):
            pytest.fail(f"BENCH_REQUIRE_NETNS is set but network namespaces are unavailable: {why}")
        pytest.skip(f"network namespaces unavailable: {why}")
    processes: list[subprocess.Popen[bytes]] = []
    logs: list[object] = []

    def log(name: str):  # type: ignore[no-untyped-def]
        handle = (tmp_path / name).open("wb")
        logs.append(handle)
        return handle

    try:
        _make_namespaces()
        ready = tmp_path / "ready.json"
        processes.append(subprocess.Popen(
            ["ip", "netns", "exec", NS_TARGET, PYTHON, __file__, "serve", TARGET_IP, str(TARGET_PORT),
             str(ready)], cwd=ROOT, stdout=log("target.log"), stderr=subprocess.STDOUT))
        url = f"http://{TARGET_IP}:{TARGET_PORT}"
        deadline = time.time() + 180
        while not ready.exists() and time.time() < deadline and processes[0].poll() is None:
            time.sleep(0.5)
        assert ready.exists(), (tmp_path / "target.log").read_text()[-3000:]
        _wait_healthy(url, 60)
        admin = json.loads(ready.read_text())
        for index in range(2):
            processes.append(subprocess.Popen(
                ["ip", "netns", "exec", NS_GEN, str(Path(PYTHON).parent / "bench"), "worker", "--master",
                 f"{MASTER_IP}:{MASTER_PORT}", "--steps", "1"], cwd=ROOT,
                stdout=log(f"worker{index}.log"), stderr=subprocess.STDOUT))
        run = _bench_run(tmp_path, url, admin)
        assert run.returncode == 0, run.stderr[-4000:]
        _check_results(Path(run.stdout.strip().splitlines()[-1]))
    finally:
        for process in reversed(processes):
            _stop(process)
        _delete_namespaces()
        for handle in logs:
            handle.close()  # type: ignore[attr-defined]


def _bench_run(tmp_path: Path, url: str, admin: dict[str, str]) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "bench.toml"
    text = (ROOT / "bench.toml").read_text(encoding="utf-8")
    config.write_text(text + f'\n[generator]\nmaster_host = "{MASTER_IP}"\nmaster_port = {MASTER_PORT}\n',
                      encoding="utf-8")
    return subprocess.run(
        [str(Path(PYTHON).parent / "bench"), "run", "--config", str(config), "--profile", "smoke",
         "--url", url, "--allow-remote-url", "--name", "netns-monolith",
         "--admin-user", admin["user"], "--admin-password", admin["password"],
         "--generator-worker", GEN_IP, "--generator-worker", GEN_IP, "--out", str(tmp_path / "out")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )


def _check_results(run_dir: Path) -> None:
    from harness.results import load_results, schema_problems
    from harness.samples import read_parquet

    results = load_results(run_dir)
    assert not schema_problems(results)
    (target,) = results["targets"].values() if isinstance(results["targets"], dict) else results["targets"]
    assert target["valid"]["ok"], target["valid"]["reasons"]
    assert target["integrity"]["ok"], target["integrity"]
    workers = target["generator"]["workers"]
    assert len(workers) == 2 and {w["index"] for w in workers} == {0, 1}
    assert all(w["requests"] > 0 and not w["missing"] for w in workers), workers
    assert all(abs(w["clock_offset_s"]) < 0.1 and 0 <= w["round_trip_s"] < 0.5 for w in workers)
    assert all(w["address"] == GEN_IP for w in workers)
    samples = read_parquet(run_dir / target["samples"])
    assert len(samples) == sum(w["requests"] for w in workers)
    assert abs(sum(w["request_share"] for w in workers) - 1.0) < 1e-9
    single_host_keys = {"summary", "endpoints", "generator", "integrity", "valid", "timeseries", "samples"}
    assert single_host_keys <= set(target)


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    sys.path.insert(0, str(ROOT))
    serve_target(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
