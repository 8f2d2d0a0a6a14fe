"""The reference cohort: what ``exoqc train`` trains on without a folder, and the prior of
a lab's training."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from exoqc import __version__
from exoqc.config import Settings, get_settings


def reference_cohort(settings: Settings | None = None) -> Path:
    """The default training cohort: simulated once with a fixed seed, then reused.

    Written to a temporary folder and renamed into place, so an interrupted simulation is
    never mistaken for a complete cohort.
    """
    from exoqc.simulate import simulate_cohort

    settings = settings or get_settings()
    n, seed = settings.reference_cohort_size, settings.reference_cohort_seed
    folder = settings.data_dir / f"reference-cohort-n{n}-seed{seed}-v{__version__}"
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".simulating-") as tmp:
        simulate_cohort(Path(tmp) / "cohort", n_preps=n, seed=seed)
        try:
            os.rename(Path(tmp) / "cohort", folder)
        except OSError:
            if not folder.is_dir():  # another process finishing first is fine
                raise
    return folder
