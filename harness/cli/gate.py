"""``bench gate RUN_DIR``: thresholds and regression checks over a run (thin: ``harness.gate.command``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.cli import cli
from harness.config import load_config
from harness.gate.command import gate_run


class ThresholdType(click.ParamType):
    """A threshold expression; in ``BENCH_THRESHOLDS`` several are separated by ``;``."""

    name = "EXPR"
    envvar_list_splitter = ";"

    def split_envvar_value(self, rv: str) -> list[str]:
        return [part.strip() for part in (rv or "").split(";") if part.strip()]


CONFIG_OPTION = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), default=None, envvar="BENCH_CONFIG",
    help="Configuration file (default: bench.toml).  [env: BENCH_CONFIG]",
)
RUN_DIR_ARGUMENT = click.argument(
    "run_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("reports/latest"),
    envvar="BENCH_RUN_DIR",
)


# Shared with `bench run --gate`, so both spell the gate's options the same way.
THRESHOLD_OPTION = click.option(
    "--threshold", "thresholds", type=ThresholdType(), multiple=True, envvar="BENCH_THRESHOLDS",
    help="A threshold like 'p95 < 200ms', 'monolith: error_rate < 1%' or 'event-driven: ttf_p99 "
         "< 500ms' (repeatable; replaces [gate] thresholds). Latency needs a unit (us ms s m); "
         "error_rate is '1%' or a fraction below 1 (a bare 1 is refused).  "
         "[env: BENCH_THRESHOLDS, ';'-separated]",
)
BASELINE_OPTION = click.option(
    "--baseline", type=str, default=None, envvar="BENCH_BASELINE",
    help="Baseline file, or a name saved with `bench baseline save` (default: gate.baseline; "
         "'none' or '': no regression check).  [env: BENCH_BASELINE]",
)
JUNIT_OPTION = click.option(
    "--junit", type=click.Path(path_type=Path, dir_okay=False), default=None, envvar="BENCH_JUNIT",
    help="Write JUnit XML (one testcase per check) here.  [env: BENCH_JUNIT]",
)


@cli.command("gate")
@RUN_DIR_ARGUMENT
@THRESHOLD_OPTION
@BASELINE_OPTION
@JUNIT_OPTION
@CONFIG_OPTION
def gate_command(
    run_dir: Path, thresholds: tuple[str, ...], baseline: str | None, junit: Path | None,
    config_path: str | None,
) -> None:
    """Check RUN_DIR (default: reports/latest) against thresholds and a baseline.

    Exit 0: every check passed; 1: a threshold or regression failed; 2: a check could not
    be evaluated (an INVALID run, too few requests, no samples, ...). Writes RUN_DIR/gate.json;
    with $GITHUB_STEP_SUMMARY set, a Markdown table is appended to it.
    """
    config = load_config(config_path)
    code = gate_run(run_dir, config, thresholds=thresholds or None, baseline=baseline, junit=junit)
    if junit is not None:
        click.echo(f"wrote {junit}")
    sys.exit(code)
