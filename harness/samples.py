"""Raw sample files: the hook's per-process TSV files -> one DataFrame -> samples.parquet.

The hook (``scenarios/hook.py``) writes ``samples-<pid>.tsv`` lines in the order of
``SAMPLE_COLUMNS``. ``read_samples`` merges every file of a directory, orders rows by
request start, and types the columns (categoricals for the repetitive strings, which keeps
10 million rows well under a gigabyte). ``SampleTail`` reads only what was appended since
the last call, for live progress.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from harness.results import SAMPLE_COLUMNS

PATTERN = "samples-*.tsv"
_TYPES = {
    "start_s": pa.float64(), "latency_ms": pa.float64(), "name": pa.string(), "status": pa.int32(),
    "ok": pa.int8(), "bytes": pa.int64(), "error": pa.string(), "order_id": pa.string(),
    "user": pa.string(), "intended_s": pa.float64(),
}
DROPPED_PATTERN = "dropped-*.tsv"
_CATEGORICAL = ("name", "error", "order_id", "user")


def empty_samples() -> pd.DataFrame:
    """A zero-row frame with the sample columns and dtypes."""
    return _typed(pa.table({column: pa.array([], type=_TYPES[column]) for column in SAMPLE_COLUMNS}))


def _typed(table: pa.Table) -> pd.DataFrame:
    for column in _CATEGORICAL:  # repetitive strings: dictionary-encode before pandas sees them
        index = table.schema.get_field_index(column)
        if index < 0:
            continue
        values = table.column(column)
        if not pa.types.is_dictionary(values.type):
            table = table.set_column(index, column, pc.dictionary_encode(pc.fill_null(values, "")))
    frame = table.to_pandas()
    if "ok" in frame:
        frame["ok"] = frame["ok"].astype(bool)
    return frame


def _read_tsv(source: Path | io.BytesIO) -> pa.Table:
    head = source.getvalue()[:4096] if isinstance(source, io.BytesIO) else _first_bytes(source)
    fields = head.split(b"\n", 1)[0].count(b"\t") + 1
    names = list(SAMPLE_COLUMNS[:fields]) if fields < len(SAMPLE_COLUMNS) else list(SAMPLE_COLUMNS)
    table = pacsv.read_csv(
        source,
        read_options=pacsv.ReadOptions(column_names=names),
        parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False),
        convert_options=pacsv.ConvertOptions(
            column_types=_TYPES, strings_can_be_null=False, quoted_strings_can_be_null=False,
        ),
    )
    for column in SAMPLE_COLUMNS[len(names):]:  # lines of an older hook: fewer columns
        table = table.append_column(column, pa.nulls(len(table), type=_TYPES[column]))
    return table


def _first_bytes(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(4096)


def read_samples(directory: Path) -> pd.DataFrame:
    """Every sample the hook wrote under ``directory``, ordered by start time."""
    tables = [_read_tsv(path) for path in sorted(directory.glob(PATTERN)) if path.stat().st_size > 0]
    if not tables:
        return empty_samples()
    table = pa.concat_tables(tables)
    order = pc.sort_indices(table, sort_keys=[("start_s", "ascending")])
    return _typed(table.take(order)).reset_index(drop=True)


def write_parquet(samples: pd.DataFrame, path: Path) -> Path:
    """Write samples as zstd-compressed Parquet (via a temp file + rename); return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(pa.Table.from_pandas(samples, preserve_index=False), tmp, compression="zstd")
    tmp.replace(path)
    return path


ANALYSIS_COLUMNS = ("start_s", "latency_ms", "name", "ok", "error", "intended_s")


def read_parquet(path: Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Samples written by ``write_parquet`` (string columns come back as categoricals).

    ``columns`` limits what is read; ``ANALYSIS_COLUMNS`` is all ``harness.analysis``
    needs, and skips ``order_id`` (millions of distinct strings, the slowest to load).
    """
    wanted = list(columns) if columns is not None else list(SAMPLE_COLUMNS)
    present = set(pq.read_schema(path).names)
    table = pq.read_table(path, columns=[c for c in wanted if c in present],
                          read_dictionary=[c for c in _CATEGORICAL if c in wanted])
    for column in wanted:  # files of older versions lack newer columns (e.g. intended_s)
        if column not in present:
            table = table.append_column(column, pa.nulls(len(table), type=_TYPES[column]))
    return _typed(table)


def read_dropped(directory: Path) -> pd.DataFrame:
    """Open-model arrivals the generator could not send: ``intended_s`` (epoch s) and ``name``."""
    frames = [
        pacsv.read_csv(path, read_options=pacsv.ReadOptions(column_names=["intended_s", "name"]),
                       parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False)).to_pandas()
        for path in sorted(directory.glob(DROPPED_PATTERN)) if path.stat().st_size > 0
    ]
    if not frames:
        return pd.DataFrame({"intended_s": pd.Series([], dtype="float64"),
                             "name": pd.Series([], dtype="object")})
    return pd.concat(frames, ignore_index=True)


class SampleTail:
    """Reads the lines appended to a directory's sample files since the previous call."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._offsets: dict[Path, int] = {}

    def read_new(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(start_s, latency_ms, ok) of complete lines appended since the last call."""
        chunks: list[bytes] = []
        for path in sorted(self.directory.glob(PATTERN)):
            offset = self._offsets.get(path, 0)
            with path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read()
            end = data.rfind(b"\n") + 1  # only complete lines
            if end:
                chunks.append(data[:end])
                self._offsets[path] = offset + end
        if not chunks:
            return np.empty(0), np.empty(0), np.empty(0, dtype=bool)
        table = _read_tsv(io.BytesIO(b"".join(chunks)))
        return (
            table.column("start_s").to_numpy(),
            table.column("latency_ms").to_numpy(),
            table.column("ok").to_numpy().astype(bool),
        )


def read_schedule(directory: Path) -> dict[str, float]:
    """The open-model schedulers' lag over every generator process ({} for closed-model runs).

    ``arrivals`` and ``late_10ms`` add up; ``lag_p99_ms`` and ``lag_max_ms`` are the worst
    process's (an upper bound of the pooled p99).
    """
    reports = []
    for path in sorted(directory.glob("schedule-*.json")):
        with contextlib.suppress(OSError, ValueError):
            reports.append(json.loads(path.read_text(encoding="utf-8")))
    if not reports:
        return {}
    return {"arrivals": float(sum(r.get("arrivals", 0) for r in reports)),
            "late_10ms": float(sum(r.get("late_10ms", 0) for r in reports)),
            "lag_p99_ms": max(float(r.get("lag_p99_ms", 0.0)) for r in reports),
            "lag_max_ms": max(float(r.get("lag_max_ms", 0.0)) for r in reports)}
