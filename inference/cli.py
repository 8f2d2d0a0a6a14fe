"""Terminal side of ``exoqc score``: progress, a summary table, where the results are."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from rich.console import Console
from rich.table import Table

from exoqc import contracts, tracking
from exoqc.contracts import PURITY_CLASSES
from exoqc.errors import ExoqcInputError
from exoqc.inference.release import SPEC_SOURCE
from exoqc.input_report import PROBLEMS_ARTIFACT, summary_lines
from exoqc.model.predictor import ModelIntegrityError
from exoqc.ui import browser_url, run_artifacts_url


def run_score(dataset_dir: Path, output: Path, purity_model: str, potency_model: str,
              score_function: Callable | None = None, spec_file: Path | None = None,
              assay_budget: int | None = None) -> int:
    """Score and print the outcome; returns the exit code: 1 when nothing was scored (the
    models or the folder unusable, or every preparation an error row, whose file is still
    written), else 0.

    ``score_function``: the engine, called like :func:`exoqc.inference.score.score`
    (default: that, the local engine; ``exoqc.inference.spark.score_folder`` for Spark).
    """
    from exoqc.inference.score import ScoreSettings, score
    from exoqc.spec import load_spec

    console = Console(stderr=True)
    try:
        settings = ScoreSettings(purity_model=purity_model, potency_model=potency_model,
                                 spec=load_spec(spec_file), assay_budget=assay_budget)
        with console.status("Scoring..."):
            result = (score_function or score)(dataset_dir, output, settings)
    except (ExoqcInputError, ModelIntegrityError) as error:
        message = str(error)
        if (spec_file is not None and isinstance(error, ExoqcInputError)
                and error.file == SPEC_SOURCE):
            message = f"{spec_file}: {error.detail}"
        console.print(f"exoqc score: {message}", style="red", markup=False, highlight=False,
                      soft_wrap=True)
        return 1
    except MlflowException as error:
        console.print(f"[red]exoqc score: cannot load the models ({error.message}). Train "
                      "them first with 'exoqc train', or name others with --purity-model / "
                      "--potency-model.[/red]")
        return 1

    scores = result.scores
    ok = scores[scores["status"] == "ok"]
    table = Table(title=f"exoqc score — {dataset_dir}")
    table.add_column("")
    table.add_column("preparations", justify="right")
    table.add_row("scored", str(len(ok)))
    absent = set(result.absent_models)
    for cls in PURITY_CLASSES:
        table.add_row(f"  purity {cls}", "no model" if "purity" in absent
                      else str(int((ok["purity_class"] == cls).sum())))
    table.add_row("  likely potent", "no model" if "potency" in absent
                  else str(int((ok["potency_class"] == "potent").sum())))
    table.add_row("  outside training domain", str(int((~ok["in_domain"].astype(bool)).sum())))
    for decision in ("release", "reject", "assay"):
        table.add_row(f"  decision {decision}", str(int((ok["decision"] == decision).sum())))
    table.add_row("  assays planned", str(int(ok["assay_priority"].notna().sum())))
    n_thin = int((scores["status"] == "insufficient").sum())
    table.add_row("not enough data for a call", str(n_thin))
    table.add_row("input errors", str(int((scores["status"] == "error").sum())))
    out = Console()
    out.print(table)
    flagged = ok[~ok["in_domain"].astype(bool)]
    if len(flagged):
        out.print(f"[bold]Outside the training domain[/bold] ({len(flagged)}): treat these "
                  "scores with care")
        for _, row in flagged.head(10).iterrows():
            out.print(f"  {row['prep_id']}: {row['domain_note']}", markup=False)
        if len(flagged) > 10:
            out.print(f"  ... and {len(flagged) - 10} more (domain_note in the scores file)")
    errors = scores[scores["status"] == "error"]
    if len(errors):
        out.print(f"[bold]Not scored: input errors[/bold] ({len(errors)})")
        for _, row in errors.head(10).iterrows():
            out.print(f"  {row['prep_id']}: {row['error']}", markup=False)
        if len(errors) > 10:
            out.print(f"  ... and {len(errors) - 10} more (error column of the scores file)")
    for name in result.absent_models:
        out.print(f"{name}: not scored, no {contracts.REGISTERED_MODELS[name]} model is "
                  f"registered (train it with 'exoqc train --target {name}')", soft_wrap=True)
    if n_thin:
        out.print(f"[bold]No call: not enough data[/bold] ({n_thin}): status 'insufficient'; "
                  "each needs at least one of DLS, markers, NTA or BCA")
    where = f"the scoring run's {PROBLEMS_ARTIFACT}" if result.run_id else None
    for line in summary_lines(result.input_problems, where):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    out.print(f"Scores: {result.output}")
    if result.run_id:
        experiment_id = MlflowClient().get_run(result.run_id).info.experiment_id
        out.print(f"MLflow run: {result.run_id} in experiment "
                  f"{contracts.EXPERIMENTS['scoring']} ({tracking.tracking_uri()})")
        url = run_artifacts_url(browser_url("127.0.0.1", 5000), experiment_id, result.run_id)
        out.print(f"  why each preparation was judged so: run 'exoqc ui', then open {url}")
    if ok.empty:
        console.print("[red]exoqc score: no preparation could be scored; the error column of "
                      "the scores file says why for each[/red]")
        return 1
    return 0
