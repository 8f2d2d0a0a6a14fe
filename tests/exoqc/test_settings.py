"""One settings model: EXOQC_* variables (and MLflow's own) read in one place, the shared
defaults of every job taken from it."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from exoqc import tracking
from exoqc.cli import app
from exoqc.config import Settings, get_settings
from exoqc.errors import SettingsError
from exoqc.inference.score import ScoreSettings
from exoqc.monitor.run import MonitorSettings
from exoqc.training.job import TrainSettings


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in ("EXOQC_PROJECT_DIR", "EXOQC_N_JOBS", "EXOQC_REFERENCE_COHORT_SIZE",
                 "EXOQC_REFERENCE_COHORT_SEED", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_every_job_takes_n_jobs_from_the_environment(clean_env):
    clean_env.setenv("EXOQC_N_JOBS", "3")
    assert get_settings().n_jobs == 3
    assert TrainSettings().n_jobs == ScoreSettings().n_jobs == MonitorSettings().n_jobs == 3
    assert TrainSettings(n_jobs=1).n_jobs == 1  # an explicit option wins


def test_project_dir_from_the_environment_holds_the_store(clean_env, tmp_path):
    project = tmp_path / "qc project"
    clean_env.setenv("EXOQC_PROJECT_DIR", str(project))
    clean_env.setenv("EXOQC_REFERENCE_COHORT_SIZE", "700")
    settings = get_settings()
    assert settings.project_dir == project
    assert settings.reference_cohort_size == 700
    assert tracking.tracking_uri() == f"sqlite:///{project}/mlruns/mlflow.db"


def test_without_the_variable_the_nearest_folder_with_mlruns_is_the_project(clean_env,
                                                                            tmp_path):
    (tmp_path / "mlruns").mkdir()
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    clean_env.chdir(inner)
    assert get_settings().project_dir == tmp_path.resolve()
    clean_env.setenv("EXOQC_PROJECT_DIR", "")  # empty: as if unset
    assert get_settings().project_dir == tmp_path.resolve()


def test_mlflow_tracking_uri_wins_over_the_project_store(clean_env, tmp_path):
    clean_env.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking.tracking_uri(Settings(project_dir=tmp_path)) == "http://127.0.0.1:5999"


@pytest.mark.parametrize("value", ["0", "many"])
def test_a_bad_variable_is_named_in_one_line(clean_env, tmp_path, value):
    clean_env.setenv("EXOQC_N_JOBS", value)
    with pytest.raises(SettingsError, match="EXOQC_N_JOBS"):
        get_settings()
    result = CliRunner().invoke(app, ["features", str(tmp_path), "-o", "f.csv"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("exoqc: EXOQC_N_JOBS: "), result.stderr
    assert repr(value) in lines[0]
    assert isinstance(result.exception, SystemExit)
