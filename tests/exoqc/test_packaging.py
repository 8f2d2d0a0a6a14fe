"""The distribution maps features/, training/, inference/ into the one package exoqc."""

import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement

from tests.services import pip_install_command, require

REPO = Path(__file__).resolve().parents[2]


def build_backend_installed() -> bool:
    """Whether this environment has the build backend pyproject.toml asks for (the dev
    extra brings it), so that the build needs no download."""
    build = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]
    for requirement in map(Requirement, build["requires"]):
        try:
            if version(requirement.name) not in requirement.specifier:
                return False
        except PackageNotFoundError:
            return False
    return True


def test_a_regular_install_from_outside_the_repo_imports_every_subpackage(tmp_path):
    require(build_backend_installed(), "the build backend of pyproject.toml",
            pip_install_command("dev"))
    site = tmp_path / "site"
    # Offline: no build isolation (the environment's setuptools builds it), no index.
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "--target", str(site), str(REPO)],
                   check=True, cwd=tmp_path)
    probe = (
        "import exoqc, exoqc.features, exoqc.features.dls.readers, exoqc.training, "
        "exoqc.inference, exoqc.simulate, exoqc.monitor.run\n"
        "from exoqc.model.load import MODEL_CODE\n"
        "print(exoqc.__file__); print(exoqc.features.__file__); "
        "print(exoqc.inference.__file__); print(MODEL_CODE if MODEL_CODE.is_file() else '')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                          text=True, env={"PYTHONPATH": str(site), "PATH": ""}, check=True)
    paths = done.stdout.split()
    assert len(paths) == 4
    assert all(Path(p).is_relative_to(site / "exoqc") for p in paths), paths
