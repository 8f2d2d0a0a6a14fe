"""Markdown the model registry shows: what a model predicts, from which data, how well,
and (a lab's small data) which candidates competed and why one was chosen."""

from __future__ import annotations

import mlflow
import numpy as np

from exoqc.contracts import PRIMARY_METRIC, Target
from exoqc.dataset import Dataset
from exoqc.training.adapt import Selection
from exoqc.training.label_plan import LabelPlan
from exoqc.training.registry import ChampionDecision
from exoqc.training.run_log import metric_name
from exoqc.training.split import HeldoutSplit
from exoqc.ui import run_route


def describe_version(registered: str, version: str, target: Target, dataset: Dataset,
                     split: HeldoutSplit, test_metrics: dict[str, float],
                     baseline_metrics: dict[str, dict[str, float]],
                     readout_metrics: dict[str, float], run_id: str,
                     decision: ChampionDecision) -> None:
    """Descriptions the model registry page shows (Markdown): what the model predicts,
    from which data, how well on held-out preparations, where its inputs are explained."""
    client = mlflow.MlflowClient()
    what = {
        "purity": "Purity class of an exosome (small EV) preparation — **high / medium / "
                  "low** — from DLS, marker, particle/protein and cargo features.",
        "potency": "Likely functional potency of an exosome preparation — **potent / "
                   "subpotent**, with a calibrated probability — and, where trained, the "
                   "assay readouts (fold change vs control).",
    }[target]
    client.update_registered_model(
        registered, description=f"{what}\n\nInputs: the exoqc feature table (each "
        "version's description links its training run's `feature_catalog.csv`; the "
        "catalog is also in the project's docs/features.md). Trained with `exoqc train`; "
        "the alias 'champion' marks the version used for scoring. Each version's "
        "description gives its training data and held-out metrics.")
    metric = PRIMARY_METRIC[target]
    best = max(baseline_metrics, key=lambda n: baseline_metrics[n].get(metric, -np.inf))
    n_test = len(split.test)
    experiment_id = client.get_run(run_id).info.experiment_id
    lines = [
        what,
        "",
        f"**Training data**: `{dataset.root}` — {len(split.train)} preparations from "
        f"{split.groups.iloc[split.train].nunique()} batches. Held out by batch, never seen "
        f"in training or tuning: {n_test} preparations from "
        f"{split.groups.iloc[split.test].nunique()} batches.",
        "",
        f"**Held-out metrics** ({n_test} preparations; the champion is chosen on "
        f"{metric_name(metric)}):",
        "",
        f"| metric | this version | best baseline ({best.replace('_', ' ')}) |",
        "|---|---|---|",
        *(f"| {metric_name(k)} | {v:.3f} | "
          f"{baseline_metrics[best][k]:.3f} |" if k in baseline_metrics[best]
          else f"| {metric_name(k)} | {v:.3f} | |" for k, v in test_metrics.items()),
    ]
    r2 = {k.removeprefix("r2_"): v for k, v in readout_metrics.items() if k.startswith("r2_")}
    if r2:
        lines += [
            "",
            "**Assay readouts**, held out: R² of log2 fold change (0: no better than the "
            "training mean)",
            "",
            "| readout | R² |",
            "|---|---|",
            *(f"| {name.replace('_', ' ')} | {value:.3f} |" for name, value in r2.items()),
        ]
    catalog = "feature_catalog.csv"
    lines += [
        "",
        f"**Feature catalog**: [{catalog}]({run_route(experiment_id, run_id, catalog)}) of "
        f"the [training run]({run_route(experiment_id, run_id)}) (`runs:/{run_id}/{catalog}`):"
        " every input feature with its label, unit and meaning. SHAP figures of the "
        f"held-out preparations: [shap/]({run_route(experiment_id, run_id, 'shap')}).",
        "",
        f"**Champion**: {'promoted' if decision.promoted else 'not promoted'} — "
        f"{decision.reason}.",
    ]
    client.update_model_version(registered, version, description="\n".join(lines))


def describe_lab_version(target: str, dataset: Dataset, n: int, n_batches: int,
                         n_folds: int, cv_repeats: int, selection: Selection, metric: str,
                         prior_note: str, plan: LabelPlan, fallback_note: str, version: str,
                         decision: ChampionDecision, registered: str) -> str:
    """The registered version's description of a lab's model (and its run's note)."""
    low, high = selection.interval
    chosen = selection.chosen
    lines = [
        f"**{target.capitalize()} model of a lab's own data** (`exoqc train`), "
        f"`{dataset.root}`: {n} labelled preparations from {n_batches} batches.",
        "",
        f"**Validation**: {cv_repeats} × {n_folds}-fold cross-validation by batch "
        f"(whole batches validated together); the final model is fitted on all {n} "
        "preparations.",
        "",
        f"**Chosen**: `{chosen.name}`, {metric_name(metric)} **{chosen.mean:.3f}** "
        f"(95 % batch-bootstrap interval {low:.3f}–{high:.3f}); why: {selection.rule}.",
        "",
        f"**Prior**: {prior_note}.",
        "",
        f"| candidate | {metric_name(metric)} mean | min–max over repeats |",
        "|---|---|---|",
        *(f"| {s.name}{' (fallback)' if not s.is_booster else ''}"
          f"{' **chosen**' if s is chosen else ''} | {s.mean:.3f} | "
          f"{np.nanmin(s.per_repeat):.3f}–{np.nanmax(s.per_repeat):.3f} |"
          for s in selection.scores),
    ]
    if fallback_note:
        lines += ["", f"Note: {fallback_note}."]
    if plan.notes:
        lines += ["", "**Labels**: " + "; ".join(plan.notes) + "."]
    lines += ["", f"Registered as {registered} version {version}. **Champion**: "
              f"{'promoted' if decision.promoted else 'not promoted'} — {decision.reason}."]
    return "\n".join(lines)
