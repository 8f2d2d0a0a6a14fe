"""The model registry: log a model from code, register it, move ``champion``, load safely.

Registered models ``exoqc-purity`` and ``exoqc-potency`` (``exoqc.contracts``). Each version carries
the SHA-256 of its ``exoqc_model.json`` as a version tag; that file holds the SHA-256 of
each booster, so a model is loaded only if every file is the one written at training
time. Loading never unpickles anything and never runs code from the model folder: the
boosters are read with XGBoost's own JSON reader by code shipped in this package.

A version is created, with its checksum tag in the same database transaction, only once
its files are in the artifact store, and it is read back verified before training goes
on: a registered version always has its artifacts. An engine that lets MLflow load the
pyfunc (which runs the model's ``model_code.py``) checks that file first with
:func:`verify_pyfunc_code`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import xgboost as xgb
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from exoqc import __version__
from exoqc.contracts import CHAMPION_ALIAS, version_uri
from exoqc.model.load import (
    META_SHA_TAG,
    MODEL_ARTIFACT_NAME,
    MODEL_CODE,
    load_model,
)
from exoqc.model.predictor import (
    ExoqcPredictor,
    ModelIntegrityError,
    ModelSpec,
    save_model_files,
    sha256_of,
)
from exoqc.tracking import store_lock


def _pip_requirements() -> list[str]:
    import numpy
    import pandas
    import shap

    return [
        f"exoqc=={__version__}",
        f"mlflow=={mlflow.__version__}",
        f"xgboost=={xgb.__version__}",
        f"numpy=={numpy.__version__}",
        f"pandas=={pandas.__version__}",
        f"shap=={shap.__version__}",
    ]


def log_and_register(
    spec: ModelSpec,
    booster: xgb.Booster | None,
    regressor: xgb.Booster | None,
    input_example: pd.DataFrame,
    registered_name: str,
    fold_boosters: Sequence[xgb.Booster] = (),
) -> str:
    """Log the model in the active run as a pyfunc from code and register a new version.

    Returns the version number. The version is created with the spec's checksum as a tag,
    after its files are stored, and is then loaded back verified; a version that does not
    verify (files lost on the way to the artifact store) is deleted and the error raised.
    """
    with tempfile.TemporaryDirectory() as tmp:
        files = save_model_files(Path(tmp), spec, booster, regressor, fold_boosters)
        predictor = ExoqcPredictor.from_files(files["meta"], files.get("booster"),
                                              files.get("regressor"),
                                              other_files=list(files.values()))
        output_example = predictor.predict_frame(input_example).reset_index(drop=True)
        info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT_NAME,
            python_model=str(MODEL_CODE),
            artifacts={key: str(path) for key, path in files.items()},
            signature=infer_signature(input_example, output_example),
            input_example=input_example,
            pip_requirements=_pip_requirements(),
        )
        meta_sha = sha256_of(files["meta"])
    registered = mlflow.register_model(info.model_uri, registered_name,
                                       tags={META_SHA_TAG: meta_sha})
    version = str(registered.version)
    try:
        load_model(version_uri(registered_name, version))
    except ModelIntegrityError:
        MlflowClient().delete_model_version(registered_name, version)
        raise
    return version


@dataclass(frozen=True)
class ChampionDecision:
    promoted: bool
    previous_version: str | None
    previous_score: float | None
    new_score: float
    reason: str


def decide_champion(
    registered_name: str,
    new_version: str,
    new_score: float,
    metric: str,
    score_champion: Callable[[ExoqcPredictor], float],
) -> ChampionDecision:
    """Move ``champion`` to the new version only if it beats the current champion.

    Both are scored on the new run's held-out split (``score_champion`` evaluates the
    current champion there), so the comparison is on the same preparations. A champion
    that cannot be loaded or cannot read today's features is replaced, and the reason
    says so.
    """
    # Read, compare and move as one step: a concurrent training must compare with the
    # champion this one leaves, not with the one both saw before.
    with store_lock():
        return _decide_champion(registered_name, new_version, new_score, metric,
                                score_champion)


def _decide_champion(registered_name: str, new_version: str, new_score: float, metric: str,
                     score_champion: Callable[[ExoqcPredictor], float]) -> ChampionDecision:
    client = MlflowClient()
    try:
        current = client.get_model_version_by_alias(registered_name, CHAMPION_ALIAS)
    except MlflowException:
        current = None
    previous_version = str(current.version) if current is not None else None
    previous_score: float | None = None
    if current is None:
        promoted, reason = True, "no champion yet"
    else:
        try:
            champion = load_model(version_uri(registered_name, current.version))
            previous_score = float(score_champion(champion.predictor))
        except (ModelIntegrityError, ValueError, MlflowException) as exc:
            promoted = True
            reason = f"champion version {current.version} could not be evaluated ({exc})"
        else:
            promoted = new_score > previous_score
            verdict = "beats" if promoted else "does not beat"
            reason = (f"held-out {metric} {new_score:.4f} {verdict} champion version "
                      f"{current.version} ({previous_score:.4f}) on the same preparations")
    if promoted:
        client.set_registered_model_alias(registered_name, CHAMPION_ALIAS, new_version)
    return ChampionDecision(promoted, previous_version, previous_score, new_score, reason)
