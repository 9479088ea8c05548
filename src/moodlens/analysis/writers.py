"""JSON and CSV files grown record by record: valid after every record, whatever stops the run.

A write that fails (disk full, file too large) is cut back to the last complete record and reported as an
`OutputError`.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from moodlens.runtime.files import output_error


class RecordFile:
    """A file grown record by record, each ending with `tail`; the next record overwrites the tail. A write
    that fails (disk full, file too large) is cut back to the last complete record, tail included."""

    def __init__(self, path: str | os.PathLike, head: bytes, tail: bytes):
        self.path, self.tail = Path(path), tail
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as e:
            raise output_error(path, e) from e
        self.end = 0  # the file is valid up to here
        self.put(head + tail)

    def put(self, record: bytes) -> None:
        start = self.end - len(self.tail) if self.end else 0
        data = record + (self.tail if self.end else b"")
        try:
            written = 0
            while written < len(data):
                written += os.pwrite(self.fd, data[written:], start + written)
        except OSError as e:
            os.ftruncate(self.fd, start)
            if self.end:
                os.pwrite(self.fd, self.tail, start)  # fits: it was there a moment ago
            raise output_error(self.path, e) from e
        self.end = start + len(data)

    def close(self) -> None:
        os.close(self.fd)


class JsonArrayWriter:
    """A JSON array written record by record; the file is a valid document after every record."""

    def __init__(self, path: str | None):
        self.file = RecordFile(path, b"[", b"\n]\n") if path else None
        self.count = 0

    def write(self, record: dict) -> None:
        if self.file:
            self.file.put(("," if self.count else "").encode() + b"\n" + json.dumps(record).encode())
        self.count += 1

    def close(self) -> None:
        if self.file:
            self.file.close()


class CsvWriter:
    """A CSV file of whole rows with fixed columns, written as they come."""

    def __init__(self, path: str | os.PathLike | None, fields: list[str]):
        self.fields = fields
        self.file = RecordFile(path, self.encode(None), b"") if path else None

    def encode(self, rows: list[dict] | None) -> bytes:
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=self.fields)
        if rows is None:
            writer.writeheader()
        else:
            writer.writerows(rows)
        return text.getvalue().encode()

    def write(self, rows: list[dict]) -> None:
        if self.file and rows:
            self.file.put(self.encode(rows))

    def close(self) -> None:
        if self.file:
            self.file.close()
