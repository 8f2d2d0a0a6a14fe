"""The one scoring pipeline: load → validate → features → predict → explain → write → log.

:func:`run` does every step that does not depend on where the work runs: the scores file
path, the timing of stages, tracking, reading and validating the folder, one row per input
record (a prep_id used twice), the assay plan, writing the scores file atomically and the
MLflow scoring run. An :class:`Engine` does the rest, in its own place: it loads the
models (:meth:`Engine.load`) and turns the validated dataset into feature rows, predictions,
explanations and scores rows (:meth:`Engine.score`). The local engine
(:mod:`exoqc.inference.score`) runs them in this process, the Spark engine
(:mod:`exoqc.inference.spark`) on a cluster's executors; both fill the rows with
:meth:`exoqc.inference.scorer.Scorer.rows`, so a score column is written once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from exoqc import input_report
from exoqc.contracts import SCORE_COLUMN_KINDS, Target
from exoqc.dataset import Dataset, duplicated_rows, load_dataset
from exoqc.errors import ExoqcInputError, Problem
from exoqc.inference.release import assay_priority
from exoqc.output import check_writable_path, write_atomically

if TYPE_CHECKING:
    from exoqc.inference.explain import Explained
    from exoqc.inference.score import ScoreSettings
    from exoqc.inference.scorer import Scorer

ProgressCallback = Callable[[str, int, int], None]


@dataclass
class Scored:
    """What an engine hands back: ``scores`` (one row per preparation of the dataset, in
    its order; :data:`~exoqc.contracts.SCORE_COLUMNS`, then the predicted readouts),
    the ``features`` (index prep_id), each scored row's SHAP values (``explained``, only
    when asked for), each preparation's ``errors`` and ``warnings`` (the loader's and the
    feature table's), and the seconds of the engine's own stages."""

    scores: pd.DataFrame
    features: pd.DataFrame
    explained: dict[str, Explained]
    errors: dict[str, list[str]]
    warnings: dict[str, list[str]]
    timings_s: dict[str, float] = field(default_factory=dict)


class Engine(Protocol):
    """Where features, predictions and explanations are computed.

    ``name``: tags the MLflow run (``exoqc.engine``). :meth:`start` readies the engine
    (a Spark session) and returns the seconds it spent by stage; :meth:`load` returns the
    verified models as a :class:`~exoqc.inference.scorer.Scorer` (the scoring run logs
    it, the local engine scores with it); :meth:`score` computes the :class:`Scored` of a
    validated dataset.
    """

    name: str

    def start(self) -> dict[str, float]: ...

    def load(self, settings: ScoreSettings) -> Scorer: ...

    def score(self, dataset: Dataset, scorer: Scorer, settings: ScoreSettings, *,
              explain: bool, progress: bool) -> Scored: ...


@dataclass
class ScoreResult:
    scores: pd.DataFrame
    output: Path
    run_id: str | None
    timings_s: dict[str, float] = field(default_factory=dict)
    input_problems: list[input_report.Reported] = field(default_factory=list)
    absent_models: list[Target] = field(default_factory=list)

    @property
    def n_ok(self) -> int:
        return int((self.scores["status"] == "ok").sum())


def run(engine: Engine, dataset_dir: str | Path, output: str | Path,
        settings: ScoreSettings, progress: bool = False) -> ScoreResult:
    """Score a prep dataset folder with ``engine`` and write the scores file (``.csv`` or
    ``.parquet``); log the scoring run unless ``settings.log_to_mlflow`` is off.

    Raises only when nothing can be scored (no readable preps.csv, models not loadable,
    an output path exoqc cannot write); a bad preparation becomes an error row.
    """
    from exoqc import tracking

    output = scores_file_path(output)
    timer = StageTimer()
    tracking.configure()
    timer.seconds.update(engine.start())
    timer.restart()
    scorer = engine.load(settings)
    timer.lap("load models")
    dataset = load_dataset(dataset_dir, errors="collect")
    timer.lap("read and validate")
    scored = engine.score(dataset, scorer, settings, explain=settings.log_to_mlflow,
                          progress=progress)
    timer.seconds.update(scored.timings_s)
    problems = input_report.collect(scored.errors, scored.warnings,
                                    input_report.general_warnings(dataset))
    timer.restart()
    scores = with_duplicated_rows(scored.scores, duplicated_rows(dataset))
    scores["assay_priority"] = assay_priority(scores, scorer.spec, settings.assay_budget)
    scores = scores.astype(score_dtypes(scores.columns))
    write_atomically(scores, output)
    timer.lap("write scores")
    run_id = None
    if settings.log_to_mlflow:
        from exoqc.inference.report import log_scoring_run

        run_id = log_scoring_run(dataset, scored.features, scores, scored.explained, scorer,
                                 output, settings.max_figures, engine=engine.name)
        input_report.log_problems(problems, run_id)
        timer.lap("mlflow run")
    return ScoreResult(scores, output, run_id, timer.seconds, problems, scorer.absent)


PANDAS_DTYPES = {"float": "float64", "boolean": "boolean", "integer": "Int64"}
"""The pandas dtype of each kind of scores column but text."""


def score_dtypes(columns) -> dict[str, str]:
    """The dtype of each scores column of ``columns`` that is not text
    (:data:`~exoqc.contracts.SCORE_COLUMN_KINDS`; the predicted readouts are floats)."""
    kinds = {c: SCORE_COLUMN_KINDS.get(c, "float" if c.startswith("pred_") else "text")
             for c in columns}
    return {c: PANDAS_DTYPES[kind] for c, kind in kinds.items() if kind != "text"}


def with_duplicated_rows(scores: pd.DataFrame, duplicates: list[Problem]) -> pd.DataFrame:
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
