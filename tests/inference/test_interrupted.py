"""A scoring run killed (SIGKILL) while it writes the scores file: no partial scores file,
the previous one untouched, and the next run writes a complete file and removes what the
killed one left."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from exoqc.inference.score import ScoreSettings, score
from exoqc.output import remove_leftovers, write_atomically
from exoqc.simulate import simulate_cohort

# `exoqc score`, killed by SIGKILL once half of the scores file's bytes are written.
DIE_WHILE_WRITING = """
import os, signal, sys
import exoqc.output as output

def write_half_and_die(table, handle, suffix, index):
    if suffix == ".parquet":
        import io
        buffer = io.BytesIO()
        table.to_parquet(buffer, index=False)
        data = buffer.getvalue()
    else:
        data = table.to_csv(index=False).encode()
    handle.write(data[: len(data) // 2])
    handle.flush()
    os.fsync(handle.fileno())
    os.kill(os.getpid(), signal.SIGKILL)

output._write = write_half_and_die
from exoqc.cli import app
sys.argv = ["exoqc", *sys.argv[1:]]
app()
"""


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    return simulate_cohort(tmp_path_factory.mktemp("interrupted") / "batch", 8, 21)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial"))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_scoring_killed_while_writing_leaves_the_previous_file_and_the_next_run_works(
    use_store, batch, tmp_path, suffix
):
    output = tmp_path / f"scores{suffix}"
    previous = b"an earlier scores file"
    if suffix == ".parquet":
        output.write_bytes(previous)
    env = {**os.environ, "MLFLOW_TRACKING_URI": use_store.uri}
    killed = subprocess.Popen(
        [sys.executable, "-c", DIE_WHILE_WRITING, "score", str(batch), "-o", str(output)],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log, _ = killed.communicate(timeout=600)
    assert killed.returncode == -signal.SIGKILL, log[-3000:]

    if suffix == ".parquet":
        assert output.read_bytes() == previous  # untouched, not half replaced
    else:
        assert not output.exists()
    # SIGKILL leaves its hidden temporary file, named after the dead process...
    [left] = leftovers(tmp_path)
    assert left.startswith(f".{output.name}.{socket.gethostname()}.{killed.pid}.")

    result = score(batch, output, ScoreSettings(log_to_mlflow=False, n_jobs=1))
    written = pd.read_parquet(output) if suffix == ".parquet" else pd.read_csv(output)
    assert len(written) == len(result.scores) == 8
    assert leftovers(tmp_path) == []  # ...which the next write removes


def test_a_live_writers_and_another_hosts_temporary_files_are_kept(tmp_path):
    output = tmp_path / "scores.csv"
    host = socket.gethostname()
    mine = tmp_path / f".scores.csv.{host}.{os.getpid()}.0a0a.partial"
    other_host = tmp_path / ".scores.csv.elsewhere.example.1.0b0b.partial"
    other_file = tmp_path / f".other.csv.{host}.999999999.0c0c.partial"
    for path in (mine, other_host, other_file):
        path.write_text("in progress")
    write_atomically(pd.DataFrame({"prep_id": ["P1"]}), output)
    assert leftovers(tmp_path) == sorted(p.name for p in (mine, other_host, other_file))
    dead = tmp_path / f".scores.csv.{host}.999999999.0d0d.partial"
    dead.write_text("left by a killed run")
    assert remove_leftovers(output) == [dead]
