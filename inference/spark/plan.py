"""The Spark engine's lazy plan: chunks → features → ``spark_udf`` predictions → scores rows.

- ``mapInPandas`` over the chunks reads each preparation's DLS and NTA exports and builds
  its features with :func:`exoqc.features.build_features` (the DLS analysis is the
  expensive part; :func:`featurize_chunks`);
- ``mlflow.pyfunc.spark_udf`` predicts with both models (the pyfunc from code of
  ``model/model_code.py``, which checks each booster against the checksums in its spec);
- a second ``mapInPandas`` makes the scores rows with :meth:`exoqc.inference.scorer.
  Scorer.rows`, the local engine's step (SHAP reasons, applicability domain, release
  decision; :func:`explain_rows`), each model loaded once per Python worker.

The output schema derives from :data:`exoqc.contracts.SCORE_COLUMN_KINDS`.
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from exoqc.contracts import SCORE_COLUMN_KINDS, SCORE_COLUMNS, TARGETS
from exoqc.dataset import Dataset
from exoqc.features import build_features, feature_names
from exoqc.inference.spark.chunks import chunk_positions, marker_run_groups, n_chunks
from exoqc.inference.spark.models import ShippedModel, executor_scorer, quiet_mlflow
from exoqc.spec import Spec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType

INTERNAL_COLUMNS = ("position", "errors", "warnings")
"""Columns of the plan's rows besides the scores: the preparation's position in the
dataset and its messages (for the input problems report)."""


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
    """Scores rows from features and ``spark_udf`` predictions (:meth:`Scorer.rows`), with
    the internal columns; with ``with_explanations``, also the features and each model's
    SHAP values, base value and predicted class (what the driver's MLflow run needs)."""
    scorer = executor_scorer(models, n_reasons, spec or Spec())
    for batch in batches:
        features = batch[list(columns)].set_axis(pd.Index(batch["prep_id"], name="prep_id"))
        errors = {p: list(e) for p, e in zip(batch["prep_id"], batch["errors"], strict=True)
                  if len(e)}
        notes = {p: list(w) for p, w in zip(batch["prep_id"], batch["warnings"], strict=True)
                 if len(w)}
        predictions: dict[str, pd.DataFrame] = {
            target: batch[[c for c in batch.columns if c.startswith(f"{target}__")]]
            .rename(columns=lambda c: c.split("__", 1)[1])
            .set_axis(features.index)
            for target in TARGETS
        }
        scores, explained = scorer.rows(features, errors, notes, predictions)
        scores.insert(0, "position", batch["position"].to_numpy())
        scores["errors"] = batch["errors"].to_numpy()
        scores["warnings"] = batch["warnings"].to_numpy()
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


def spark_type(kind: str) -> DataType:
    """The Spark type of a kind of scores column (:data:`SCORE_COLUMN_KINDS`)."""
    from pyspark.sql.types import BooleanType, DoubleType, LongType, StringType

    return {"text": StringType(), "float": DoubleType(), "boolean": BooleanType(),
            "integer": LongType()}[kind]


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


def _score_schema(readouts: StructType, columns: tuple[str, ...],
                  with_explanations: bool) -> StructType:
    """The scores columns, the potency model's predicted readouts (their ``spark_udf``
    type), the internal columns and, with ``with_explanations``, the SHAP values and
    features."""
    from pyspark.sql.types import (
        ArrayType,
        DoubleType,
        LongType,
        StringType,
        StructField,
        StructType,
    )

    fields = [StructField("position", LongType(), False)]
    fields += [StructField(c, spark_type(SCORE_COLUMN_KINDS[c]), True) for c in SCORE_COLUMNS]
    fields += [f for f in readouts.fields if f.name.startswith("pred_")]
    fields += [StructField(c, ArrayType(StringType()), False) for c in ("errors", "warnings")]
    if with_explanations:
        for target in TARGETS:
            fields += [StructField(f"shap_{target}", ArrayType(DoubleType()), True),
                       StructField(f"shap_base_{target}", DoubleType(), True),
                       StructField(f"shap_class_{target}", LongType(), False)]
        fields += [StructField(c, DoubleType(), True) for c in columns]
    return StructType(fields)


def plan(spark: SparkSession, dataset: Dataset, models: dict[str, ShippedModel],
         n_reasons: int, with_explanations: bool, spec: Spec) -> DataFrame:
    """The lazy Spark plan of ``dataset``'s scores rows (with :data:`INTERNAL_COLUMNS`)."""
    import mlflow
    from pyspark.sql import functions as F
    from pyspark.sql.types import BinaryType, LongType, StructField, StructType

    columns = tuple(feature_names())
    ids = dataset.prep_ids
    chunks = chunk_positions(marker_run_groups(dataset),
                             n_chunks(len(ids), spark.sparkContext.defaultParallelism))
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
        with quiet_mlflow():
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
    return frame.mapInPandas(explain, _score_schema(prediction_types["potency"], columns,
                                                    with_explanations))
