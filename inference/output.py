"""Writing the scores file so that it is either complete or absent.

The table goes to a temporary file in the same folder, is flushed to disk, and is then
renamed over the target (``os.replace`` is atomic on POSIX and Windows): a run killed
midway leaves no half-written file that looks complete.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd


def write_atomically(table: pd.DataFrame, path: Path) -> None:
    """Write ``table`` as CSV or Parquet (by suffix) to ``path``, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(handle)
    try:
        if path.suffix.lower() == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False)
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
