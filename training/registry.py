"""The model registry: log a model from code, register it, move ``champion``, load safely.

Registered models ``exoqc-purity`` and ``exoqc-potency`` (DESIGN). Each version carries
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import xgboost as xgb
import yaml
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from exoqc import __version__
from exoqc.tracking import CHAMPION_ALIAS, store_lock
from exoqc.training.model import (
    ExoqcPredictor,
    ModelIntegrityError,
    ModelSpec,
    save_model_files,
    sha256_of,
)

MODEL_CODE = Path(__file__).with_name("model_code.py")
META_SHA_TAG = "exoqc_meta_sha256"
MODEL_ARTIFACT_NAME = "model"
CODE_MODEL_LOADER = "mlflow.pyfunc.loaders.code_model"


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
    booster: xgb.Booster,
    regressor: xgb.Booster | None,
    input_example: pd.DataFrame,
    registered_name: str,
) -> str:
    """Log the model in the active run as a pyfunc from code and register a new version.

    Returns the version number. The version is created with the spec's checksum as a tag,
    after its files are stored, and is then loaded back verified; a version that does not
    verify (files lost on the way to the artifact store) is deleted and the error raised.
    """
    with tempfile.TemporaryDirectory() as tmp:
        files = save_model_files(Path(tmp), spec, booster, regressor)
        predictor = ExoqcPredictor.from_files(files["meta"], files["booster"],
                                              files.get("regressor"))
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
        load_model(f"models:/{registered_name}/{version}")
    except ModelIntegrityError:
        MlflowClient().delete_model_version(registered_name, version)
        raise
    return version


@dataclass(frozen=True)
class LoadedModel:
    predictor: ExoqcPredictor
    uri: str
    name: str | None
    version: str | None

    @property
    def label(self) -> str:
        """How the scores file names the model: ``exoqc-purity/3`` or the URI."""
        return f"{self.name}/{self.version}" if self.name else self.uri


def _resolve_registered(uri: str) -> tuple[str, str] | None:
    """(name, version) of a ``models:/name@alias`` or ``models:/name/version`` URI."""
    if not uri.startswith("models:/"):
        return None
    path = uri.removeprefix("models:/")
    client = MlflowClient()
    if "@" in path:
        name, alias = path.split("@", 1)
        return name, str(client.get_model_version_by_alias(name, alias).version)
    if "/" in path:
        name, version = path.split("/", 1)
        return name, version
    return None


def load_model(uri: str) -> LoadedModel:
    """Load an exoqc model from the registry, a run, or a local model folder, verified.

    Raises :class:`ModelIntegrityError` when files differ from those written at training
    time or the folder is not an exoqc model, and ``MlflowException`` when the URI names
    nothing.
    """
    registered = _resolve_registered(uri)
    expected_meta_sha = source = None
    name = version = None
    if registered is not None:
        name, version = registered
        model_version = MlflowClient().get_model_version(name, version)
        expected_meta_sha = model_version.tags.get(META_SHA_TAG)
        if expected_meta_sha is None:
            raise ModelIntegrityError(
                f"{name} version {version} has no '{META_SHA_TAG}' tag: it was not registered "
                "by exoqc, or its registration did not complete"
            )
        source = f"models:/{name}/{version}"
    elif not Path(uri).exists():
        source = uri
    # Everything is read into memory: a downloaded copy is not kept.
    with tempfile.TemporaryDirectory(prefix="exoqc-model-") as download:
        local = (Path(mlflow.artifacts.download_artifacts(source, dst_path=download))
                 if source else Path(uri))
        artifacts = _pyfunc_artifacts(local)
        try:
            predictor = ExoqcPredictor.from_files(
                artifacts["meta"], artifacts["booster"], artifacts.get("regressor"),
                expected_meta_sha256=expected_meta_sha,
            )
        except ModelIntegrityError as exc:
            if source is None:
                raise
            # Name the model and its files, not the temporary copy.
            raise ModelIntegrityError(f"{uri}: {str(exc).replace(f'{local}/', '')}") from None
        except (ValueError, KeyError, TypeError) as exc:  # json, spec fields, XGBoost
            raise ModelIntegrityError(f"{uri}: not a readable exoqc model ({exc})") from exc
    return LoadedModel(predictor=predictor, uri=uri, name=name, version=version)


def verify_pyfunc_code(model_dir: Path) -> None:
    """Refuse a model folder whose pyfunc would run code exoqc did not ship.

    ``mlflow.pyfunc.load_model`` (and ``spark_udf``) execute the model's ``model_code.py``
    and add any ``code`` paths to ``sys.path``; a pickled ``python_model`` would be
    unpickled. So the folder must be a model from code, with no extra code, whose code file
    is byte for byte this package's ``model_code.py``. Call it before handing the folder to
    MLflow; :func:`load_model` verifies the boosters and the spec.
    """
    model_dir = Path(model_dir)
    pyfunc = _pyfunc_flavor(model_dir)
    code_file = model_dir / Path(str(pyfunc.get("model_code_path", ""))).name
    if (pyfunc.get("loader_module") != CODE_MODEL_LOADER or pyfunc.get("code")
            or "python_model" in pyfunc or not code_file.is_file()):
        raise ModelIntegrityError(
            f"{model_dir / 'MLmodel'}: not an exoqc model from code (loader "
            f"{pyfunc.get('loader_module')!r}); refusing code that exoqc did not ship")
    if sha256_of(code_file) != sha256_of(MODEL_CODE):
        raise ModelIntegrityError(
            f"{code_file}: differs from the model code shipped with exoqc {__version__}; "
            "refusing to run it")


def _pyfunc_flavor(model_dir: Path) -> dict[str, Any]:
    """The python_function flavor of a model's MLmodel file, read as plain YAML data."""
    mlmodel = model_dir / "MLmodel"
    if not mlmodel.is_file():
        raise ModelIntegrityError(f"{model_dir}: no MLmodel file; not an MLflow model folder")
    try:
        flavor = yaml.safe_load(mlmodel.read_text())["flavors"]["python_function"]
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise ModelIntegrityError(f"{mlmodel}: not an exoqc model (no python_function "
                                  "flavor)") from exc
    if not isinstance(flavor, dict):
        raise ModelIntegrityError(f"{mlmodel}: not an exoqc model (no python_function flavor)")
    return flavor


def _pyfunc_artifacts(model_dir: Path) -> dict[str, Path]:
    """Artifact files named in the model's MLmodel file (read as plain YAML data)."""
    mlmodel = model_dir / "MLmodel"
    try:
        entries = _pyfunc_flavor(model_dir)["artifacts"]
        files = {key: model_dir / value["path"] for key, value in entries.items()}
    except (KeyError, TypeError, AttributeError) as exc:
        raise ModelIntegrityError(f"{mlmodel}: not an exoqc model (no booster artifacts)") from exc
    for key in ("meta", "booster"):
        if key not in files or not files[key].is_file():
            raise ModelIntegrityError(f"{model_dir}: the model's '{key}' file is missing")
    if any(not path.resolve().is_relative_to(model_dir.resolve()) for path in files.values()):
        raise ModelIntegrityError(f"{mlmodel}: artifact paths point outside the model folder")
    return files


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
            champion = load_model(f"models:/{registered_name}/{current.version}")
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
