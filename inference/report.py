"""The scoring run in MLflow: what a scientist opens to see why each prep was judged so.

Artifacts of a run in experiment ``exoqc-scoring``:

- the scores file as written;
- ``waterfalls/<prep_id>_purity.png`` and ``..._potency.png``: per-preparation SHAP
  waterfalls, for at most ``max_figures`` preparations, those that most need a look first
  (low, then medium purity; outside the training domain; least confident);
- ``batch_summary.png``: class counts, potency probabilities, what drove the batch;
- ``report.html``: a short self-contained report (renders in MLflow's artifact viewer).
"""

from __future__ import annotations

import base64
import html
import io
import re
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from exoqc import __version__, tracking
from exoqc.dataset import Dataset
from exoqc.features import label_of
from exoqc.features.markers import misev_report
from exoqc.inference.explain import Explained

PURITY_ORDER = {"low": 0, "medium": 1, "high": 2}
MAX_REPORT_ROWS = 500


def figure_name(prep_id: str, target: str) -> str:
    """Artifact file name of a preparation's waterfall (prep ids may hold any character)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", prep_id).strip("._") or "prep"
    return f"waterfalls/{safe}_{target}.png"


def figure_preps(scores: pd.DataFrame, max_figures: int) -> list[str]:
    """Which preparations get waterfall figures: those that most need a look, first."""
    ok = scores[scores["status"] == "ok"]
    confidence = ok[["p_purity_high", "p_purity_medium", "p_purity_low"]].max(axis=1)
    order = pd.DataFrame({
        "purity": ok["purity_class"].map(PURITY_ORDER),
        "in_domain": ok["in_domain"].astype(bool),
        "confidence": confidence,
    }).sort_values(["purity", "in_domain", "confidence"], kind="stable")
    return ok.loc[order.index[:max_figures], "prep_id"].tolist()


def batch_summary_figure(scores: pd.DataFrame, explained: dict[str, Explained]) -> Figure:
    ok = scores[scores["status"] == "ok"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    counts = ok["purity_class"].value_counts().reindex(["high", "medium", "low"], fill_value=0)
    axes[0].bar(counts.index, counts.to_numpy(), color=["#2e7d32", "#f9a825", "#c62828"])
    axes[0].set_title(f"Purity class ({len(ok)} scored, "
                      f"{int((scores['status'] == 'error').sum())} input errors)", fontsize=10)
    axes[0].set_ylabel("preparations")
    axes[1].hist(ok["p_potent"].astype(float), bins=np.linspace(0, 1, 21), color="#1565c0")
    axes[1].axvline(0.5, color="grey", linestyle="--", linewidth=1)
    axes[1].set_title("Probability of functional potency", fontsize=10)
    axes[1].set_xlabel("P(potent)")
    purity = explained["purity"]
    if len(purity.values):
        mean_abs = pd.Series(np.abs(purity.values).mean(axis=0),
                             index=[label_of(c) for c in purity.data.columns])
        top = mean_abs.sort_values().tail(10)
        axes[2].barh(top.index, top.to_numpy(), color="#6a1b9a")
    axes[2].set_title("What drove the purity calls in this batch\n(mean |SHAP|, log-odds)",
                      fontsize=10)
    fig.suptitle("exoqc scoring — batch summary", fontsize=12)
    fig.tight_layout()
    return fig


def _png_data_uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def html_report(dataset: Dataset, scores: pd.DataFrame, summary_png: str,
                figures: dict[str, list[str]]) -> str:
    """A short HTML page: the batch at a glance, then one line per preparation."""
    misev = misev_report(dataset).reindex(scores["prep_id"])
    table = scores[["prep_id", "status", "purity_class", "p_purity_high", "potency_class",
                    "p_potent", "in_domain", "domain_note", "reasons", "error"]].copy()
    table.insert(6, "MISEV2018 minimum", misev["summary"].to_numpy()
                 if "summary" in misev else "")
    table["figures"] = [", ".join(figures.get(p, [])) for p in table["prep_id"]]
    shown = table.head(MAX_REPORT_ROWS)
    n_error = int((scores["status"] == "error").sum())
    n_ok = len(scores) - n_error
    ok = scores[scores["status"] == "ok"]
    counts = ok["purity_class"].value_counts()
    flagged = ok[~ok["in_domain"].astype(bool)]
    lines = [
        "<!doctype html><html><head><meta charset='utf-8'><title>exoqc scoring report</title>",
        "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;"
        "font-size:12px}td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}"
        "th{background:#eee}</style></head><body>",
        "<h1>exoqc scoring report</h1>",
        f"<p>Dataset: {html.escape(str(dataset.root))}<br>Models: "
        f"{html.escape(str(scores['purity_model'].iloc[0]))}, "
        f"{html.escape(str(scores['potency_model'].iloc[0]))}<br>exoqc {__version__}</p>",
        f"<p><b>{len(scores)}</b> preparations: <b>{n_ok}</b> scored, <b>{n_error}</b> with "
        f"input errors. Purity: high {counts.get('high', 0)}, medium "
        f"{counts.get('medium', 0)}, low {counts.get('low', 0)}. Likely potent: "
        f"{int((ok['potency_class'] == 'potent').sum())}. Outside the training domain: "
        f"{len(flagged)}.</p>",
        f"<img alt='batch summary' style='max-width:100%' src='{summary_png}'>",
        "<h2>Preparations</h2>",
        "<p>Reasons are the largest SHAP contributions toward the predicted class. "
        "Waterfall figures are in the run's <code>waterfalls/</code> folder.</p>",
        shown.to_html(index=False, escape=True, na_rep="", float_format=lambda v: f"{v:.3f}"),
    ]
    if len(table) > MAX_REPORT_ROWS:
        lines.append(f"<p>First {MAX_REPORT_ROWS} of {len(table)} preparations shown; all are "
                     "in the scores file.</p>")
    lines.append("</body></html>")
    return "\n".join(lines)


def log_scoring_run(dataset: Dataset, features: pd.DataFrame, scores: pd.DataFrame,
                    explained: dict[str, Explained], scorer, output: Path,
                    max_figures: int) -> str:
    """Log the scoring run; returns its run id."""
    experiment_id = tracking.experiment_id(tracking.EXPERIMENTS["scoring"])
    ok_rows = {p: i for i, p in enumerate(scores.loc[scores["status"] == "ok", "prep_id"])}
    with mlflow.start_run(experiment_id=experiment_id,
                          run_name=f"score-{Path(dataset.root).name}") as run:
        mlflow.set_tags({"exoqc.version": __version__, "exoqc.dataset": str(dataset.root)})
        mlflow.log_params({
            "n_preps": len(scores), "purity_model": scores["purity_model"].iloc[0],
            "potency_model": scores["potency_model"].iloc[0], "scores_file": str(output),
        })
        ok = scores[scores["status"] == "ok"]
        metrics = {
            "n_ok": float(len(ok)), "n_error": float(len(scores) - len(ok)),
            "n_out_of_domain": float((~ok["in_domain"].astype(bool)).sum()),
            "n_potent": float((ok["potency_class"] == "potent").sum()),
        }
        metrics.update({f"n_purity_{c}": float((ok["purity_class"] == c).sum())
                        for c in ("high", "medium", "low")})
        mlflow.log_metrics(metrics)
        source = mlflow.data.from_pandas(features.reset_index(), source=str(dataset.root),
                                         name=f"{Path(dataset.root).name}-features")
        mlflow.log_input(source, context="scoring")
        mlflow.log_artifact(str(output))

        figures: dict[str, list[str]] = {}
        for prep_id in figure_preps(scores, max_figures):
            row = ok_rows[prep_id]
            for target in ("purity", "potency"):
                fig = scorer.explainers[target].waterfall(explained[target], row, prep_id)
                name = figure_name(prep_id, target)
                mlflow.log_figure(fig, name)
                plt.close(fig)
                figures.setdefault(prep_id, []).append(name)
        summary = batch_summary_figure(scores, explained)
        mlflow.log_figure(summary, "batch_summary.png")
        summary_png = _png_data_uri(summary)
        plt.close(summary)
        mlflow.log_text(html_report(dataset, scores, summary_png, figures), "report.html")
        return run.info.run_id
