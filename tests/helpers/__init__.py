"""Code the test modules share (plain imports; fixtures live in ``tests/conftest.py``).

``tests/`` is on ``sys.path`` because ``tests/conftest.py`` is not inside a package
(pytest's default ``prepend`` import mode inserts its directory), so any test module
can write ``from helpers import BENCH`` or ``from helpers.deploy import deploy``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The installed ``bench`` console script of this virtual environment: the one definition
# of the command the end-to-end tests run (``[*BENCH, "run", ...]``).
BENCH: list[str] = [str(Path(sys.executable).parent / "bench")]
