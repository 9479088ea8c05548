"""Files that are always whole: written under a temporary name and renamed, or not at all.

A full disk, an unwritable path or a kill never leaves half a file, nor a temporary one; the error
is an `OutputError` in one line.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


class OutputError(OSError):
    """A result could not be written; what was written before stays valid."""


def output_error(path: str | os.PathLike, error: OSError) -> OutputError:
    where = f" ({error.filename})" if error.filename and str(error.filename) != str(path) else ""
    return OutputError(f"cannot write {path}: {error.strerror or error}{where}")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary name beside `path` (same suffix) to write to; renamed onto `path` when the block
    succeeds, removed when it fails, so that `path` is always either the old file or the whole new one."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike, content: bytes | str | Callable[[Path], None]) -> None:
    """Write `content` to `path` whole or not at all: bytes, text, or a function that writes the file it is given."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            if callable(content):
                content(tmp)
            else:
                tmp.write_bytes(content.encode() if isinstance(content, str) else content)
    except OSError as e:
        raise output_error(path, e) from e
