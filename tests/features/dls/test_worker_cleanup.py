"""A killed (SIGTERM) or interrupted (Ctrl-C) exoqc leaves no DLS worker process behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                reason="reads the process tree from Linux /proc")

# `exoqc features` with the DLS analysis in a pool of two workers, whatever the machine's
# core count (the pool is used from 200 preparations and more than one job).
_SCRIPT = """
import os, sys
os.cpu_count = lambda: 2
from exoqc.cli import app
app(["features", sys.argv[1], "-o", sys.argv[2]])
"""


def _parents() -> dict[int, int]:
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(stat.parent.name)] = int(fields[1])
    return found


def _descendants(pid: int) -> set[int]:
    parents = _parents()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def many_dls_preps(small_cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small cohort's DLS files, each used by eight preparations (~900 to analyse)."""
    root = tmp_path_factory.mktemp("many_dls") / "cohort"
    root.mkdir()
    shutil.copytree(small_cohort / "dls", root / "dls")
    preps = pd.read_csv(small_cohort / "preps.csv", dtype=str, keep_default_na=False)
    preps = preps[preps["dls_file"] != ""]
    copies = [preps.assign(prep_id=preps["prep_id"] + f"-{k}") for k in range(8)]
    pd.concat(copies).to_csv(root / "preps.csv", index=False)
    return root


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_stopped_exoqc_leaves_no_worker_process(many_dls_preps, tmp_path, signum):
    log = tmp_path / "output.txt"
    with open(log, "w") as out:  # a file, not a pipe: a leftover worker would hold a pipe
        process = subprocess.Popen(
            [sys.executable, "-c", _SCRIPT, str(many_dls_preps), str(tmp_path / "f.parquet")],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ,
                                                       "EXOQC_PROJECT_DIR": str(tmp_path)})
    workers: set[int] = set()
    deadline = time.monotonic() + 120
    # The fork server and at least one worker forked from it: grandchildren.
    while time.monotonic() < deadline and process.poll() is None:
        tree = _descendants(process.pid)
        workers = {p for p in tree if _parents().get(p) != process.pid}
        if workers:
            break
        time.sleep(0.05)
    assert workers, "the DLS worker processes never started: " + log.read_text()
    everything = _descendants(process.pid)
    process.send_signal(signum)
    process.wait(timeout=60)
    output = log.read_text()
    assert process.returncode != 0
    assert "Traceback" not in output, output
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(p) for p in everything):
        time.sleep(0.1)
    left = [p for p in everything if _alive(p)]
    assert not left, f"processes left running after {signal.Signals(signum).name}: {left}"
    assert not (tmp_path / "f.parquet").exists()
