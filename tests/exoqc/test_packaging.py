"""The distribution maps features/, training/, inference/ into the one package exoqc."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_regular_install_from_outside_the_repo_imports_every_subpackage(tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(site), str(REPO)], check=True, cwd=tmp_path)
    probe = (
        "import exoqc, exoqc.features, exoqc.features.dls.readers, exoqc.training, "
        "exoqc.inference, exoqc.simulate, exoqc.monitor.run\n"
        "from exoqc.training.registry import MODEL_CODE\n"
        "print(exoqc.__file__); print(exoqc.features.__file__); "
        "print(exoqc.inference.__file__); print(MODEL_CODE if MODEL_CODE.is_file() else '')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                          text=True, env={"PYTHONPATH": str(site), "PATH": ""}, check=True)
    paths = done.stdout.split()
    assert len(paths) == 4
    assert all(Path(p).is_relative_to(site / "exoqc") for p in paths), paths
