"""The one error type a user sees.

``BenchError`` carries a message a person can act on. The CLI prints it
without a traceback and exits with ``exit_code`` (2: could not run).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # ran, and a gate, check or integrity test failed
EXIT_COULD_NOT_RUN = 2  # bad config, bad options, missing dependency, could not evaluate


class BenchError(Exception):
    """An error the user can fix; ``str(error)`` says what and how."""

    exit_code = EXIT_COULD_NOT_RUN

    def __init__(self, message: str, *, exit_code: int = EXIT_COULD_NOT_RUN) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ConfigError(BenchError):
    """bench.toml or an option holds a value we cannot use."""
