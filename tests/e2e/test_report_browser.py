"""The report in a real browser: headless Chromium opens index.html from disk.

Skips only when Chromium is absent and BENCH_REQUIRE_BROWSER is unset. Set
BENCH_BROWSER_RUN_DIR to check (and screenshot) a real run directory instead of a
copy of the checked-in fixture.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image  # installed with matplotlib
from unit.report_fixture import copy_capacity_fixture  # tests/ is on sys.path (tests/conftest.py)

from harness.report import write_run_reports
from harness.results import load_results

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(180)]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "results-v1"
CONSOLE = re.compile(r":(INFO|WARNING|ERROR|VERBOSE\d*):CONSOLE[:(]")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0")


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None and Path("/usr/bin/chromium").exists():
        path = "/usr/bin/chromium"
    if path is None:
        if os.environ.get("BENCH_REQUIRE_BROWSER"):
            pytest.fail("BENCH_REQUIRE_BROWSER is set but chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium not installed (set BENCH_REQUIRE_BROWSER to make this a failure)")
    return path


def browse(page: Path, profile: Path, *extra: str) -> tuple[str, list[str]]:
    """Open ``page`` (file://) headless; return stdout and the console messages it logged."""
    done = subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, [line for line in done.stderr.splitlines() if CONSOLE.search(line)]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    configured = os.environ.get("BENCH_BROWSER_RUN_DIR")
    if configured:
        return Path(configured)
    target = tmp_path / "run"
    shutil.copytree(FIXTURE, target)
    return target


def test_console_messages_are_detected(tmp_path: Path) -> None:
    """Control: the console check below would see an error if the page had one."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><title>x</title><script>console.error('boom'); nope();</script>",
                    encoding="utf-8")
    _, console = browse(page, tmp_path / "profile", "--dump-dom")
    assert any("boom" in line for line in console), console
    assert any("Uncaught ReferenceError" in line for line in console), console


def test_report_opens_in_chromium_without_console_errors(run_dir: Path, tmp_path: Path) -> None:
    write_run_reports(run_dir)
    results = load_results(run_dir)
    page = run_dir / "index.html"

    dom, console = browse(page, tmp_path / "profile", "--dump-dom")
    assert console == []
    assert f"<title>archbench report – {results['run_id']}</title>" in dom
    table = re.search(r'<table id="headline-table">(.*?)</table>', dom, re.DOTALL)
    assert table, "headline table missing from the rendered DOM"
    for name in results["targets"]:
        assert f"<strong>{name}</strong>" in table.group(1)
    assert dom.count("<svg") >= 5
    assert dom.index('<section id="answer"') < dom.index('<table id="headline-table"')
    ranking = re.search(r'<table id="ranking"[^>]*>(.*?)</table>', dom, re.DOTALL)
    assert ranking, "ranked comparison missing from the first screen"
    assert ranking.group(1).count('class="bar"') == len(results["targets"])
    assert '<p class="context">' in dom

    screenshot = run_dir / "report.png"
    _, console = browse(page, tmp_path / "profile", "--window-size=1280,7200",
                        f"--screenshot={screenshot}")
    assert console == []
    with Image.open(screenshot) as image:
        assert image.format == "PNG"
        assert image.size == (1280, 7200)
        grey = np.asarray(image.convert("L"))
    assert (grey < 200).mean() > 0.02, "screenshot is (almost) blank"


def test_a_capacity_report_opens_in_chromium(tmp_path: Path) -> None:
    """A `bench capacity` run (every target searched): the Capacity section and its figures render."""
    run_dir = copy_capacity_fixture(tmp_path)
    write_run_reports(run_dir)
    results = load_results(run_dir)
    page = run_dir / "index.html"
    dom, console = browse(page, tmp_path / "profile", "--dump-dom")
    assert console == []
    assert dom.index('<section id="answer"') < dom.index('<section id="capacity"') < dom.index(
        '<table id="headline-table"')
    ranking = re.search(r'<table id="ranking"[^>]*>(.*?)</table>', dom, re.DOTALL)
    assert ranking and "capacity" in ranking.group(1)
    assert ranking.group(1).count('class="bar"') == len(results["targets"])
    capacity = re.search(r'<section id="capacity">(.*?)</section>', dom, re.DOTALL)
    assert capacity and capacity.group(1).count("<svg") == 3
    steps = sum(len(t["capacity"]["steps"]) for t in results["targets"].values())
    table = re.search(r'<table id="capacity-steps">.*?<tbody>(.*?)</tbody>', dom, re.DOTALL)
    assert table and table.group(1).count("<tr") == steps

    screenshot = run_dir / "capacity.png"
    _, console = browse(page, tmp_path / "profile", "--window-size=1280,3000", f"--screenshot={screenshot}")
    assert console == []
    with Image.open(screenshot) as image:
        grey = np.asarray(image.convert("L"))
    assert (grey < 200).mean() > 0.02, "screenshot is (almost) blank"


def test_a_run_without_targets_opens_in_chromium(tmp_path: Path) -> None:
    """An interrupted run (no target recorded) renders a page that says so, without errors."""
    run_dir = tmp_path / "run"
    shutil.copytree(FIXTURE, run_dir)
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    results.update(targets={}, finished_at=None)
    (run_dir / "results.json").write_text(json.dumps(results), encoding="utf-8")
    write_run_reports(run_dir)
    dom, console = browse(run_dir / "index.html", tmp_path / "profile", "--dump-dom")
    assert console == []
    assert "no target finished" in dom
