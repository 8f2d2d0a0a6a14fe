"""Settings: where the project's files live, and the physical defaults of a DLS measurement.

The project directory holds ``mlruns/`` (the MLflow store) and ``data/`` (the cached
reference cohort and the main job's outputs). It is ``$EXOQC_PROJECT_DIR`` when set, else
the nearest folder at or above the working directory that has an ``mlruns/`` folder, else
the working directory itself.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

PROJECT_DIR_ENV = "EXOQC_PROJECT_DIR"


class DLSDefaults(BaseModel):
    """Measurement conditions used when a DLS export does not state them.

    Water at 25 °C (viscosity 0.8872 mPa·s, refractive index 1.330), a He-Ne laser at
    632.8 nm and the Zetasizer Nano's backscatter detector at 173°. Values written in a
    file always win over these.
    """

    model_config = ConfigDict(frozen=True)

    temperature_k: float = Field(298.15, gt=0)
    viscosity_pa_s: float = Field(0.8872e-3, gt=0)
    medium_refractive_index: float = Field(1.330, gt=0)
    wavelength_nm: float = Field(632.8, gt=0)
    angle_deg: float = Field(173.0, gt=0, lt=180)
    # Effective refractive index of a small EV (lipid bilayer + lumen): 1.37-1.40
    # (van der Pol et al., J Thromb Haemost 2014; Gardiner et al., J Extracell Vesicles 2014).
    particle_refractive_index: float = Field(1.39, gt=0)


DLS_DEFAULTS = DLSDefaults()


class Settings(BaseModel):
    """Where exoqc reads and writes, resolved once per command."""

    model_config = ConfigDict(frozen=True)

    project_dir: Path
    # 5,000 rather than 2,000: held out by batch, 2,000 leave ~400 test preparations, too
    # few to tell the model from a logistic regression reliably (docs/training.md).
    reference_cohort_size: int = Field(5000, gt=0)
    reference_cohort_seed: int = 20181
    n_jobs: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)

    @property
    def mlruns_dir(self) -> Path:
        return self.project_dir / "mlruns"

    @property
    def data_dir(self) -> Path:
        return self.project_dir / "data"


def find_project_dir(start: Path | None = None) -> Path:
    """The project directory as described in the module docstring."""
    if os.environ.get(PROJECT_DIR_ENV):
        return Path(os.environ[PROJECT_DIR_ENV]).expanduser().resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "mlruns").is_dir():
            return folder
    return here


def get_settings() -> Settings:
    return Settings(project_dir=find_project_dir())
