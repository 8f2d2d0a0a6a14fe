"""Scoring on Apache Spark: the local engine's scores, computed by a cluster's executors.

What runs where:

- **Driver.** Reads and validates the prep records (``preps``, ``markers``, ``cargo``: a
  few kB per preparation) with exoqc's own loader, so every message is the loader's;
  resolves the registered models and verifies them (:func:`exoqc.training.registry.
  load_model`); splits the preparations into chunks. For a folder it then collects the
  scores, writes the scores file atomically and logs the MLflow scoring run, as
  :func:`exoqc.inference.score.score` does.
- **Executors.** ``mapInPandas`` over the chunks reads each preparation's DLS export and
  builds its features with :func:`exoqc.features.build_features` (the DLS analysis is
  the expensive part); ``mlflow.pyfunc.spark_udf`` predicts with both models (the pyfunc
  from code of ``model/model_code.py``, which checks each booster against the
  checksums in its spec); a second ``mapInPandas`` explains the predictions with
  :meth:`exoqc.inference.score.Scorer.score_features` (SHAP reasons, applicability
  domain), each model loaded once per Python worker.

A chunk holds whole *marker-run groups*: preparations that share a blot, plate or MS run
are scored together, because a run's detection floor (half its smallest detected
intensity) enters the marker features of every preparation in it. Everything else in a
preparation's features is its own, so the scores equal the local engine's.

Input schema of :func:`score_spark` (a data platform's tables; one row per record, column
names case-insensitive, any Spark type: values are read as the text a CSV export holds,
a NaN in a floating-point column counts as not measured):

- ``preps``: ``prep_id`` (unique) and the optional columns of ``preps.csv`` (README.md):
  ``batch``, ``isolation_method``, ``particles_per_ml``, ``protein_ug_per_ml``,
  ``dls_file`` (path relative to ``dls_root``, or absolute), ``dls_record``, ``nta_file``
  and ``nta_record`` (the same for NTA exports, also under ``dls_root``), free-text
  source columns. Label and assay-readout columns are validated but not needed.
- ``markers`` (optional): ``prep_id, marker, intensity`` and optional ``assay, run, unit``.
- ``cargo`` (optional): ``prep_id, target, delta_ct``.

Messages about a record name its table and its 1-based position in the table as read
(``markers table, record 12, column 'marker': ...``); sort a table before scoring for
numbers that stay the same between runs.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import importlib.util
import logging
import math
import os
import pickle
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from exoqc.contracts import DEFAULT_MODEL_URIS, SCORE_COLUMNS, TARGETS
from exoqc.dataset import (
    CARGO_FILE,
    MARKERS_FILE,
    PREPS_FILE,
    Dataset,
    duplicated_rows,
    load_dataset,
)
from exoqc.errors import ExoqcInputError, Problem
from exoqc.features import build_features, feature_names
from exoqc.spec import Spec

# Each Python worker imports only what its function needs (the workers that featurize
# never load MLflow, XGBoost or SHAP): the models' modules are imported where used.
if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from exoqc.inference.explain import Explained
    from exoqc.inference.score import Scorer, ScoreResult, ScoreSettings
    from exoqc.model.predictor import ModelSpec

MAX_CHUNK_PREPS = 1000
"""Preparations per task at most: bounds a task's memory and keeps the cores evenly busy."""
MIN_CHUNK_PREPS = 25
"""Fewer preparations than this in a task would cost more in the task's own start
(spark_udf loads both models per task in local mode) than they take to featurize."""
CHUNKS_PER_CORE = 4
_PANDAS_NOTICE = "PySpark does not yet fully support pandas"


class SparkUnavailableError(RuntimeError):
    """PySpark or its Java runtime is missing."""


def require_spark() -> None:
    """Raise :class:`SparkUnavailableError`, saying what to install, unless PySpark and
    Java are there."""
    if importlib.util.find_spec("pyspark") is None:
        raise SparkUnavailableError(
            "the Spark engine needs PySpark: pip install 'exoqc[spark]'")
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        raise SparkUnavailableError(
            "the Spark engine needs Java 17 or newer (Spark's runtime), e.g. "
            "apt-get install openjdk-17-jre-headless, or JAVA_HOME set to a JDK/JRE")


