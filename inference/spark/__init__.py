"""Scoring on Apache Spark: the local engine's scores, computed by a cluster's executors.

What runs where:

- **Driver.** Reads and validates the prep records (``preps``, ``markers``, ``cargo``: a
  few kB per preparation) with exoqc's own loader, so every message is the loader's;
  resolves the registered models and verifies them (:mod:`.models`); splits the
  preparations into chunks of whole marker-run groups (:mod:`.chunks`). For a folder
  (:func:`score_folder`) the scoring pipeline (:func:`exoqc.inference.pipeline.run`) then
  collects the scores, writes the scores file and logs the MLflow scoring run, as for the
  local engine (:class:`.engine.SparkEngine`).
- **Executors.** Features, ``spark_udf`` predictions and the scores rows of
  :meth:`exoqc.inference.scorer.Scorer.rows` (:mod:`.plan`).

:func:`score_spark` scores records held in Spark tables (:mod:`.tables` gives their
schema) and returns a lazy table.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from exoqc.inference.spark.chunks import chunk_positions, marker_run_groups
from exoqc.inference.spark.models import ship_models
from exoqc.inference.spark.tables import dataset_from_tables

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from exoqc.inference.pipeline import ScoreResult
    from exoqc.inference.score import ScoreSettings

__all__ = ["SparkUnavailableError", "chunk_positions", "dataset_from_tables",
           "marker_run_groups", "require_spark", "score_folder", "score_spark",
           "ship_models", "spark_session"]

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
    from exoqc.inference import pipeline
    from exoqc.inference.score import ScoreSettings
    from exoqc.inference.spark.engine import SparkEngine

    return pipeline.run(SparkEngine(spark, spark_session), dataset_dir, output,
                        settings or ScoreSettings())


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
    mount). The input schema is in :mod:`exoqc.inference.spark.tables`. The record tables
    are read and validated on the driver; features, predictions and explanations run on
    the executors when the result is computed (persist it to use it twice). Logs no MLflow
    run: write the result where the platform keeps its tables. ``assay_priority`` stays
    empty here: the assay plan ranks the whole batch, a driver step
    (:func:`exoqc.inference.release.assay_priority` on the collected scores);
    ``score_folder`` (``exoqc score --engine spark``) does it.
    """
    from exoqc import tracking
    from exoqc.inference.release import check_limits
    from exoqc.inference.score import ScoreSettings
    from exoqc.inference.spark.plan import plan
    from exoqc.inference.spark.tables import records_from_tables, with_duplicated_records

    settings = settings or ScoreSettings()
    spark = preps.sparkSession
    tracking.configure()
    dataset, duplicates = records_from_tables(preps, markers, cargo, Path(dls_root))
    shipped, verified = ship_models(spark, settings)
    check_limits(settings.spec, {name: m.spec for name, m in shipped.items()})
    scores = plan(spark, dataset, shipped, settings.n_reasons, with_explanations=False,
                  spec=settings.spec).drop("errors", "warnings")
    labels = {f"{target}_model": model.label for target, model in verified.items()}
    return with_duplicated_records(scores, dataset, duplicates, labels)
