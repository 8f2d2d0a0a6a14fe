"""A quiet terminal on a normal run: exoqc's own messages, not its libraries'.

MLflow's "Downloading artifacts" progress bars and INFO lines (database set-up, "Created
version"), Optuna's per-trial lines and library warnings (scikit-learn, NumPy's "All-NaN
slice", XGBoost) say nothing a scientist can act on. ``exoqc --verbose`` keeps them all.
"""

from __future__ import annotations

import logging
import os
import warnings

_LIBRARY_LOGGERS = ("mlflow", "alembic", "optuna", "py4j", "urllib3", "matplotlib", "shap")


def quiet_libraries() -> None:
    """Silence third-party progress bars, INFO lines and warnings in this process and in
    the processes it starts (DLS workers, the MLflow UI server); exoqc's own warnings
    stay. Call before MLflow is imported (it reads its settings at import)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    warnings.simplefilter("ignore")
    warnings.filterwarnings("default", category=UserWarning, module=r"exoqc(\.|$)")
    warnings.filterwarnings("default", message="DLS process pool failed")
    for name in _LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
