"""``exoqc score``: new preparations in, one scores row per preparation out.

Stages (timed, for the benchmark): read and validate the folder, build features (DLS in
parallel), predict with both models, SHAP reasons and applicability domain, write the
scores file atomically, then log the scoring run to MLflow (input dataset, scores file,
per-preparation waterfall figures, batch summary, HTML report).

Every input preparation gets exactly one row. A preparation whose input is bad gets
``status=error`` and the message; one with too little data for a call (none of DLS,
markers, NTA, BCA) gets ``status=insufficient`` and no class; the rest is scored.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from pydantic import BaseModel, ConfigDict, Field

from exoqc import input_report
from exoqc.config import default_n_jobs
from exoqc.contracts import DEFAULT_MODEL_URIS, RELEASE_COLUMNS, SCORE_COLUMNS
from exoqc.dataset import duplicated_rows, load_dataset
from exoqc.errors import ExoqcInputError
from exoqc.features import build_features
from exoqc.features.groups import INSUFFICIENT_MESSAGE, has_enough_data
from exoqc.inference.explain import Explained, ModelExplainer
from exoqc.inference.release import assay_priority, check_limits, decide
from exoqc.model.load import LoadedModel, load_model
from exoqc.output import check_writable_path, write_atomically
from exoqc.spec import Spec

INSUFFICIENT = "insufficient"
"""Status of a preparation with too little data for a call (see docs/scoring.md)."""



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


class Scorer:
    """The models and their explainers, loaded once, scoring feature rows.

    A model may be absent (``None``: none registered yet); its columns are then empty and
    :attr:`absent` names it.
    """

    def __init__(self, purity: LoadedModel | None, potency: LoadedModel | None,
                 n_reasons: int = 3, spec: Spec | None = None) -> None:
        given = {"purity": purity, "potency": potency}
        self.models = {name: m for name, m in given.items() if m is not None}
        if not self.models:
            raise ValueError("Scorer needs at least one model")
        self.absent = [name for name, m in given.items() if m is None]
        self.explainers = {name: ModelExplainer(m.predictor) for name, m in self.models.items()}
        self.n_reasons = n_reasons
        self.spec = spec or Spec()
        check_limits(self.spec, {name: m.predictor.spec for name, m in self.models.items()})

    @classmethod
    def load(cls, settings: ScoreSettings) -> Scorer:
        """Both models; a default one (``models:/exoqc-*@champion``) not registered is
        absent when the other loads. Each model must serve the target it is named for."""
        loaded: dict[str, LoadedModel] = {}
        not_found: list[MlflowException] = []
        for target, uri in (("purity", settings.purity_model),
                            ("potency", settings.potency_model)):
            try:
                loaded[target] = load_for_target(uri, target)
            except MlflowException as error:
                if (uri != DEFAULT_MODEL_URIS[target]
                        or error.error_code != "RESOURCE_DOES_NOT_EXIST"):
                    raise
                not_found.append(error)
        if not loaded:
            raise not_found[0]
        return cls(loaded.get("purity"), loaded.get("potency"), settings.n_reasons,
                   settings.spec)

    def score_features(
        self,
        features: pd.DataFrame,
        errors: dict[str, list[str]],
        warnings: dict[str, list[str]],
        predictions: dict[str, pd.DataFrame] | None = None,
    ) -> tuple[pd.DataFrame, dict[str, Explained]]:
        """Scores in ``features``' row order (index prep_id), and the SHAP explanations of
        the rows that were scored (same order as the ``ok`` rows).

        ``predictions``: each model's ``predict_frame`` output (index prep_id) from an
        engine that predicted elsewhere (Spark's ``mlflow.pyfunc.spark_udf``); by default
        the models predict here."""
        ids = features.index.astype(str)
        failed = ids.isin(list(errors))
        # No call without evidence: a row with status 'insufficient' and no class.
        thin = ~failed & ~has_enough_data(features).to_numpy()
        ok = features[~failed & ~thin]
        out = pd.DataFrame(index=features.index)
        out["prep_id"] = ids
        out["status"] = np.select([failed, thin], ["error", INSUFFICIENT], "ok")
        out["error"] = ["; ".join(errors.get(p, [])) for p in ids]
        out.loc[thin, "error"] = INSUFFICIENT_MESSAGE
        explained: dict[str, Explained] = {}
        words: dict[str, list[str]] = {}
        probabilities: dict[str, np.ndarray] = {}
        for name, model in self.models.items():
            predicted = (model.predictor.predict_frame(ok) if predictions is None
                         else predictions[name].loc[ok.index])
            probabilities[name] = predicted[model.predictor.spec.probability_columns].to_numpy()
            positions = probabilities[name].argmax(1)
            explained[name] = self.explainers[name].explain(ok, positions)
            words[name] = self.explainers[name].reasons(explained[name], self.n_reasons)
            if name == "purity":
                out["purity_class"] = predicted["label"]
                for cls in model.predictor.spec.classes:
                    out[f"p_purity_{cls}"] = predicted[f"p_{cls}"]
            else:
                out["potency_class"] = predicted["label"]
                out["p_potent"] = predicted["p_potent"]
                for column in predicted.columns:
                    if column.startswith("pred_"):
                        out[column] = predicted[column]
        reasons = pd.Series(
            [" | ".join(f"{name}: {text}" for name, text in zip(words, row, strict=True))
             for row in zip(*words.values(), strict=True)],
            index=ok.index, dtype=object,
        )
        domain = next(iter(self.explainers.values())).domain.check(ok)
        out["in_domain"] = domain["in_domain"].astype("boolean")
        notes = domain["domain_note"].astype(object).reindex(features.index).fillna("")
        input_notes = pd.Series(["; ".join(warnings.get(p, [])) for p in ids],
                                index=features.index)
        out["domain_note"] = _join(notes, input_notes)
        out["reasons"] = reasons.reindex(features.index).fillna("")
        for name in ("purity", "potency"):
            out[f"{name}_model"] = (self.models[name].label if name in self.models
                                    else "absent: no model registered")
        # spec limits look at features and predictions alike
        attributes = pd.concat([ok, out.loc[ok.index]], axis=1) if self.spec.limits else ok
        release = decide({n: m.predictor.conformal_probabilities(ok)
                          for n, m in self.models.items()},
                         {n: m.predictor.spec for n, m in self.models.items()},
                         out.loc[ok.index, "in_domain"], attributes, self.spec)
        for column in RELEASE_COLUMNS[:-1]:
            out[column] = release[column].astype(object).reindex(features.index).fillna("")
        out["assay_priority"] = pd.Series(pd.NA, index=features.index, dtype="Int64")
        extra = [c for c in out.columns if c not in SCORE_COLUMNS]
        out = out.reindex(columns=SCORE_COLUMNS + extra)
        return out.reset_index(drop=True), explained


def _join(first: pd.Series, second: pd.Series) -> pd.Series:
    both = (first != "") & (second != "")
    return (first + np.where(both, "; ", "") + second).astype(str)


@dataclass
class ScoreResult:
    scores: pd.DataFrame
    output: Path
    run_id: str | None
    timings_s: dict[str, float] = field(default_factory=dict)
    input_problems: list[input_report.Reported] = field(default_factory=list)
    absent_models: list[str] = field(default_factory=list)

    @property
    def n_ok(self) -> int:
        return int((self.scores["status"] == "ok").sum())


ProgressCallback = Callable[[str, int, int], None]


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
    """
    from exoqc import tracking

    settings = settings or ScoreSettings()
    output = scores_file_path(output)
    timer = StageTimer()
    tracking.configure()
    scorer = scorer or Scorer.load(settings)
    timer.lap("load models")
    dataset = load_dataset(dataset_dir, errors="collect")
    timer.lap("read and validate")
    table = build_features(dataset, n_jobs=settings.n_jobs,
                           progress=progress is not None)
    timer.seconds.update({f"features: {part}": t for part, t in table.timings_s.items()})
    problems = input_report.collect(table.errors, table.warnings,
                                    input_report.general_warnings(dataset))
    timer.restart()
    scores, explained = scorer.score_features(table.frame, table.errors, table.warnings)
    scores = with_duplicated_rows(scores, duplicated_rows(dataset))
    scores["assay_priority"] = assay_priority(scores, scorer.spec, settings.assay_budget)
    timer.lap("predict and explain")
    write_atomically(scores, output)
    timer.lap("write scores")
    run_id = None
    if settings.log_to_mlflow:
        from exoqc.inference.report import log_scoring_run

        run_id = log_scoring_run(dataset, table.frame, scores, explained, scorer, output,
                                 settings.max_figures)
        input_report.log_problems(problems, run_id)
        timer.lap("mlflow run")
    return ScoreResult(scores, output, run_id, timer.seconds, problems, scorer.absent)


def with_duplicated_rows(scores: pd.DataFrame, duplicates) -> pd.DataFrame:
    """One scores row per input row: an error row for each row of preps.csv whose prep_id
    was used before, right after the rows of that prep_id."""
    if not duplicates:
        return scores
    extra = pd.DataFrame({"prep_id": [p.prep_id for p in duplicates], "status": "error",
                          "error": [str(p) for p in duplicates]})
    for column in ("purity_model", "potency_model"):
        extra[column] = scores[column].iloc[0] if len(scores) else ""
    position = {p: i for i, p in enumerate(scores["prep_id"])}
    order = np.concatenate([np.arange(len(scores), dtype=float),
                            [position.get(p, len(scores)) + 0.5 for p in extra["prep_id"]]])
    both = pd.concat([scores, extra.reindex(columns=scores.columns)], ignore_index=True)
    return both.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)


def load_for_target(uri: str, target: str) -> LoadedModel:
    """The model at ``uri``, refused unless its own spec says it serves ``target`` (a
    potency model given as the purity model would fill purity_class with potency labels)."""
    model = load_model(uri)
    served = model.predictor.spec.target
    if served != target:
        raise ExoqcInputError(uri, f"is a {served} model: expected a {target} model for "
                              f"--{target}-model")
    return model


def scores_file_path(output: str | Path) -> Path:
    """``output`` as a scores file path; refused unless it ends in .csv or .parquet."""
    path = Path(output)
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise ExoqcInputError(path, "expected a scores file name ending in .csv or .parquet")
    check_writable_path(path)
    return path


class StageTimer:
    """Wall-clock seconds per stage of a scoring call; a stage timed twice adds up."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._since = time.perf_counter()

    def lap(self, stage: str) -> None:
        """Charge the time since the previous lap (or restart) to ``stage``."""
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self._since
        self._since = now

    def restart(self) -> None:
        """Begin the next stage now: the time since the last lap is accounted elsewhere."""
        self._since = time.perf_counter()
