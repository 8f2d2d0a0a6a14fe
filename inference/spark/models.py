"""The models of the Spark engine: verified on the driver, shipped to the executors.

The driver resolves each model (an alias such as ``@champion`` to its version), verifies it
(:func:`exoqc.model.load.load_model`) and registers a local copy of its MLflow model folder
with Spark; ``mlflow.pyfunc.spark_udf`` predicts with that copy on the executors, whose
Python workers also load it once each for the explanations (:func:`executor_scorer`),
refused unless it holds the spec the driver verified.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from exoqc.errors import ExoqcInputError
from exoqc.spec import Spec

# Each Python worker imports only what its function needs (the workers that featurize
# never load MLflow, XGBoost or SHAP): the models' modules are imported where used.
if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from exoqc.inference.score import ScoreSettings
    from exoqc.inference.scorer import Scorer
    from exoqc.model.load import LoadedModel
    from exoqc.model.predictor import ModelSpec


@dataclass(frozen=True)
class ShippedModel:
    """A model verified on the driver, in a local MLflow model folder that Spark ships to
    the executors; ``spec`` is what the executors' copy must hold."""

    uri: str
    name: str | None
    version: str | None
    folder: Path
    spec: ModelSpec


_SHIPPED_ROOTS: list[Path] = []


def _remove_shipped_models() -> None:
    for root in _SHIPPED_ROOTS:
        shutil.rmtree(root, ignore_errors=True)


def ship_models(spark: SparkSession, settings: ScoreSettings
                ) -> tuple[dict[str, ShippedModel], dict[str, LoadedModel]]:
    """Resolve both models, verify them and register their folders with Spark; returns
    the shipped models and the verified ones (the driver's, for the scoring run).

    Each must serve the target it is given for; a default model not registered is refused
    (the local engine scores the other target alone).

    A registered model is verified against the checksum the registry holds for its spec;
    the copy shipped to the executors must hold the same spec, whose booster checksums
    the executors check again when they load it. The folders stay until this process
    exits: the executors of a lazily evaluated DataFrame fetch them when they run.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    from exoqc.inference.scorer import is_absent_default, load_for_target, model_uris
    from exoqc.model.load import load_model, verify_pyfunc_code
    from exoqc.model.predictor import ModelIntegrityError

    root = Path(tempfile.mkdtemp(prefix="exoqc-spark-models-"))
    if not _SHIPPED_ROOTS:
        atexit.register(_remove_shipped_models)
    _SHIPPED_ROOTS.append(root)
    shipped: dict[str, ShippedModel] = {}
    verified: dict[str, LoadedModel] = {}
    for target, uri in model_uris(settings).items():
        with quiet_mlflow():
            try:
                model = load_for_target(uri, target)
            except MlflowException as error:
                # The plan predicts with both models; the local engine scores one alone.
                if not is_absent_default(error, uri, target):
                    raise
                raise ExoqcInputError(uri, f"no {target} model is registered: the Spark "
                                      "engine scores both targets (train one, or score "
                                      "with the local engine)") from None
            if Path(uri).is_dir():
                source = Path(uri)
            else:
                pinned = f"models:/{model.name}/{model.version}" if model.name else uri
                source = Path(mlflow.artifacts.download_artifacts(pinned))
        folder = root / target
        shutil.copytree(source, folder)
        if load_model(str(folder)).predictor.spec != model.predictor.spec:
            raise ModelIntegrityError(
                f"{uri}: the downloaded copy differs from the verified model")
        # spark_udf runs the model's own code file on the executors: it must be exoqc's.
        verify_pyfunc_code(folder)
        shipped[target] = ShippedModel(uri, model.name, model.version, folder,
                                       model.predictor.spec)
        verified[target] = model
    spark.sparkContext.addFile(str(root), recursive=True)
    return shipped, verified


_EXECUTOR_SCORERS: dict[tuple, Scorer] = {}


def executor_scorer(models: dict[str, ShippedModel], n_reasons: int, spec: Spec) -> Scorer:
    """Both models and their explainers, loaded once per Python worker from the folders
    Spark shipped, refused unless they hold the spec the driver verified."""
    # Keyed by content (the boosters' checksums), not by folder: a worker that served an
    # earlier batch of this session keeps its models.
    key = (tuple((target, m.uri, tuple(sorted(m.spec.sha256.items())))
                 for target, m in models.items()), n_reasons, spec.model_dump_json())
    if key not in _EXECUTOR_SCORERS:
        from pyspark import SparkFiles

        from exoqc.inference.scorer import Scorer
        from exoqc.model.load import LoadedModel, load_model
        from exoqc.model.predictor import ModelIntegrityError

        loaded = {}
        for target, model in models.items():
            local = Path(SparkFiles.get(model.folder.parent.name)) / model.folder.name
            predictor = load_model(str(local)).predictor
            if predictor.spec != model.spec:
                raise ModelIntegrityError(
                    f"{local}: the model shipped to this executor differs from the one the "
                    "driver verified")
            loaded[target] = LoadedModel(predictor, model.uri, model.name, model.version)
        _EXECUTOR_SCORERS[key] = Scorer.from_models(loaded, n_reasons, spec)
    return _EXECUTOR_SCORERS[key]


@contextlib.contextmanager
def quiet_mlflow() -> Iterator[None]:
    """MLflow without its download progress bars and its log messages below ERROR, which
    say nothing to a user where this is used."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    progress_bar = os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    logger.setLevel(logging.ERROR)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    try:
        yield
    finally:
        logger.setLevel(level)
        if progress_bar is None:
            os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
        else:
            os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = progress_bar