def spark_session(app_name: str = "exoqc-score") -> SparkSession:
    """The active Spark session, else a new one from Spark's own configuration.

    The master and resources come from ``spark-submit``, ``PYSPARK_SUBMIT_ARGS`` or
    ``spark-defaults.conf``; without any, Spark runs in local mode on every core. Python
    workers run this interpreter unless ``PYSPARK_PYTHON`` says otherwise: they must
    import the same installed exoqc as the driver.
    """
    require_spark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # PySpark 4.3 warns in the driver and in every Python worker that it does not fully
    # support pandas 3; the Spark engine's scores are checked against the local engine's
    # (tests), so the warning says nothing to a user.
    warnings.filterwarnings("ignore", message=_PANDAS_NOTICE, category=FutureWarning)
    worker_warnings = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"),
                                             f"ignore:{_PANDAS_NOTICE}:FutureWarning"]))
    return (
        SparkSession.builder.appName(app_name)
        .config("spark.log.level", "ERROR")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.executorEnv.PYTHONWARNINGS", worker_warnings)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )


# --- models ------------------------------------------------------------------------------


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


def ship_models(spark: SparkSession, settings: ScoreSettings) -> dict[str, ShippedModel]:
    """Resolve both models (an alias such as ``@champion`` to its version), verify them and
    register their folders with Spark.

    Each must serve the target it is given for; a default model not registered is refused
    (the local engine scores the other target alone).

    A registered model is verified against the checksum the registry holds for its spec;
    the copy shipped to the executors must hold the same spec, whose booster checksums
    the executors check again when they load it. The folders stay until this process
    exits: the executors of a lazily evaluated DataFrame fetch them when they run.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    from exoqc.inference.score import load_for_target
    from exoqc.model.load import load_model, verify_pyfunc_code
    from exoqc.model.predictor import ModelIntegrityError

    root = Path(tempfile.mkdtemp(prefix="exoqc-spark-models-"))
    if not _SHIPPED_ROOTS:
        atexit.register(_remove_shipped_models)
    _SHIPPED_ROOTS.append(root)
    shipped = {}
    for target, uri in (("purity", settings.purity_model), ("potency", settings.potency_model)):
        with _quiet_mlflow():
            try:
                verified = load_for_target(uri, target)
            except MlflowException as error:
                # The plan predicts with both models; the local engine scores one alone.
                if (uri != DEFAULT_MODEL_URIS[target]
                        or error.error_code != "RESOURCE_DOES_NOT_EXIST"):
                    raise
                raise ExoqcInputError(uri, f"no {target} model is registered: the Spark "
                                      "engine scores both targets (train one, or score "
                                      "with the local engine)") from None
            if Path(uri).is_dir():
                source = Path(uri)
            else:
                pinned = f"models:/{verified.name}/{verified.version}" if verified.name else uri
                source = Path(mlflow.artifacts.download_artifacts(pinned))
        folder = root / target
        shutil.copytree(source, folder)
        if load_model(str(folder)).predictor.spec != verified.predictor.spec:
            raise ModelIntegrityError(
                f"{uri}: the downloaded copy differs from the verified model")
        # spark_udf runs the model's own code file on the executors: it must be exoqc's.
        verify_pyfunc_code(folder)
        shipped[target] = ShippedModel(uri, verified.name, verified.version, folder,
                                       verified.predictor.spec)
    spark.sparkContext.addFile(str(root), recursive=True)
    return shipped


_EXECUTOR_SCORERS: dict[tuple, Scorer] = {}


def _executor_scorer(models: dict[str, ShippedModel], n_reasons: int, spec: Spec) -> Scorer:
    """Both models and their explainers, loaded once per Python worker from the folders
    Spark shipped, refused unless they hold the spec the driver verified."""
    # Keyed by content (the boosters' checksums), not by folder: a worker that served an
    # earlier batch of this session keeps its models.
    key = (tuple((target, m.uri, tuple(sorted(m.spec.sha256.items())))
                 for target, m in models.items()), n_reasons, spec.model_dump_json())
    if key not in _EXECUTOR_SCORERS:
        from pyspark import SparkFiles

        from exoqc.inference.score import Scorer
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
        _EXECUTOR_SCORERS[key] = Scorer(loaded["purity"], loaded["potency"], n_reasons, spec)
    return _EXECUTOR_SCORERS[key]


# --- chunks of preparations --------------------------------------------------------------


def marker_run_groups(dataset: Dataset) -> np.ndarray:
    """Group number of each preparation (dataset order): preparations linked through shared
    marker runs (the same ``assay`` and ``run``) are in one group.

    Connected components of the bipartite preparation–run graph (SciPy).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n_preps = len(dataset.prep_ids)
    markers = dataset.markers
    run = markers["run"].fillna("").astype(str)
    shared = markers[run != ""]
    if shared.empty:
        return np.arange(n_preps)
    prep_position = pd.Index(dataset.prep_ids).get_indexer(shared["prep_id"])
    run_code, runs = pd.factorize(shared["assay"].astype(str) + "\x00" + run[run != ""])
    size = n_preps + len(runs)
    graph = coo_matrix((np.ones(len(shared)), (prep_position, n_preps + run_code)),
                       shape=(size, size))
    _, component = connected_components(graph, directed=False)
    return component[:n_preps]


def chunk_positions(groups: np.ndarray, n_chunks: int) -> list[np.ndarray]:
    """Positions of the preparations of each chunk: whole groups, about equal sizes, groups
    in the order of their first preparation, positions ascending within a chunk."""
    target = math.ceil(len(groups) / max(n_chunks, 1))
    members = pd.Series(np.arange(len(groups))).groupby(groups, sort=False).indices
    chunks: list[np.ndarray] = []
    current: list[np.ndarray] = []
    size = 0
    for positions in members.values():
        current.append(positions)
        size += len(positions)
        if size >= target:
            chunks.append(np.sort(np.concatenate(current)))
            current, size = [], 0
    if current:
        chunks.append(np.sort(np.concatenate(current)))
    return chunks


def _n_chunks(n_preps: int, cores: int) -> int:
    """At least four chunks per core when there are enough preparations for them."""
    return max(math.ceil(n_preps / MAX_CHUNK_PREPS),
               min(CHUNKS_PER_CORE * cores, math.ceil(n_preps / MIN_CHUNK_PREPS)))


# --- executor functions (mapInPandas) ---------------------------------------------------


def featurize_chunks(batches: Iterator[pd.DataFrame], columns: tuple[str, ...]
                     ) -> Iterator[pd.DataFrame]:
    """Features of each chunk's preparations: ``position, prep_id, errors, warnings`` and
    the feature columns. A chunk is ``(positions, Dataset)``, pickled by the driver of the
    same job (internal transport between exoqc's own processes; nothing stored)."""
    for batch in batches:
        for payload in batch["payload"]:
            positions, dataset = pickle.loads(payload)
            table = build_features(dataset, n_jobs=1)
            ids = table.frame.index
            head = pd.DataFrame({
                "position": np.asarray(positions, dtype=np.int64),
                "prep_id": ids.astype(str),
                "errors": [table.errors.get(p, []) for p in ids],
                "warnings": [table.warnings.get(p, []) for p in ids],
            })
            yield pd.concat([head, table.frame.reset_index(drop=True)[list(columns)]], axis=1)


def explain_rows(batches: Iterator[pd.DataFrame], models: dict[str, ShippedModel],
                 n_reasons: int, columns: tuple[str, ...], with_explanations: bool,
                 spec: Spec | None = None) -> Iterator[pd.DataFrame]:
    """Score rows from features and ``spark_udf`` predictions, with
    :meth:`Scorer.score_features`; with ``with_explanations``, also the features and each
    model's SHAP values, base value and predicted class (what the driver's MLflow run
    needs)."""
    scorer = _executor_scorer(models, n_reasons, spec or Spec())
    for batch in batches:
        features = batch[list(columns)].set_axis(pd.Index(batch["prep_id"], name="prep_id"))
        errors = {p: list(e) for p, e in zip(batch["prep_id"], batch["errors"], strict=True)
                  if len(e)}
        notes = {p: list(w) for p, w in zip(batch["prep_id"], batch["warnings"], strict=True)
                 if len(w)}
        predictions = {
            target: batch[[c for c in batch.columns if c.startswith(f"{target}__")]]
            .rename(columns=lambda c: c.split("__", 1)[1])
            .set_axis(features.index)
            for target in TARGETS
        }
        scores, explained = scorer.score_features(features, errors, notes, predictions)
        scores.insert(0, "position", batch["position"].to_numpy())
        if with_explanations:
            ok = (scores["status"] == "ok").to_numpy()
            for target in TARGETS:
                rows = iter(explained[target].values.astype(np.float64))
                scores[f"shap_{target}"] = [next(rows) if scored else None for scored in ok]
                base = np.full(len(scores), np.nan)
                base[ok] = explained[target].base_values
                scores[f"shap_base_{target}"] = base
                predicted = np.full(len(scores), -1, dtype=np.int64)
                predicted[ok] = explained[target].predicted
                scores[f"shap_class_{target}"] = predicted
            scores = pd.concat([scores, features.reset_index(drop=True)], axis=1)
        yield scores


# --- the Spark plan ---------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
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


def _feature_schema(columns: tuple[str, ...]) -> StructType:
    from pyspark.sql.types import (
        ArrayType,
        DoubleType,
        LongType,
        StringType,
        StructField,
        StructType,
    )

    return StructType([
        StructField("position", LongType(), False),
        StructField("prep_id", StringType(), False),
        StructField("errors", ArrayType(StringType()), False),
        StructField("warnings", ArrayType(StringType()), False),
        *(StructField(c, DoubleType(), True) for c in columns),
    ])


def _score_schema(prediction_types: dict[str, StructType], columns: tuple[str, ...],
                  with_explanations: bool) -> StructType:
    from pyspark.sql.types import (
        ArrayType,
        BooleanType,
        DoubleType,
        LongType,
        StringType,
        StructField,
        StructType,
    )


    purity = {f.name: f.dataType for f in prediction_types["purity"].fields}
    potency = {f.name: f.dataType for f in prediction_types["potency"].fields}
    types = {f"p_purity_{c.removeprefix('p_')}": t for c, t in purity.items()
             if c.startswith("p_")}
    types["p_potent"] = potency["p_potent"]
    types["in_domain"] = BooleanType()
    types["assay_priority"] = LongType()
    readouts = [StructField(c, t, True) for c, t in potency.items() if c.startswith("pred_")]
    fields = [StructField("position", LongType(), False)]
    fields += [StructField(c, types.get(c, StringType()), True) for c in SCORE_COLUMNS]
    fields += readouts
    if with_explanations:
        for target in TARGETS:
            fields += [StructField(f"shap_{target}", ArrayType(DoubleType()), True),
                       StructField(f"shap_base_{target}", DoubleType(), True),
                       StructField(f"shap_class_{target}", LongType(), False)]
        fields += [StructField(c, DoubleType(), True) for c in columns]
    return StructType(fields)


def _plan(spark: SparkSession, dataset: Dataset, models: dict[str, ShippedModel],
          n_reasons: int, with_explanations: bool, spec: Spec) -> DataFrame:
    """The lazy Spark plan: chunks -> features -> spark_udf predictions -> score rows."""
    import mlflow
    from pyspark.sql import functions as F
    from pyspark.sql.types import BinaryType, LongType, StructField, StructType

    columns = tuple(feature_names())
    ids = dataset.prep_ids
    chunks = chunk_positions(marker_run_groups(dataset),
                             _n_chunks(len(ids), spark.sparkContext.defaultParallelism))
    payloads = pd.DataFrame({
        "chunk": np.arange(len(chunks), dtype=np.int64),
        "payload": [pickle.dumps((positions, dataset.subset([ids[i] for i in positions])),
                                 protocol=pickle.HIGHEST_PROTOCOL) for positions in chunks],
    })
    # Through Arrow (no Python worker); range partitioning on the chunk number gives each
    # task one chunk (a round-robin repartition would put two in some tasks, none in others).
    chunk_frame = spark.createDataFrame(payloads, StructType([
        StructField("chunk", LongType(), False), StructField("payload", BinaryType(), False)],
    )).repartitionByRange(len(chunks), "chunk")
    frame = chunk_frame.mapInPandas(functools.partial(featurize_chunks, columns=columns),
                                    _feature_schema(columns))
    prediction_types = {}
    for target in TARGETS:
        # MLflow's warning that env_manager="local" does not rebuild the training
        # environment does not apply: the executors run exoqc's installed environment.
        with _quiet_mlflow():
            predict = mlflow.pyfunc.spark_udf(spark, str(models[target].folder),
                                              env_manager="local")
        prediction_types[target] = predict.returnType
        inputs = F.struct(*[F.col(c) for c in models[target].spec.feature_names])
        frame = frame.withColumn(f"_{target}", predict(inputs))
    frame = frame.select(
        *[F.col(c) for c in frame.columns if not c.startswith("_")],
        *[F.col(f"_{target}.{field.name}").alias(f"{target}__{field.name}")
          for target in TARGETS for field in prediction_types[target].fields],
    )
    explain = functools.partial(explain_rows, models=models, n_reasons=n_reasons,
                                columns=columns, with_explanations=with_explanations,
                                spec=spec)
    return frame.mapInPandas(explain, _score_schema(prediction_types, columns,
                                                    with_explanations))


# --- entry points ------------------------------------------------------------------------


def score_spark(
    preps: DataFrame,
    markers: DataFrame | None = None,
    cargo: DataFrame | None = None,
    *,
    dls_root: str | Path,
    settings: ScoreSettings | None = None,
) -> DataFrame:
    """Score preparation records held in Spark tables; returns a lazy Spark DataFrame.

    One row per ``preps`` record in ``preps`` order (a record whose prep_id an earlier one
    used is an error row, as in the local engine), the columns of the scores file
    (:data:`exoqc.contracts.SCORE_COLUMNS`, then the predicted readouts), the
    values the local engine gives. ``dls_root``: the folder the ``dls_file`` paths are
    relative to, readable by the driver and every executor at the same path (a shared
    mount). The input schema is in this module's docstring. The record tables are read
    and validated on the driver; features, predictions and explanations run on the
    executors when the result is computed (persist it to use it twice). Logs no MLflow
    run: write the result where the platform keeps its tables. ``assay_priority`` stays
    empty here: the assay plan ranks the whole batch, a driver step
    (:func:`exoqc.inference.release.assay_priority` on the collected scores);
    ``score_folder`` (``exoqc score --engine spark``) does it.
    """
    from exoqc import tracking
    from exoqc.inference.release import check_limits
    from exoqc.inference.score import ScoreSettings

    settings = settings or ScoreSettings()
    spark = preps.sparkSession
    tracking.configure()
    dataset, duplicates = _records_from_tables(preps, markers, cargo, Path(dls_root))
    models = ship_models(spark, settings)
    check_limits(settings.spec, {name: m.spec for name, m in models.items()})
    scores = _plan(spark, dataset, models, settings.n_reasons, with_explanations=False,
                   spec=settings.spec)
    return _with_duplicated_records(scores, dataset, duplicates, models)


def _with_duplicated_records(scores: DataFrame, dataset: Dataset, duplicates: list[Problem],
                             models: dict[str, ShippedModel]) -> DataFrame:
    """``scores`` in ``preps`` order with the local engine's error row for each record
    whose prep_id an earlier record used, right after that prep_id's row."""
    from pyspark.sql import functions as F

    from exoqc.inference.score import with_duplicated_rows
    from exoqc.model.load import LoadedModel

    if not duplicates:
        return scores.orderBy("position").drop("position")
    # The extra rows and their places, from the local engine's function on a frame of the
    # scored rows' keys: an extra row has no position and follows its prep_id's row.
    labels = {f"{target}_model": LoadedModel(None, m.uri, m.name, m.version).label
              for target, m in models.items()}
    keys = pd.DataFrame({"position": np.arange(len(dataset.prep_ids), dtype=float),
                         "prep_id": dataset.prep_ids, "status": "", "error": "", **labels})
    rows = with_duplicated_rows(keys, duplicates)
    rows["order"] = rows.groupby(rows["position"].ffill()).cumcount()
    rows["position"] = rows["position"].ffill().astype(np.int64)
    extra = rows[rows["order"] > 0]
    extra = scores.sparkSession.createDataFrame(extra.astype({"order": np.int64}))
    return (scores.withColumn("order", F.lit(0).cast("long"))
            .unionByName(extra, allowMissingColumns=True)
            .orderBy("position", "order").drop("position", "order"))


def dataset_from_tables(preps: DataFrame, markers: DataFrame | None,
                        cargo: DataFrame | None, dls_root: Path) -> Dataset:
    """The records of Spark tables as a validated :class:`Dataset` rooted at ``dls_root``.

    Only the ``markers`` and ``cargo`` rows of the preparations in ``preps`` are read, so
    a platform can pass whole tables. The tables are written as the CSV files of a prep
    dataset folder beside links to the entries of ``dls_root`` and read by
    :func:`exoqc.dataset.load_dataset`, so that they pass the same checks as a folder;
    messages then name the table and record.
    """
    return _records_from_tables(preps, markers, cargo, dls_root)[0]


def _records_from_tables(preps: DataFrame, markers: DataFrame | None,
                         cargo: DataFrame | None, dls_root: Path
                         ) -> tuple[Dataset, list[Problem]]:
    """:func:`dataset_from_tables`, and the problems of its ``preps`` records left out
    because an earlier record used their prep_id (:func:`exoqc.dataset.duplicated_rows`).
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, FloatType

    if not dls_root.is_dir():
        raise ExoqcInputError(dls_root, "not a folder: expected the folder the dls_file "
                                        "paths are relative to")
    key = {name: _prep_id_column(table, name) for name, table in
           (("preps", preps), ("markers", markers), ("cargo", cargo)) if table is not None}
    wanted = preps.select(F.trim(preps[key["preps"]].cast("string")).alias("_prep_id"))
    markers, cargo = (
        None if table is None else table.join(
            wanted, F.trim(table[key[name]].cast("string")) == wanted["_prep_id"], "left_semi")
        for name, table in (("markers", markers), ("cargo", cargo)))
    tables = {PREPS_FILE: preps, MARKERS_FILE: markers, CARGO_FILE: cargo}
    with tempfile.TemporaryDirectory(prefix="exoqc-records-") as tmp:
        folder = Path(tmp)
        for entry in dls_root.iterdir():
            if entry.name not in tables:
                (folder / entry.name).symlink_to(entry.resolve())
        for name, table in tables.items():
            if table is None:
                continue
            as_text = table.select(*[
                F.when(F.isnan(F.col(f"`{f.name}`")), None).otherwise(F.col(f"`{f.name}`"))
                .cast("string").alias(f.name)
                if isinstance(f.dataType, DoubleType | FloatType)
                else F.col(f"`{f.name}`").cast("string").alias(f.name)
                for f in table.schema.fields
            ])
            as_text.toArrow().to_pandas().to_csv(folder / name, index=False, na_rep="")
        try:
            dataset = load_dataset(folder, errors="collect")
        except ExoqcInputError as error:  # nothing to score: no preparation in the table
            raise ExoqcInputError(f"{_TABLE_NAMES[Path(error.file).name]} table",
                                  error.detail) from None
        problems = [_table_problem(p, str(folder), str(dls_root)) for p in dataset.problems]
        # Found before the rewording, which turns "on line 3" into "in record 2".
        duplicates = [problems[dataset.problems.index(p)] for p in duplicated_rows(dataset)]
    return dataclasses.replace(dataset, root=dls_root, problems=problems), duplicates


_TABLE_NAMES = {PREPS_FILE: "preps", MARKERS_FILE: "markers", CARGO_FILE: "cargo"}


def _prep_id_column(table: DataFrame, name: str) -> str:
    """The table's ``prep_id`` column as spelled there (names are case-insensitive)."""
    for field in table.schema.fields:
        if field.name.strip().lower() == "prep_id":
            return field.name
    raise ExoqcInputError(f"{name} table", "expected a column 'prep_id'; found "
                          f"{', '.join(table.columns) or 'no columns'}")


def _table_problem(problem: Problem, folder: str, dls_root: str) -> Problem:
    """A loader problem about a CSV written from a table, reworded for that table: the
    record's position in the table (the file's line less its header), the DLS root."""
    message = problem.message.replace(folder, dls_root)
    for file, table in _TABLE_NAMES.items():
        message = message.replace(file, f"the {table} table")
    table = _TABLE_NAMES.get(problem.file)
    if table is None:
        return dataclasses.replace(problem, message=message)
    message = re.sub(r"\bon line (\d+)", lambda m: f"in record {int(m.group(1)) - 1}", message)
    where = f"{table} table"
    if problem.line is not None and problem.line > 1:
        where += f", record {problem.line - 1}"
    return dataclasses.replace(problem, file=where, line=None, message=message)


def score_folder(
    dataset_dir: str | Path,
    output: str | Path,
    settings: ScoreSettings | None = None,
    spark: SparkSession | None = None,
) -> ScoreResult:
    """``exoqc score --engine spark``: :func:`exoqc.inference.score.score` with features,
    predictions and explanations computed by Spark.

    The same scores file (one row per input preparation, same columns, values and error
    messages) and the same MLflow scoring run, tagged ``exoqc.engine=spark``. The driver
    holds the batch's scores, features and SHAP values, as the local engine does.
    """
    from exoqc import input_report, tracking
    from exoqc.inference.release import assay_priority, check_limits
    from exoqc.inference.score import (
        Scorer,
        ScoreResult,
        ScoreSettings,
        StageTimer,
        scores_file_path,
        with_duplicated_rows,
    )
    from exoqc.model.load import LoadedModel, load_model
    from exoqc.output import write_atomically

    settings = settings or ScoreSettings()
    output = scores_file_path(output)
    timer = StageTimer()
    tracking.configure()
    spark = spark or spark_session()
    timer.lap("start spark")
    models = ship_models(spark, settings)
    check_limits(settings.spec, {name: m.spec for name, m in models.items()})
    timer.lap("load models")
    dataset = load_dataset(dataset_dir, errors="collect")
    timer.lap("read and validate")
    # The features and SHAP values come back only for the MLflow run's figures and input.
    collected = (_plan(spark, dataset, models, settings.n_reasons,
                       with_explanations=settings.log_to_mlflow, spec=settings.spec)
                 .toArrow().to_pandas().sort_values("position", kind="stable")
                 .reset_index(drop=True))
    timer.lap("features, predict and explain (spark)")
    columns = feature_names()
    internal = {"position", *columns}
    scores = collected.drop(columns=[c for c in collected
                                     if c in internal or c.startswith("shap_")])
    scores["in_domain"] = scores["in_domain"].astype("boolean")
    scores = with_duplicated_rows(scores, duplicated_rows(dataset))
    scores["assay_priority"] = assay_priority(scores, settings.spec, settings.assay_budget)
    write_atomically(scores, output)
    timer.lap("write scores")
    # The loader's problems, and each failed row's messages as the executors wrote them.
    failed = scores[scores["status"] == "error"]
    problems = input_report.collect(
        {p: e.split("; ") for p, e in zip(failed["prep_id"], failed["error"], strict=True)},
        dataset.warnings, input_report.general_warnings(dataset))
    run_id = None
    if settings.log_to_mlflow:
        from mlflow import MlflowClient

        from exoqc.inference.report import log_scoring_run

        loaded = {target: LoadedModel(load_model(str(m.folder)).predictor, m.uri, m.name,
                                      m.version) for target, m in models.items()}
        scorer = Scorer(loaded["purity"], loaded["potency"], settings.n_reasons, settings.spec)
        features = collected[columns].set_axis(pd.Index(collected["prep_id"], name="prep_id"))
        explained = _explained(collected, features, scorer)
        run_id = log_scoring_run(dataset, features, scores, explained, scorer, output,
                                 settings.max_figures)
        MlflowClient().set_tag(run_id, "exoqc.engine", "spark")
        input_report.log_problems(problems, run_id)
        timer.lap("mlflow run")
    return ScoreResult(scores, output, run_id, timer.seconds, problems)


def _explained(collected: pd.DataFrame, features: pd.DataFrame,
               scorer: Scorer) -> dict[str, Explained]:
    """The executors' SHAP values, in the form the local engine hands to the MLflow run."""
    from exoqc.inference.explain import Explained

    ok = (collected["status"] == "ok").to_numpy()
    explained = {}
    for target in TARGETS:
        names = list(scorer.models[target].predictor.spec.feature_names)
        width = len(names)
        values = collected.loc[ok, f"shap_{target}"]
        explained[target] = Explained(
            values=np.array(values.tolist(), dtype=np.float64).reshape(-1, width),
            base_values=collected.loc[ok, f"shap_base_{target}"].to_numpy(np.float64),
            predicted=collected.loc[ok, f"shap_class_{target}"].to_numpy(np.int64),
            data=features.loc[ok, names],
        )
    return explained
