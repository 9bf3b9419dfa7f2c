"""Command options shared by several ``bench`` commands, defined once (asv's ``common_args``).

Each builder is a click decorator; every option that overrides config has its ``BENCH_*``
environment variable. Commands stack the builders instead of redefining ``--config``,
``--backend``, ``--profile`` or the gate's options, and pass what was given to
``load_config`` through ``config_overrides``, which records where each value came from
(``--profile`` or ``BENCH_PROFILE``) so a bad value is blamed on what the user typed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from harness.config import BACKENDS, Override

F = TypeVar("F", bound=Callable[..., Any])


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
BACKEND_OPTION = click.option(
    "--backend", type=click.Choice(BACKENDS), default=None, envvar="BENCH_BACKEND",
    help="How targets start (default: run.backend of the config).  [env: BENCH_BACKEND]",
)
PROFILE_OPTION = click.option(
    "--profile", default=None, envvar="BENCH_PROFILE",
    help="Load profile from bench.toml (default: run.profile).  [env: BENCH_PROFILE]",
)
RUN_DIR_ARGUMENT = click.argument(
    "run_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("reports/latest"),
    envvar="BENCH_RUN_DIR",
)
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
ALLOW_INVALID_OPTION = click.option(
    "--allow-invalid/--no-allow-invalid", default=False, envvar="BENCH_ALLOW_INVALID",
    help="Exit 0 even when a target's result is INVALID (integrity failures still exit 1).  "
         "[env: BENCH_ALLOW_INVALID]",
)


ADMIN_USER_OPTION = click.option(
    "--admin-user", default=None, envvar="BENCH_ADMIN_USER",
    help="Admin username of the --url service (seeding, /stats).  [env: BENCH_ADMIN_USER]")
ADMIN_PASSWORD_OPTION = click.option(
    "--admin-password", default=None, envvar="BENCH_ADMIN_PASSWORD",
    help="Admin password of the --url service.  [env: BENCH_ADMIN_PASSWORD]")
OUT_OPTION = click.option(
    "--out", default=None, envvar="BENCH_OUT",
    help="Directory for run directories (default: run.out).  [env: BENCH_OUT]")


def admin_options(function: F) -> F:
    """``--admin-user`` and ``--admin-password`` of a service given by ``--url``."""
    return ADMIN_USER_OPTION(ADMIN_PASSWORD_OPTION(function))


def exit_with_verdict(run_dir: Path, allow_invalid: bool) -> NoReturn:
    """Print the run directory, then why the run failed (if it did); exit 0 or 1 (``run_verdict``)."""
    from harness.results import load_results
    from harness.run import run_verdict

    click.echo(str(run_dir))
    verdict = run_verdict(load_results(run_dir))
    for reason in verdict.reasons(allow_invalid):
        click.secho(reason, fg="yellow", err=True)
    sys.exit(verdict.exit_code(allow_invalid))


def gate_options(function: F) -> F:
    """``--threshold``, ``--baseline`` and ``--junit``: the gate's options, for ``gate`` and ``run --gate``."""
    for option in (JUNIT_OPTION, BASELINE_OPTION, THRESHOLD_OPTION):
        function = option(function)
    return function


def option_origin(ctx: click.Context, name: str) -> str:
    """Where parameter ``name``'s value came from: its environment variable (``BENCH_PROFILE``)
    when click read it from there, else its flag (``--profile``)."""
    param = next(p for p in ctx.command.params if p.name == name)
    envvar = param.envvar if isinstance(param.envvar, str) else None
    if envvar and ctx.get_parameter_source(name) is click.core.ParameterSource.ENVIRONMENT:
        return envvar
    return max(param.opts, key=len)  # the long flag


def config_overrides(ctx: click.Context, keys: Mapping[str, str]) -> dict[str, Override]:
    """``load_config`` overrides of the options given: dotted key -> ``Override(value, origin)``.

    ``keys`` maps a dotted config key to the command's parameter name
    (``{"run.profile": "profile"}``); options not given (None or empty) are left out, and a
    repeated option's tuple becomes a list.
    """
    found: dict[str, Override] = {}
    for dotted, name in keys.items():
        value = ctx.params.get(name)
        if value is None or value == ():
            continue
        found[dotted] = Override(list(value) if isinstance(value, tuple) else value, option_origin(ctx, name))
    return found
