"""Parse the units people write in bench.toml and on the command line.

Durations become seconds (float), sizes become mebibytes (int), percentages
become fractions. Every parser raises ``ValueError`` with the accepted forms.
"""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|m|h)?\s*$")
_DURATION_SCALE = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib|k|m|g)?\s*$", re.IGNORECASE)
_SIZE_MB = {
    "b": 1 / 2**20, "k": 1 / 1024, "kb": 1 / 1024, "kib": 1 / 1024,
    "m": 1, "mb": 1, "mib": 1, "g": 1024, "gb": 1024, "gib": 1024, None: 1,
}


def parse_duration(value: str | int | float) -> float:
    """Return seconds for ``"250ms"``, ``"10s"``, ``"2m"``, ``"1h"`` or a bare number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; write e.g. '30s', '500ms', '2m'")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"{value!r} is negative; durations are >= 0")
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration; write e.g. '30s', '500ms', '2m', '1h'")
    return float(match.group(1)) * _DURATION_SCALE[match.group(2)]


def parse_size_mb(value: str | int | float) -> int:
    """Return mebibytes for ``"512MB"``, ``"1GiB"``, ``"2g"`` or a bare number of MiB."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size; write e.g. '512MB' or '1GB'")
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ValueError(f"{value!r} must be > 0 (MiB)")
        return int(value)
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a size; write e.g. '512MB' or '1GB'")
    unit = match.group(2).lower() if match.group(2) else None
    mb = float(match.group(1)) * _SIZE_MB[unit]
    if mb < 1:
        raise ValueError(f"{value!r} is under 1 MiB")
    return int(round(mb))


def parse_percent(value: str | int | float) -> float:
    """Return a fraction for ``"15%"`` or a bare fraction like ``0.15``.

    A bare number of 1 or more is refused: ``"15"`` or ``15`` would mean +1500 % and
    silently disable what it limits (a regression limit, ``analysis.max_error_rate``), and
    a bare ``1`` or ``"1"`` is as likely "1 %" as "100 %". Write ``"15%"`` or ``0.15``, and
    ``"100%"`` for all; the float ``1.0`` alone is read as 100 %, because that is how a
    resolved configuration stores it (results.json holds fractions) and it reads back.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a percentage; write e.g. '15%'")
    if isinstance(value, (int, float)):
        fraction = float(value)
    else:
        text = str(value).strip()
        try:
            if text.endswith("%"):
                return float(text[:-1]) / 100.0
            fraction = float(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a percentage; write e.g. '15%' or 0.15") from None
    if abs(fraction) >= 1 and not (isinstance(value, float) and fraction == 1.0):
        raise ValueError(f"{value!r} is a bare number where a fraction is meant (it would mean "
                         f"{fraction * 100:g}%); write {fraction:g}% or {fraction / 100:g}")
    return fraction
