"""The Spark engine of the scoring pipeline (``exoqc score --engine spark``).

The driver verifies and ships the models (:mod:`.models`) and builds the lazy plan
(:mod:`.plan`) over the validated dataset; the executors compute features, predictions and
scores rows; the driver collects them, with the features and SHAP values when the scoring
run is logged. The pipeline (:func:`exoqc.inference.pipeline.run`) does the rest, as for
the local engine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from exoqc.contracts import TARGETS
from exoqc.dataset import Dataset
from exoqc.features import feature_names
from exoqc.inference.pipeline import Scored
from exoqc.inference.spark.models import ShippedModel, ship_models
from exoqc.inference.spark.plan import INTERNAL_COLUMNS, plan

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from exoqc.inference.explain import Explained
    from exoqc.inference.score import ScoreSettings
    from exoqc.inference.scorer import Scorer


class SparkEngine:
    """Features, predictions and explanations on Spark's executors.

    ``spark``: the session to use; without one, :meth:`start` calls ``start_session``."""

    name = "spark"

    def __init__(self, spark: SparkSession | None,
                 start_session: Callable[[], SparkSession]) -> None:
        self.spark = spark
        self._start_session = start_session
        self._shipped: dict[str, ShippedModel] = {}

    def start(self) -> dict[str, float]:
        start = time.perf_counter()
        self.spark = self.spark or self._start_session()
        return {"start spark": time.perf_counter() - start}

    def load(self, settings: ScoreSettings) -> Scorer:
        """Both models, verified and shipped to the executors; the driver's copies score
        nothing but explain the scoring run."""
        from exoqc.inference.scorer import Scorer

        assert self.spark is not None, "start the engine first"
        self._shipped, verified = ship_models(self.spark, settings)
        return Scorer.from_models(verified, settings.n_reasons, settings.spec)

    def score(self, dataset: Dataset, scorer: Scorer, settings: ScoreSettings, *,
              explain: bool, progress: bool) -> Scored:
        """The executors' scores rows, collected in the dataset's order (``progress``:
        Spark shows its own)."""
        assert self.spark is not None, "start the engine first"
        start = time.perf_counter()
        # The features and SHAP values come back only for the MLflow run's figures and input.
        collected = (plan(self.spark, dataset, self._shipped, settings.n_reasons,
                          with_explanations=explain, spec=settings.spec)
                     .toArrow().to_pandas().sort_values("position", kind="stable")
                     .reset_index(drop=True))
        timings = {"features, predict and explain (spark)": time.perf_counter() - start}
        columns = feature_names()
        ids = pd.Index(collected["prep_id"], name="prep_id")
        features = (collected[columns].set_axis(ids) if explain
                    else pd.DataFrame(index=ids, columns=columns, dtype=float))
        internal = {*INTERNAL_COLUMNS, *columns}
        scores = collected.drop(columns=[c for c in collected
                                         if c in internal or c.startswith("shap_")])
        errors, warnings = ({p: [str(m) for m in messages]
                             for p, messages in zip(ids, collected[kind], strict=True)
                             if len(messages)} for kind in ("errors", "warnings"))
        explained = _explained(collected, features, scorer) if explain else {}
        return Scored(scores, features, explained, errors, warnings, timings)


def _explained(collected: pd.DataFrame, features: pd.DataFrame,
               scorer: Scorer) -> dict[str, Explained]:
    """The executors' SHAP values, in the form the local engine hands to the MLflow run."""
    from exoqc.inference.explain import Explained

    ok = (collected["status"] == "ok").to_numpy()
    explained: dict[str, Explained] = {}
    for target in TARGETS:
        names = list(scorer.models[target].predictor.spec.feature_names)
        values = collected.loc[ok, f"shap_{target}"]
        explained[target] = Explained(
            values=np.array(values.tolist(), dtype=np.float64).reshape(-1, len(names)),
            base_values=collected.loc[ok, f"shap_base_{target}"].to_numpy(np.float64),
            predicted=collected.loc[ok, f"shap_class_{target}"].to_numpy(np.int64),
            data=features.loc[ok, names],
        )
    return explained
