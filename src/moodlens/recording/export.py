"""A session's timeline as a file: CSV (no dependency) or Parquet (pyarrow, of the [record] extra)."""

from __future__ import annotations

import csv
import io

from moodlens.recording.timeline import export_columns, export_rows
from moodlens.runtime.errors import MoodlensError

FORMATS = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}  # and their media types


def export_bytes(line: dict, fmt: str) -> bytes:
    """One row per bucket of `line` (a `timeline`), in the columns of `export_columns`."""
    columns, rows = export_columns(line["labels"]), export_rows(line)
    if fmt == "csv":
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        return text.getvalue().encode()
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows, schema=parquet_schema(columns))
        sink = io.BytesIO()
        pq.write_table(table, sink)
        return sink.getvalue()
    raise MoodlensError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def parquet_schema(columns: list[str]):
    import pyarrow as pa

    types = {"steps": pa.int64()}
    return pa.schema([(name, types.get(name, pa.float64())) for name in columns])


def format_of(path: str) -> str:
    """The export format a file name asks for: .csv or .parquet."""
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if suffix not in FORMATS:
        raise MoodlensError(f"{path}: name the export file .csv or .parquet")
    return suffix
