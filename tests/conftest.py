"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

from exoqc.simulate import simulate_cohort

SMALL_COHORT_SIZE = 120
SMALL_COHORT_SEED = 11


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated prep dataset folder of 120 preparations (seed 11), written once per session.

    Read-only by convention: tests that change files must copy it first.
    """
    return simulate_cohort(tmp_path_factory.mktemp("small_cohort") / "cohort",
                           SMALL_COHORT_SIZE, SMALL_COHORT_SEED)
