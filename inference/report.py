"""The scoring run in MLflow: what a scientist opens to see why each prep was judged so.

Artifacts of a run in experiment ``exoqc-scoring``:

- the scores file as written;
- ``waterfalls/<prep_id>_purity.png`` and ``..._potency.png``: per-preparation SHAP
  waterfalls, for at most ``max_figures`` preparations, those that most need a look first
  (low, then medium purity; outside the training domain; least confident);
- ``batch_summary.png``: class counts, potency probabilities, what drove the batch;
- ``report.html``: a short self-contained report (renders in MLflow's artifact viewer),
  with each preparation's prediction sets and release decision with its reason.

Metrics include the decision counts and, per model and class, the leave-one-batch-out coverage
of the conformal calibration preparations at the run's α (``conformal_calibration_
coverage_<target>_<class>``); parameters the release specification.
"""

from __future__ import annotations

import base64
import html
import io
import re
from pathlib import Path
from typing import Any, cast

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from exoqc import __version__, contracts, tracking
from exoqc.contracts import PURITY_CLASSES
from exoqc.dataset import Dataset
from exoqc.features import label_of
from exoqc.features.markers import misev_report
from exoqc.inference.explain import Explained
from exoqc.model.conformal import ConformalCalibration
from exoqc.model.values import CLASS_COLOURS, PNG_SAVE_KWARGS, plot_label

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
    """The batch at a glance: purity classes, P(potent), what drove the purity calls."""
    ok = scores[scores["status"] == "ok"]
    n_error = int((scores["status"] == "error").sum())
    fig = plt.figure(figsize=(8.5, 8))
    grid = fig.add_gridspec(2, 2, height_ratios=(1, 1.25))
    counts_ax, potency_ax = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    drivers_ax = fig.add_subplot(grid[1, :])

    counts = ok["purity_class"].value_counts().reindex(PURITY_CLASSES, fill_value=0)
    bars = counts_ax.bar(counts.index, counts.to_numpy(),
                         color=[CLASS_COLOURS[c] for c in counts.index])
    counts_ax.bar_label(bars)
    counts_ax.set_title("Predicted purity class", fontsize=11)
    counts_ax.set_ylabel("preparations")
    counts_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    counts_ax.margins(y=0.15)

    potency_ax.hist(ok["p_potent"].astype(float), bins=np.linspace(0, 1, 21).tolist(),
                    color=CLASS_COLOURS["potent"])
    potency_ax.axvline(0.5, color="grey", linestyle="--", linewidth=1)
    potency_ax.set_title("Likely functional potency", fontsize=11)
    potency_ax.set_xlabel("P(potent); dashed: 0.5")
    potency_ax.set_ylabel("preparations")
    potency_ax.yaxis.set_major_locator(MaxNLocator(integer=True))

    purity = explained.get("purity")
    if purity is not None and len(purity.values):
        mean_abs = pd.Series(np.abs(purity.values).mean(axis=0),
                             index=[plot_label(label_of(c)) for c in purity.data.columns])
        top = mean_abs.sort_values().tail(10)
        drivers_ax.barh(top.index, top.to_numpy(), color="#6a1b9a")
    drivers_ax.set_title("What drove the purity calls in this batch", fontsize=11)
    drivers_ax.set_xlabel("mean |SHAP value| toward each preparation's predicted class "
                          "(log-odds)")
    fig.suptitle(f"exoqc scoring: {len(scores)} preparations, {len(ok)} scored, "
                 f"{n_error} with input errors", fontsize=12)
    fig.tight_layout()
    return fig


def _png_data_uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", **cast(dict[str, Any], PNG_SAVE_KWARGS))
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


_STYLE = (
    "body{font-family:sans-serif;margin:1.5em;color:#222}"
    "table{border-collapse:collapse;font-size:13px}"
    "td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top;text-align:left}"
    "th{background:#eee}td.id{white-space:nowrap;font-weight:bold}td.num{text-align:right}"
    "td.reasons{min-width:28em}.small{color:#555;font-size:12px}"
    "td.d-release{background:#e8f5e9}td.d-reject{background:#ffebee}"
    "td.d-assay{background:#fff8e1}"
    + "".join(f".c-{c}{{border-left:6px solid {colour}}}" for c, colour in CLASS_COLOURS.items())
)


def _cell(text: object, css: str = "") -> str:
    shown = "" if text is None or (isinstance(text, float) and np.isnan(text)) else str(text)
    attribute = f" class='{css}'" if css else ""
    return f"<td{attribute}>{html.escape(shown)}</td>"


def _probability(value: Any) -> str:
    return "" if pd.isna(value) else f"{float(value):.2f}"


def _domain(value: Any) -> str:
    return "" if pd.isna(value) else ("yes" if bool(value) else "no")


