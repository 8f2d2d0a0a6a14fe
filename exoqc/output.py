"""Writing a result table (scores file, feature table) so that it is complete or absent.

The table goes to a temporary file beside the target, is flushed to disk, and is then
renamed over the target (``os.replace`` is atomic on POSIX and Windows): a run killed
midway leaves the previous scores file, if any, as it was, never a half-written one.

A process killed by SIGKILL cannot delete its temporary file. Its name
(``.NAME.HOST.PID.TOKEN.partial``) says which process wrote it, so the next write to the
same file on the same host removes those whose process is gone; another host's files are
left alone (their processes cannot be checked from here).
"""

from __future__ import annotations

import glob
import os
import secrets
import socket
from pathlib import Path
from typing import BinaryIO

import pandas as pd

_HOST = socket.gethostname()


def check_writable_path(path: Path) -> None:
    """Refuse, before any work, an output path that cannot become a file: an existing
    folder, or a path under something that is a file.

    Raises :class:`~exoqc.errors.ExoqcInputError` naming the path and what was expected.
    """
    from exoqc.errors import ExoqcInputError

    path = Path(path)
    if path.is_dir():
        raise ExoqcInputError(path, "is a folder: expected a file name to write, e.g. "
                              f"{path / 'scores.csv'}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ExoqcInputError(path, f"'{parent}' is a file, so nothing can be written "
                                      "under it: expected a path in a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ExoqcInputError(path, f"folder '{parent}' is not writable")
            return


def write_atomically(table: pd.DataFrame, path: Path, index: bool = False) -> None:
    """Write ``table`` as CSV or Parquet (by suffix) to ``path``, atomically, with its
    index as columns when ``index``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path)
    partial = path.with_name(
        f".{path.name}.{_HOST}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    try:
        with open(partial, "xb") as handle:
            _write(table, handle, path.suffix, index)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def remove_leftovers(path: Path) -> list[Path]:
    """Delete the temporary files that killed writers of ``path`` on this host left;
    returns them."""
    if os.name != "posix":  # os.kill(pid, 0) probes a process only on POSIX
        return []
    prefix = f".{path.name}.{_HOST}."
    removed = []
    for candidate in Path(path).parent.glob(f".{glob.escape(path.name)}.*.partial"):
        pid = candidate.name.removeprefix(prefix).split(".", 1)[0]
        if candidate.name.startswith(prefix) and pid.isdigit() and not _alive(int(pid)):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _write(table: pd.DataFrame, handle: BinaryIO, suffix: str, index: bool) -> None:
    """The table's bytes in ``handle``, on disk (fsync) before the file gets its name."""
    if suffix.lower() == ".parquet":
        table.to_parquet(handle, index=index)
    else:
        handle.write(table.to_csv(index=index).encode("utf-8"))
    handle.flush()
    os.fsync(handle.fileno())
