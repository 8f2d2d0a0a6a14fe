"""Terminal side of ``exoqc train``: progress bars, a results table, clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, cast

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from exoqc import contracts, tracking
from exoqc.contracts import PRIMARY_METRIC, Target
from exoqc.errors import ExoqcInputError
from exoqc.input_report import PROBLEMS_ARTIFACT, summary_lines


def run_train(dataset_dir: Path | None, target: Literal["purity", "potency", "all"],
              n_trials: int, seed: int,
              prior: bool = True, validation: str = "auto") -> int:
    """Train and print the outcome; returns the exit code."""
    from exoqc.training.job import TrainSettings, reference_cohort, train

    console = Console(stderr=True)
    try:
        if dataset_dir is None:
            with console.status("Simulating the default reference cohort (first run only)..."):
                dataset_dir = reference_cohort()
            console.print(f"Reference cohort: {dataset_dir}")
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=True) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(step: str, done: int, total: int) -> None:
                if step not in tasks:
                    tasks[step] = bar.add_task(step, total=total)
                bar.update(tasks[step], completed=done, total=total)

            notes: list[str] = []
            results = train(dataset_dir, target=target,
                            settings=TrainSettings(n_trials=n_trials, seed=seed, prior=prior,
                                                   validation=validation),
                            progress=progress, notes=notes)
    except ExoqcInputError as error:  # a bug (any other error) keeps its traceback
        console.print(f"exoqc train: {error}", style="red", markup=False, highlight=False,
                      soft_wrap=True)
        return 1
    for note in notes:
        console.print(f"note: {note}", highlight=False)

    table = Table(title=f"exoqc train — {dataset_dir}")
    for column in ("model", "validation", "score", "best baseline", "margin", "version",
                   "champion"):
        table.add_column(column)
    for result in results.values():
        metric = PRIMARY_METRIC[cast(Target, result.target)]
        best = max(result.baseline_metrics,
                   key=lambda n: result.baseline_metrics[n].get(metric, float("-inf")))
        base = result.baseline_metrics[best].get(metric, float("nan"))
        value = result.test_metrics.get(metric, float("nan"))
        score = f"{metric} {value:.3f}"
        if result.interval is not None:
            score += f" [{result.interval[0]:.3f}, {result.interval[1]:.3f}]"
        model = contracts.REGISTERED_MODELS[cast(Target, result.target)]
        table.add_row(
            model if result.chosen == "xgboost" else f"{model} ({result.chosen})",
            result.validation,
            score,
            f"{best} {base:.3f}",
            f"{value - base:+.3f}",
            result.model_version,
            "promoted" if result.champion.promoted else "kept previous",
        )
    Console().print(table)
    if any(r.interval is not None for r in results.values()):
        Console().print("score: mean of the out-of-fold metric over the CV repeats [95 % "
                        "batch-bootstrap interval]; baselines on the same folds",
                        highlight=False)
    for result in results.values():
        verdict = "promoted" if result.champion.promoted else "kept previous"
        Console().print(f"{result.target}: {verdict} ({result.champion.reason}); run "
                        f"{result.run_id}", markup=False, highlight=False)
    problems = next(iter(results.values())).input_problems
    for line in summary_lines(problems, f"each run's {PROBLEMS_ARTIFACT}"):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    Console().print(f"MLflow store: {tracking.tracking_uri()}  (browse: exoqc ui)")
    return 0
