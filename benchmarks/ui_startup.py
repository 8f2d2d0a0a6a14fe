"""How long ``exoqc ui`` takes until the MLflow UI answers (its ``/health`` endpoint).

Starts the real command ``--starts`` times (default 3) on a free loopback port, each until
``/health`` answers, then stops it with Ctrl-C (SIGINT) as a user does; prints each time
and the median. The store is ``MLFLOW_TRACKING_URI`` when set (e.g. a store with trained
models), otherwise a new, empty SQLite store in a temporary folder.

Run: ``.venv/bin/python benchmarks/ui_startup.py [--starts N]``
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

TIMEOUT_S = 180.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def start_to_health_s(command: str, tracking_uri: str) -> float:
    port = _free_port()
    started = time.monotonic()
    server = subprocess.Popen(
        [command, "ui", "--port", str(port)],
        env={**os.environ, "MLFLOW_TRACKING_URI": tracking_uri},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not _answers(f"http://127.0.0.1:{port}/health"):
            if server.poll() is not None or time.monotonic() - started > TIMEOUT_S:
                raise RuntimeError(f"exoqc ui did not answer on port {port}")
            time.sleep(0.05)
        return time.monotonic() - started
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=3)
    args = parser.parse_args()
    command = str(Path(sys.executable).parent / "exoqc")
    with tempfile.TemporaryDirectory() as tmp:
        uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        times = [start_to_health_s(command, uri) for _ in range(args.starts)]
    print(f"store: {uri}")
    print("exoqc ui, start to answering /health (s): "
          + ", ".join(f"{t:.1f}" for t in times) + f"; median {statistics.median(times):.1f}")


if __name__ == "__main__":
    main()
