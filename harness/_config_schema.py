"""The machinery behind ``harness.config``: typed dataclasses built from TOML-shaped data.

Private to ``harness.config`` (which re-exports ``Range``): field helpers that attach a
unit and a valid range to a dataclass field (``unit_field``, ``number_field``), the
``Source`` that blames an error on the file or on the flag or variable that set a key,
and ``build``, which walks a dataclass's type hints to convert and check every value
(units, literals, tables, tuples, scalars). It knows nothing of archbench's keys.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

from harness.errors import ConfigError
from harness.units import parse_duration, parse_percent, parse_size_mb

_SHOWN_UNIT = {"duration": "s", "percent": "%", "size": " MiB"}


@dataclass(frozen=True)
class Range:
    """Valid values of a number (in its parsed unit): bounds are ``None`` when open-ended."""

    ge: float | None = None  # value >= ge
    gt: float | None = None  # value > gt
    le: float | None = None  # value <= le
    lt: float | None = None  # value < lt
    unit: str = ""  # how bounds are shown: "s", "%" (values are fractions), " MiB" or ""
    why: str = ""  # appended to the message, e.g. what 0 means

    def __contains__(self, value: float) -> bool:
        return not (
            (self.ge is not None and value < self.ge) or (self.gt is not None and value <= self.gt)
            or (self.le is not None and value > self.le) or (self.lt is not None and value >= self.lt)
        )

    def describe(self) -> str:
        """The range as people write it: ">= 1", "> 0s", "0% to 100%", "> 0 and < 1"."""
        if self.ge is not None and self.le is not None:
            text = f"{self._show(self.ge)} to {self._show(self.le)}"
        else:
            parts = [f"{op} {self._show(bound)}" for op, bound in
                     ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt)) if bound is not None]
            text = " and ".join(parts)
        return f"{text} ({self.why})" if self.why else text

    def _show(self, bound: float) -> str:
        return f"{bound * 100:g}%" if self.unit == "%" else f"{bound:g}{self.unit}"


def unit_field(kind: str, default: Any, **bounds: Any) -> Any:
    """A field parsed from a unit string (``duration``, ``size``, ``percent``), with its range."""
    metadata: dict[str, Any] = {"unit": kind}
    if bounds:
        metadata["range"] = Range(unit=_SHOWN_UNIT[kind], **bounds)
    return field(default=default, metadata=metadata)


def number_field(default: Any, **bounds: Any) -> Any:
    """A plain numeric field with its valid range (``ge``, ``gt``, ``le``, ``lt``, ``why``)."""
    return field(default=default, metadata={"range": Range(**bounds)})


@dataclass(frozen=True)
class Source:
    """Where values came from: the file, or a flag for the keys in ``overridden``."""

    file: str
    overridden: dict[str, str]  # dotted key -> label, e.g. "run.profile" -> "--profile nope"

    def error(self, where: str, problem: str) -> ConfigError:
        """A ``ConfigError`` naming the origin of ``where`` (the flag when overridden)."""
        for key, label in self.overridden.items():
            if where == key:
                return ConfigError(f"{label}: {problem}")
            if where.startswith((f"{key}.", f"{key}[")):
                return ConfigError(f"{label}: {where}: {problem}")
        return ConfigError(f"{self.file}: {where}: {problem}" if self.file else f"{where}: {problem}")


def build(cls: type, data: Any, source: Source, path: str) -> Any:
    if not isinstance(data, dict):
        raise source.error(path or "top level", f"expected a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{path}.{key}" if path else key
        if key not in fields:
            choices = ", ".join(name for name in fields)
            raise ConfigError(f"{source.file}: unknown key {where!r}; valid keys here: {choices}")
        metadata = fields[key].metadata
        try:
            kwargs[key] = _convert(hints[key], value, source, where, metadata.get("unit"))
        except ConfigError as error:
            valid = metadata.get("range")  # a unit mistake ("15" for 15%) also shows the valid range
            if metadata.get("unit") is None or valid is None:
                raise
            raise ConfigError(f"{error}; valid range: {valid.describe()}") from None
        _check_range(metadata.get("range"), kwargs[key], value, source, where)
    return cls(**kwargs)


def _check_range(valid: Range | None, value: Any, raw: Any, source: Source, where: str) -> None:
    """Fail unless the parsed ``value`` (each element of a tuple) lies in ``valid``."""
    if valid is None or value is None:
        return
    pairs = zip(value, raw, strict=False) if isinstance(value, tuple) else [(value, raw)]
    for index, (number, written) in enumerate(pairs):
        if number not in valid:
            at = f"{where}[{index}]" if isinstance(value, tuple) else where
            raise source.error(at, f"{written!r} is out of range; valid range: {valid.describe()}")


def _convert(hint: Any, value: Any, source: Source, where: str, unit: str | None) -> Any:
    origin_type = get_origin(hint)
    args = get_args(hint)
    if unit is not None and value is not None:
        parser = {"duration": parse_duration, "size": parse_size_mb, "percent": parse_percent}[unit]
        try:
            return parser(value)
        except ValueError as error:
            raise source.error(where, str(error)) from None
    if origin_type in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, source, where, unit)
    if origin_type is Literal:
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise source.error(where, f"{value!r} is not valid; choose one of {choices}")
        return value
    if origin_type is dict:
        if not isinstance(value, dict):
            raise source.error(where, f"expected a table, got {value!r}")
        return {k: _convert(args[1], v, source, f"{where}.{k}", None) for k, v in value.items()}
    if origin_type is tuple:
        return _convert_tuple(args, value, source, where)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, source, where)  # type: ignore[arg-type]
    return _convert_scalar(hint, value, source, where)


def _convert_tuple(args: tuple[Any, ...], value: Any, source: Source, where: str) -> tuple[Any, ...]:
    if not isinstance(value, list):
        raise source.error(where, f"expected a list, got {value!r}")
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_convert(args[0], v, source, f"{where}[{i}]", None) for i, v in enumerate(value))
    if len(value) != len(args):
        raise source.error(where, f"expected {len(args)} values, got {value!r}")
    return tuple(_convert(a, v, source, f"{where}[{i}]", None)
                 for i, (a, v) in enumerate(zip(args, value, strict=False)))


def _convert_scalar(hint: Any, value: Any, source: Source, where: str) -> Any:
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise source.error(where, f"expected a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise source.error(where, f"expected a whole number, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise source.error(where, f"expected a string, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise source.error(where, f"expected true or false, got {value!r}")
        return value
    return value
