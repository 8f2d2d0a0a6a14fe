"""``exoqc score``: new preparations in, one scores row per preparation out.

Stages (timed, for the benchmark): read and validate the folder, build features (DLS in
parallel), predict with both models, SHAP reasons and applicability domain, write the
scores file atomically, then log the scoring run to MLflow (input dataset, scores file,
per-preparation waterfall figures, batch summary, HTML report).

Every input preparation gets exactly one row. A preparation whose input is bad gets
``status=error`` and the message; one with too little data for a call (none of DLS,
markers, NTA, BCA) gets ``status=insufficient`` and no class; the rest is scored.

The steps are :func:`exoqc.inference.pipeline.run`'s; this module is the local engine,
which computes features, predictions and explanations in this process.
"""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from exoqc.config import default_n_jobs
from exoqc.contracts import DEFAULT_MODEL_URIS
from exoqc.dataset import Dataset
from exoqc.features import build_features
from exoqc.inference import pipeline
from exoqc.inference.pipeline import ProgressCallback, Scored, ScoreResult
from exoqc.inference.scorer import Scorer
from exoqc.spec import Spec

__all__ = ["LocalEngine", "ScoreResult", "ScoreSettings", "Scorer", "score"]


class ScoreSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    purity_model: str = DEFAULT_MODEL_URIS["purity"]
    potency_model: str = DEFAULT_MODEL_URIS["potency"]
    n_jobs: int = Field(default_factory=default_n_jobs, ge=1)
    n_reasons: int = Field(3, ge=1, le=10)
    max_figures: int = Field(20, ge=0, description="preparations with waterfall figures")
    log_to_mlflow: bool = True
    spec: Spec = Field(default_factory=Spec, description="release specification (--spec)")
    assay_budget: int | None = Field(None, ge=0, description="assays to plan (--assay-budget)")


class LocalEngine:
    """Features (the DLS analysis in a process pool of ``settings.n_jobs``), predictions
    and explanations in this process; ``scorer``: models already loaded."""

    name = "local"

    def __init__(self, scorer: Scorer | None = None) -> None:
        self.scorer = scorer

    def start(self) -> dict[str, float]:
        """Nothing to start."""
        return {}

    def load(self, settings: ScoreSettings) -> Scorer:
        return self.scorer or Scorer.load(settings)

    def score(self, dataset: Dataset, scorer: Scorer, settings: ScoreSettings, *,
              explain: bool, progress: bool) -> Scored:
        """The scores of ``dataset``; the SHAP values come with them whatever ``explain``
        says (the reasons need them)."""
        table = build_features(dataset, n_jobs=settings.n_jobs, progress=progress)
        start = time.perf_counter()
        scores, explained = scorer.score_features(table.frame, table.errors, table.warnings)
        timings = {f"features: {part}": t for part, t in table.timings_s.items()}
        timings["predict and explain"] = time.perf_counter() - start
        return Scored(scores, table.frame, explained, table.errors, table.warnings, timings)


def score(
    dataset_dir: str | Path,
    output: str | Path,
    settings: ScoreSettings | None = None,
    progress: ProgressCallback | None = None,
    scorer: Scorer | None = None,
) -> ScoreResult:
    """Score a prep dataset folder and write the scores file (``.csv`` or ``.parquet``).

    Raises only when nothing can be scored (no readable preps.csv, models not loadable,
    an output path exoqc cannot write); a bad preparation becomes an error row.
    ``progress``: show the DLS analysis' progress bar.
    """
    return pipeline.run(LocalEngine(scorer), dataset_dir, output, settings or ScoreSettings(),
                        progress=progress is not None)
