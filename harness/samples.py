"""Raw sample files: the hook's per-process TSV files -> one DataFrame -> samples.parquet.

The hook (``scenarios/hook.py``) writes ``samples-<pid>.tsv`` lines in the order of
``SAMPLE_COLUMNS``. ``read_samples`` merges every file of a directory, orders rows by
request start, and types the columns (categoricals for the repetitive strings, which keeps
10 million rows well under a gigabyte). ``SampleTail`` reads only what was appended since
the last call, for live progress.
"""

from __future__ import annotations

import io
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
    "user": pa.string(),
}
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
    return pacsv.read_csv(
        source,
        read_options=pacsv.ReadOptions(column_names=list(SAMPLE_COLUMNS)),
        parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False),
        convert_options=pacsv.ConvertOptions(
            column_types=_TYPES, strings_can_be_null=False, quoted_strings_can_be_null=False,
        ),
    )


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


ANALYSIS_COLUMNS = ("start_s", "latency_ms", "name", "ok", "error")


def read_parquet(path: Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Samples written by ``write_parquet`` (string columns come back as categoricals).

    ``columns`` limits what is read; ``ANALYSIS_COLUMNS`` is all ``harness.analysis``
    needs, and skips ``order_id`` (millions of distinct strings, the slowest to load).
    """
    wanted = list(columns) if columns is not None else list(SAMPLE_COLUMNS)
    table = pq.read_table(path, columns=wanted, read_dictionary=[c for c in _CATEGORICAL if c in wanted])
    return _typed(table)


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
