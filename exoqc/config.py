"""Settings: the one settings model of exoqc, and the physical defaults of a DLS measurement.

:class:`Settings` holds what every job shares (where the project's files live, how many
processes to use, the reference cohort); it reads ``EXOQC_``-prefixed environment variables
(``EXOQC_PROJECT_DIR``, ``EXOQC_N_JOBS``, ...) and MLflow's own ``MLFLOW_TRACKING_URI``,
every one listed in docs/architecture.md ("Settings"). The per-run options of a job
(``TrainSettings``, ``ScoreSettings``, ``MonitorSettings``) take their shared defaults from
it (:func:`default_n_jobs`), never their own.

The project directory holds ``mlruns/`` (the MLflow store) and ``data/`` (the cached
reference cohort and the main job's outputs). It is ``$EXOQC_PROJECT_DIR`` when set, else
the nearest folder at or above the working directory that has an ``mlruns/`` folder, else
the working directory itself.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from exoqc.errors import SettingsError

ENV_PREFIX = "EXOQC_"


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


class Settings(BaseSettings):
    """What every exoqc job shares, resolved once per command.

    Each field is read from the environment variable ``EXOQC_<FIELD>`` (``EXOQC_N_JOBS``...)
    when set and not empty, except ``mlflow_tracking_uri``, MLflow's own
    ``MLFLOW_TRACKING_URI``. Values passed to the constructor win over the environment.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True,
                                      frozen=True, extra="ignore", populate_by_name=True)

    # A lambda: pydantic passes the validated data to a one-argument factory.
    project_dir: Path = Field(default_factory=lambda: discover_project_dir(),
                              description="holds mlruns/ and data/")
    # 5,000 rather than 2,000: held out by batch, 2,000 leave ~400 test preparations, too
    # few to tell the model from a logistic regression reliably (docs/training.md).
    reference_cohort_size: int = Field(5000, gt=0)
    reference_cohort_seed: int = 20181
    n_jobs: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1,
                        description="processes for the DLS analysis and XGBoost threads")
    mlflow_tracking_uri: str | None = Field(
        None, validation_alias="MLFLOW_TRACKING_URI",
        description="MLflow's own variable: a team's server or another store; default: "
        "SQLite under project_dir/mlruns")

    @field_validator("project_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def mlruns_dir(self) -> Path:
        return self.project_dir / "mlruns"

    @property
    def data_dir(self) -> Path:
        return self.project_dir / "data"


def discover_project_dir(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the working directory) with an
    ``mlruns/`` folder, else ``start`` itself; ``$EXOQC_PROJECT_DIR`` is not consulted."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "mlruns").is_dir():
            return folder
    return here


def get_settings() -> Settings:
    """The settings of this process' environment.

    Raises
    ------
    SettingsError
        An environment variable that does not hold what its setting expects, named.
    """
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        info = Settings.model_fields.get(field)
        alias = info.validation_alias if info is not None else None
        variable = alias if isinstance(alias, str) else f"{ENV_PREFIX}{field.upper()}"
        raise SettingsError(variable, f"{first['msg']} (got {first.get('input')!r})") from None


def default_n_jobs() -> int:
    """``n_jobs`` of the settings: the default of every job's own options."""
    return get_settings().n_jobs
