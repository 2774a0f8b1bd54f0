"""What every command shares: one form for errors and the checks that reject input before
anything is stored or created.

An error is one line `error: <message>` on stderr. Exit codes: 0 success, 2 input rejected
(nothing stored, no file created), 1 internal error. A command raises InputError (or calls a
check below) and the `command` decorator turns it into that line and exit 2.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import duckdb

from pipelines.store import warehouse

EXIT_OK, EXIT_INTERNAL, EXIT_REJECTED = 0, 1, 2


class InputError(Exception):
    """The command's input is rejected: nothing was stored (exit 2)."""


def error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def fail(message: str, code: int = EXIT_REJECTED) -> int:
    """Print `error: message` on stderr and return `code` (for `return fail(...)`)."""
    error(message)
    return code


def command(func: Callable[[Any], int | None]) -> Callable[[Any], int]:
    """Wrap a command function: InputError and a missing warehouse give exit 2, a busy
    warehouse exit 1, each as one `error:` line. Anything else reaches main() (exit 1)."""

    @functools.wraps(func)
    def run(args: Any) -> int:
        try:
            return int(func(args) or 0)
        except (InputError, warehouse.WarehouseMissing) as exc:
            return fail(_text(exc), EXIT_REJECTED)
        except warehouse.WarehouseBusy as exc:
            return fail(_text(exc), EXIT_INTERNAL)

    return run


def _text(exc: BaseException) -> str:
    # KeyError('x') prints as "'x'"; the message is its argument
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)


# ------------------------------------------------------------------------------------------
# Checks that run before anything is read, stored or created
# ------------------------------------------------------------------------------------------
def input_file(path: str | os.PathLike | None, what: str = "file") -> None:
    """An existing file to read (not a directory). None passes (an option not given)."""
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{what} {p} is a directory, not a file.")
    if not p.exists():
        raise InputError(f"{what} {p} does not exist.")


def output_file(path: str | os.PathLike | None, what: str = "output file") -> None:
    """A file to write: may not exist yet, but may not be a directory."""
    if path is not None and Path(path).is_dir():
        raise InputError(f"{what} {path} is a directory, not a file.")


def output_directory(path: str | os.PathLike, what: str = "output directory") -> None:
    """A directory to write into: may not exist yet, but may not be a file."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(f"{what} {p} is a file, not a directory.")


def existing_warehouse(db: str | os.PathLike | None) -> Path:
    """The warehouse a reading command opens: it must exist (a typo in --db must not leave an
    empty warehouse behind). Returns its resolved path."""
    if str(db) == ":memory:":
        return Path(":memory:")
    path = warehouse.resolve_db(db)
    if path.is_dir():
        raise InputError(f"the warehouse {path} is a directory, not a warehouse file.")
    if not path.exists():
        raise InputError(
            f"the warehouse {path} does not exist (check --db or ${warehouse.DB_ENV}); nothing was created. "
            "`python -m pipelines load-sample` or `python -m pipelines ingest` creates one."
        )
    return path


def writable_warehouse(db: str | os.PathLike | None) -> None:
    """A warehouse a writing command may create, but not a directory."""
    if str(db) != ":memory:" and warehouse.resolve_db(db).is_dir():
        raise InputError(f"the warehouse {warehouse.resolve_db(db)} is a directory, not a warehouse file.")


@contextlib.contextmanager
def reading(db: str | os.PathLike | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to an existing warehouse (never creates one)."""
    existing_warehouse(db)
    with warehouse.connect(db, read_only=True, create=False) as con:
        yield con


def known_wave(wave: str | None, waves: Iterable[str], where: str) -> None:
    """`--wave` must name a wave that is there (None: the default wave, always fine)."""
    if wave is None:
        return
    waves = [w for w in waves if w is not None]
    if wave not in waves:
        listed = ", ".join(waves) if waves else "none"
        raise InputError(f"wave {wave!r} is not in {where}; waves there: {listed}.")