def _table(header: list[str], rows: list[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _reasons_html(reasons: str) -> str:
    """``purity: ... | potency: ...`` as one line per model."""
    parts = [html.escape(part.strip()) for part in str(reasons).split(" | ") if part.strip()]
    return f"<td class='reasons'>{'<br>'.join(parts)}</td>"


DECISION_HEADER = ["purity set", "potency set", "decision", "why", "assay priority"]


def _decision_cells(row: pd.Series) -> str:
    priority = row["assay_priority"]
    return (_cell(row["purity_set"]) + _cell(row["potency_set"])
            + _cell(row["decision"], f"d-{row['decision']}")
            + _cell(row["decision_reason"], "small")
            + _cell("" if pd.isna(priority) else int(priority), "num"))


def verdict(row: pd.Series, target: str, alpha: float) -> str:
    """The waterfall's line on the prediction set and the release decision."""
    members = str(row[f"{target}_set"]).replace("|", ", ")
    return (f"{target} set at α={alpha:g}: {{{members}}}; decision: {row['decision']} "
            f"({row['decision_reason']})")


def html_report(dataset: Dataset, scores: pd.DataFrame, summary_png: str,
                figures: dict[str, list[str]], alpha: float = 0.1) -> str:
    """A short HTML page: the batch at a glance, the preparations to look at first (those
    with waterfall figures), then one row per preparation in the scores file's order."""
    misev = misev_report(dataset).reindex(scores["prep_id"])
    misev_summary = misev["summary"] if "summary" in misev else pd.Series("", misev.index)
    n_error = int((scores["status"] == "error").sum())
    ok = scores[scores["status"] == "ok"]
    counts = ok["purity_class"].value_counts()
    flagged = ok[~ok["in_domain"].astype(bool)]
    by_id = scores.set_index("prep_id", drop=False)
    decided = ok["decision"].value_counts()
    planned = int(ok["assay_priority"].notna().sum())
    decisions = (
        f"Release decisions (conformal prediction sets at α = {alpha:g}): release "
        f"<b>{decided.get('release', 0)}</b>, reject <b>{decided.get('reject', 0)}</b>, "
        f"functional assay <b>{decided.get('assay', 0)}</b>"
        + (f" ({planned} planned, by assay priority)" if planned else "") + ".")

    first = []
    for prep_id, names in figures.items():
        row = cast(pd.Series, by_id.loc[prep_id])  # a scored prep_id is unique
        first.append(
            "<tr>" + _cell(prep_id, "id")
            + _cell(row["purity_class"], f"c-{row['purity_class']}")
            + _cell(_probability(row.get(f"p_purity_{row['purity_class']}")), "num")
            + _cell(row["potency_class"], f"c-{row['potency_class']}")
            + _cell(_probability(row["p_potent"]), "num")
            + _cell(_domain(row["in_domain"]))
            + _decision_cells(row)
            + "<td>" + "<br>".join(f"<code>{html.escape(n)}</code>" for n in names) + "</td>"
            + "</tr>")

    rows = []
    for _, row in scores.head(MAX_REPORT_ROWS).iterrows():
        notes = "; ".join(str(v) for v in (row["error"], row["domain_note"])
                          if isinstance(v, str) and v)
        rows.append(
            "<tr>" + _cell(row["prep_id"], "id") + _cell(row["status"])
            + _cell(row["purity_class"], f"c-{row['purity_class']}")
            + "".join(_cell(_probability(row[f"p_purity_{c}"]), "num") for c in PURITY_CLASSES)
            + _cell(row["potency_class"], f"c-{row['potency_class']}")
            + _cell(_probability(row["p_potent"]), "num")
            + _cell(_domain(row["in_domain"]))
            + _decision_cells(row)
            + _reasons_html(row["reasons"])
            + _cell(misev_summary.get(row["prep_id"], ""), "small")
            + _cell(notes, "small")
            + "</tr>")

    lines = [
        "<!doctype html><html><head><meta charset='utf-8'><title>exoqc scoring report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>exoqc scoring report</h1>",
        f"<p>Dataset: <code>{html.escape(str(dataset.root))}</code><br>Models: "
        f"{html.escape(str(scores['purity_model'].iloc[0]))}, "
        f"{html.escape(str(scores['potency_model'].iloc[0]))} (exoqc {__version__})</p>",
        f"<p><b>{len(scores)}</b> preparations: <b>{len(ok)}</b> scored, <b>{n_error}</b> "
        f"with input errors, {int((scores['status'] == 'insufficient').sum())} without "
        "enough data for a call. Purity: high {counts.get('high', 0)}, medium "
        f"{counts.get('medium', 0)}, low {counts.get('low', 0)}. Likely potent: "
        f"{int((ok['potency_class'] == 'potent').sum())}. Outside the training domain: "
        f"{len(flagged)}.</p>",
        f"<p>{decisions}</p>",
        f"<img alt='batch summary: purity classes, P(potent), what drove the purity calls' "
        f"style='max-width:100%' src='{summary_png}'>",
    ]
    if first:
        lines += [
            "<h2>Look at these first</h2>",
            "<p>Lowest purity first, then outside the training domain, then least confident. "
            "Their SHAP waterfalls are in this run's artifacts, in <code>waterfalls/</code>: "
            "each bar is one feature's push toward the predicted class (log-odds).</p>",
            _table(["prep_id", "purity", "P", "potency", "P(potent)", "in training domain",
                    *DECISION_HEADER, "waterfall figures"], first),
        ]
    lines += [
        "<h2>All preparations</h2>",
        "<p>Reasons are the three largest SHAP contributions toward the predicted class, "
        "with the feature's value and whether it is high, low or typical for the training "
        "data. Probabilities are the scores file's (calibrated where that made them more "
        "accurate in training); empty cells: the preparation could not be scored (see "
        "notes).</p>",
        _table(["prep_id", "status", "purity", "P(high)", "P(medium)", "P(low)", "potency",
                "P(potent)", "in training domain", *DECISION_HEADER, "reasons",
                "MISEV2018 minimum", "notes"], rows),
    ]
    if len(scores) > MAX_REPORT_ROWS:
        lines.append(f"<p>First {MAX_REPORT_ROWS} of {len(scores)} preparations shown; all "
                     "are in the scores file.</p>")
    lines.append("</body></html>")
    return "\n".join(lines)


def log_scoring_run(dataset: Dataset, features: pd.DataFrame, scores: pd.DataFrame,
                    explained: dict[str, Explained], scorer, output: Path,
                    max_figures: int, engine: str = "local") -> str:
    """Log the scoring run, tagged with the ``engine`` that computed the scores; returns
    its run id."""
    experiment_id = tracking.experiment_id(contracts.EXPERIMENTS["scoring"])
    ok_rows = {p: i for i, p in enumerate(scores.loc[scores["status"] == "ok", "prep_id"])}
    scores_row = {p: i for i, p in enumerate(scores["prep_id"])}
    with mlflow.start_run(experiment_id=experiment_id,
                          run_name=f"score-{Path(dataset.root).name}") as run:
        mlflow.set_tags({"exoqc.version": __version__, "exoqc.dataset": str(dataset.root),
                         "exoqc.engine": engine})
        mlflow.log_params({
            "n_preps": len(scores), "purity_model": scores["purity_model"].iloc[0],
            "potency_model": scores["potency_model"].iloc[0], "scores_file": str(output),
        })
        ok = scores[scores["status"] == "ok"]
        metrics = {
            "n_ok": float(len(ok)), "n_error": float((scores["status"] == "error").sum()),
            "n_insufficient": float((scores["status"] == "insufficient").sum()),
            "n_out_of_domain": float((~ok["in_domain"].astype(bool)).sum()),
            "n_potent": float((ok["potency_class"] == "potent").sum()),
        }
        metrics.update({f"n_purity_{c}": float((ok["purity_class"] == c).sum())
                        for c in PURITY_CLASSES})
        alpha = scorer.spec.release.alpha
        metrics.update({f"n_{d}": float((ok["decision"] == d).sum())
                        for d in ("release", "reject", "assay")})
        metrics["n_assay_planned"] = float(ok["assay_priority"].notna().sum())
        metrics.update(_calibration_coverage(scorer, alpha))
        mlflow.log_metrics(metrics)
        mlflow.log_params({"alpha": alpha,
                           "purity_accept": ",".join(scorer.spec.release.purity_accept),
                           "potency_accept": ",".join(scorer.spec.release.potency_accept),
                           "spec_limits": scorer.spec.model_dump_json(include={"limits"})})
        tracking.log_table_input(features.reset_index(), Path(dataset.root),
                                 f"{Path(dataset.root).name}-features", "scoring")
        mlflow.log_artifact(str(output))

        figures: dict[str, list[str]] = {}
        for prep_id in figure_preps(scores, max_figures):
            row = ok_rows[prep_id]
            for target in scorer.explainers:
                fig = scorer.explainers[target].waterfall(
                    explained[target], row, prep_id,
                    verdict=verdict(scores.iloc[scores_row[prep_id]], target, alpha))
                name = figure_name(prep_id, target)
                mlflow.log_figure(fig, name, save_kwargs=PNG_SAVE_KWARGS)
                plt.close(fig)
                figures.setdefault(prep_id, []).append(name)
        summary = batch_summary_figure(scores, explained)
        mlflow.log_figure(summary, "batch_summary.png", save_kwargs=PNG_SAVE_KWARGS)
        summary_png = _png_data_uri(summary)
        plt.close(summary)
        mlflow.log_text(html_report(dataset, scores, summary_png, figures, alpha),
                        "report.html")
        return run.info.run_id


def _calibration_coverage(scorer, alpha: float) -> dict[str, float]:
    """Leave-one-out coverage of each model's calibration preparations at ``alpha``."""
    metrics = {}
    for target, model in scorer.models.items():
        spec = model.predictor.spec
        if not spec.conformal:
            continue
        coverage = ConformalCalibration.from_dict(spec.conformal).calibration_coverage(alpha)
        metrics.update({f"conformal_calibration_coverage_{target}_{c}": v
                        for c, v in zip(spec.classes, coverage, strict=True) if v == v})
    return metrics
