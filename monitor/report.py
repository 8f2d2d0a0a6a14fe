"""The monitoring run in MLflow: charts, alarms, drift, a dashboard and certificates.

Artifacts of a run in experiment ``exoqc-monitoring``:

- ``charts/<attribute>.png`` (figures): individuals chart (limits, baseline shaded, spec limits,
  alarms in red) above its CUSUM (or EWMA) chart, per charted attribute; ``charts/drift.png``;
- ``alarms.csv`` and the MLflow table ``alarms.json``: one row per (batch, attribute,
  rule);
- ``drift.csv``: one row per window of monitored batches;
- ``history.csv``: every batch with its attributes, predictions and status;
- ``dashboard.html``: one self-contained page (figures embedded);
- ``certificates/<prep_id>.html``: a printable certificate of analysis per batch.
"""

from __future__ import annotations

import base64
import html
import io
import re
import tempfile
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from exoqc import __version__, contracts, tracking
from exoqc.dataset import PRODUCTION_DATE
from exoqc.monitor.charts import RULES

PNG_SAVE_KWARGS: dict[str, Any] = {"dpi": 90, "bbox_inches": "tight", "pad_inches": 0.15}
MAX_DASHBOARD_ALARMS = 300
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5em;max-width:1100px;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;"
    "padding:3px 6px;font-size:13px;vertical-align:top}th{background:#f3f3f3}"
    ".pass{color:#1a7f37;font-weight:600}.fail{color:#c62828;font-weight:600}"
    ".small{font-size:12px;color:#555}img{max-width:100%}"
    "@media print{body{margin:0}a{color:#222}}"
)


def safe_name(prep_id: str) -> str:
    """A file name for a prep id (ids may hold any character)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", prep_id).strip("._") or "prep"


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _number(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return _e(value)
    return "—" if not np.isfinite(v) else f"{v:.4g}"


def _date(value: Any) -> str:
    return "" if pd.isna(value) else pd.Timestamp(value).date().isoformat()


def _png_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", **PNG_SAVE_KWARGS)
    return buffer.getvalue()


def chart_figure(result, name: str) -> Figure:
    """Individuals chart above the CUSUM (or, without ``cusum`` in the rules, the EWMA)
    chart of one attribute."""
    chart = result.charts[name]
    x = np.arange(1, len(chart.values) + 1)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5.2), sharex=True,
                                      height_ratios=(3, 2))
    attribute = chart.attribute
    unit = f" ({attribute.unit})" if attribute.unit else ""
    c = chart.chart
    for ax in (top, bottom):
        ax.axvspan(result.baseline[0] + 0.5, result.baseline[-1] + 1.5, color="#e8f0fe",
                   label="baseline")
    measured = np.isfinite(chart.values)
    top.plot(x[measured], chart.values[measured], "o-", ms=3, lw=0.8, color="#444")
    top.axhline(c.center_value_, color="#1a7f37", lw=1, label="centre")
    for k, level in enumerate((c.lower_, c.upper_)):
        top.axhline(level, color="#c62828", lw=1, ls="--",
                    label="control limits" if k == 0 else None)
    limits = result.spec.limits.get(attribute.name)
    if limits is not None:
        levels = [v for v in (limits.lower, limits.upper) if v is not None]
        for k, level in enumerate(levels):
            top.axhline(level, color="#6a1b9a", lw=1.2, ls=":",
                        label="spec limits" if k == 0 else None)
    alarmed = result.alarms.loc[result.alarms["attribute"] == name, "prep_id"]
    position = {p: i for i, p in enumerate(result.history["prep_id"])}
    hits = sorted({position[p] for p in alarmed})
    if hits:
        top.plot(x[hits], chart.values[hits], "o", ms=6, mfc="none", mec="#c62828", mew=1.5,
                 label="alarm")
    cpk = f", Cpk {chart.cpk:.2f}" if np.isfinite(chart.cpk) else ""
    scale = " of log" if c.transform == "log" else ""
    top.set_title(f"{attribute.label}{unit}: individuals chart, ±{c.limit_sigma_:.2f}σ{scale} "
                  f"from {c.n_baseline_} baseline batches{cpk}; alarms: "
                  f"{', '.join(result.settings.rules)}", fontsize=10)
    top.legend(loc="upper left", fontsize=7, ncols=6)
    if "cusum" in result.settings.rules:  # the default alarm's chart, else the EWMA
        sums = c.cusum(chart.values, start=int(result.baseline[-1]) + 1)
        shown = np.isfinite(sums.upper)
        bottom.plot(x[shown], sums.upper[shown], "-", lw=1, color="#1565c0", label="C⁺")
        bottom.plot(x[shown], -sums.lower[shown], "-", lw=1, color="#6a1b9a", label="−C⁻")
        for level in (c.h_, -c.h_):
            bottom.axhline(level, color="#c62828", lw=0.8, ls="--")
        bottom.axhline(0, color="#1a7f37", lw=1)
        bottom.legend(loc="upper left", fontsize=7, ncols=2)
        bottom.set_title(f"Self-starting CUSUM{' of log ' + attribute.label if scale else ''}"
                         f" (k = 0.5σ, h = {c.h_:.2f}σ, restarted after a signal)",
                         fontsize=9)
    else:
        points = c.points(chart.values)
        bottom.plot(x[measured], points.ewma[measured], "-", lw=1, color="#1565c0")
        bottom.plot(x[measured], points.ewma_upper[measured], "--", lw=0.8, color="#c62828")
        bottom.plot(x[measured], points.ewma_lower[measured], "--", lw=0.8, color="#c62828")
        bottom.axhline(c.center_, color="#1a7f37", lw=1)
        bottom.set_title(f"EWMA{' of log ' + attribute.label if scale else ''} "
                         f"(λ = {c.ewma_lambda:g}, L = {c.ewma_limit_:.2f})", fontsize=9)
    bottom.set_xlabel("batch, in production order")
    fig.tight_layout()
    return fig


def drift_figure(result) -> Figure:
    """Outside-domain share and classifier two-sample AUC per window."""
    fig, ax = plt.subplots(figsize=(10, 3))
    if result.drift:
        centre = [(w.first + w.last) / 2 + 1 for w in result.drift]
        ax.plot(centre, [w.outside_domain_share for w in result.drift], "o-",
                label="share outside the applicability domain")
        ax.plot(centre, [w.c2st_auc_baseline for w in result.drift], "s-",
                label="classifier AUC, window vs baseline")
        ax.plot(centre, [w.c2st_auc_training for w in result.drift], "^-",
                label="classifier AUC, window vs training data")
        for w in result.drift:
            if w.alarm:
                ax.axvspan(w.first + 0.5, w.last + 1.5, color="#fdecea")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("batch, in production order")
    ax.set_title("Drift per window of monitored batches (red: drift alarm)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def drift_table(result) -> pd.DataFrame:
    rows = []
    for w in result.drift:
        rows.append({
            "first_prep": w.prep_ids[0], "last_prep": w.prep_ids[-1],
            "n_batches": len(w.prep_ids), "alarm": w.alarm,
            "moved_features": ", ".join(w.moved.index),
            "c2st_auc_baseline": w.c2st_auc_baseline, "c2st_p_baseline": w.c2st_p_baseline,
            "c2st_auc_training": w.c2st_auc_training, "c2st_p_training": w.c2st_p_training,
            "outside_domain_share": w.outside_domain_share, "domain_p": w.domain_p,
            "message": w.message, "notes": "; ".join(w.notes),
        })
    return pd.DataFrame(rows)


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def dashboard_html(result, figures: dict[str, str], sources: list[Path]) -> str:
    """The monitoring run on one page."""
    h = result.history
    s = result.settings
    base = h.iloc[result.baseline]
    if s.baseline_from or s.baseline_to:
        base_text = f"released batches produced from {s.baseline_from} to {s.baseline_to}"
    else:
        base_text = f"the first {s.baseline_n} released batches"
    lines = [
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<title>exoqc monitoring dashboard</title>", f"<style>{_STYLE}</style></head><body>",
        "<h1>exoqc production monitoring</h1>",
        f"<p>History: {', '.join(f'<code>{_e(p)}</code>' for p in sources)} — "
        f"{len(h)} batches, {_date(h[PRODUCTION_DATE].min())} to "
        f"{_date(h[PRODUCTION_DATE].max())}. Models: {_e(h['purity_model'].iloc[0])}, "
        f"{_e(h['potency_model'].iloc[0])} (exoqc {__version__}).</p>",
        f"<p>Baseline: {base_text} ({len(base)} batches, {base['prep_id'].iloc[0]} to "
        f"{base['prep_id'].iloc[-1]}). Monitored: {len(result.monitored)} batches"
        f"{f' since {s.since}' if s.since else ''}. Rules: "
        f"{', '.join(RULES[r] for r in s.rules)}.</p>",
        f"<p><b>{len(result.alarms)}</b> chart alarms on "
        f"<b>{result.alarms['prep_id'].nunique()}</b> batches; "
        f"<b>{len(result.drift_alarms)}</b> of {len(result.drift)} drift windows alarmed.</p>",
    ]
    if result.missing:
        lines += ["<h2>What is missing</h2><ul>"]
        lines += [f"<li>{_e(m)}</li>" for m in result.missing] + ["</ul>"]
    capability = [[_e(c.attribute.label), _e(c.chart.transform), _number(c.chart.center_value_),
                   _number(c.chart.sigma_), _number(c.chart.lower_), _number(c.chart.upper_),
                   _number(c.cpk)]
                  for c in result.charts.values() if c.chart is not None]
    lines += ["<h2>Charts</h2>",
              _table(["attribute", "charted on", "centre", "σ (MR̄/d2, on that scale)",
                      "LCL", "UCL", "Cpk"], capability)]
    for name, uri in figures.items():
        lines.append(f"<img alt='control chart of {_e(name)}' src='{uri}'>")
    lines.append("<h2>Alarms</h2>")
    rows = [[_e(a.prep_id), _date(a.production_date), _e(a.label), _e(a.rule_text),
             _number(a.value), f"{_number(a.lower)} to {_number(a.upper)}",
             f"<span class='small'>{_e(a.reasons)}</span>"]
            for a in result.alarms.head(MAX_DASHBOARD_ALARMS).itertuples()]
    lines.append(_table(["batch", "date", "attribute", "rule", "value", "limits",
                         "model reasons"], rows) if rows else "<p>No chart alarm.</p>")
    if len(result.alarms) > MAX_DASHBOARD_ALARMS:
        lines.append(f"<p>First {MAX_DASHBOARD_ALARMS} of {len(result.alarms)}; all are in "
                     "alarms.csv.</p>")
    lines.append("<h2>Drift against the baseline and the model's training data</h2>")
    drift = [[f"{_e(w.prep_ids[0])} – {_e(w.prep_ids[-1])}", "alarm" if w.alarm else "",
              f"{w.outside_domain_share:.0%}", _number(w.c2st_auc_baseline),
              _number(w.c2st_auc_training), _e(w.message or "; ".join(w.notes))]
             for w in result.drift]
    lines.append(_table(["window", "", "outside domain", "AUC vs baseline",
                         "AUC vs training", "what moved"], drift))
    lines.append("<p class='small'>Certificates of analysis: <code>certificates/</code> in "
                 "this run's artifacts, one per batch.</p></body></html>")
    return "\n".join(lines)


def certificate_html(result, position: int) -> str:
    """A printable certificate of analysis of one batch."""
    row = result.history.iloc[position]
    prep_id = row["prep_id"]
    lines = [
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Certificate of analysis {_e(prep_id)}</title><style>{_STYLE}</style>"
        "</head><body>",
        f"<h1>Certificate of analysis — {_e(prep_id)}</h1>",
        f"<p>Batch <b>{_e(row['batch'] or prep_id)}</b>, produced "
        f"{_date(row[PRODUCTION_DATE]) or 'on an unrecorded date'}. exoqc {__version__}.</p>",
    ]
    if row["status"] != "ok":
        lines.append(f"<p class='fail'>Not analysed: {_e(row['error'])}</p>")
    spec_rows = []
    for chart in result.charts.values():
        name = chart.attribute.name
        value = chart.values[position] if row["status"] == "ok" else np.nan
        limits = result.spec.limits.get(name)
        if limits is None:
            spec_text, verdict = "—", "<span class='small'>no spec</span>"
        else:
            spec_text = (f"{_number(limits.lower) if limits.lower is not None else '−∞'} to "
                         f"{_number(limits.upper) if limits.upper is not None else '+∞'}")
            ok = (np.isfinite(value) and (limits.lower is None or value >= limits.lower)
                  and (limits.upper is None or value <= limits.upper))
            verdict = ("<span class='pass'>pass</span>" if ok else
                       "<span class='fail'>fail</span>" if np.isfinite(value) else
                       "<span class='fail'>not measured</span>")
        trend = ("" if chart.chart is None else
                 f"{chart.chart.lower_:.4g} to {chart.chart.upper_:.4g}")
        unit = f" ({chart.attribute.unit})" if chart.attribute.unit else ""
        spec_rows.append([_e(chart.attribute.label + unit), spec_text,
                          _number(value) if np.isfinite(value) else "not measured",
                          verdict, trend])
    lines += ["<h2>Quality attributes</h2>",
              _table(["attribute", "specification", "result", "pass/fail",
                      "control limits (baseline)"], spec_rows)]
    alarms = result.alarms[result.alarms["prep_id"] == prep_id]
    if len(alarms):
        lines.append("<h2>Control-chart alarms</h2><ul>")
        lines += [f"<li>{_e(a.label)}: {_e(a.rule_text)}</li>" for a in alarms.itertuples()]
        lines.append("</ul>")
    if row["status"] == "ok":
        reasons = str(row["reasons"]).split(" | ")
        lines += [
            "<h2>Model predictions</h2>",
            _table(["model", "prediction", "probability", "reasons (SHAP)"], [
                ["purity", _e(row["purity_class"]), f"P(high) {_number(row['p_purity_high'])}",
                 _e(reasons[0].removeprefix("purity: "))],
                ["potency", _e(row["potency_class"]), f"P(potent) {_number(row['p_potent'])}",
                 _e(reasons[-1].removeprefix("potency: "))],
            ]),
            f"<p>Inside the models' training domain: "
            f"<b>{'yes' if bool(row['in_domain']) else 'no'}</b>"
            f"{'. ' + _e(row['domain_note']) if row['domain_note'] else ''}</p>",
            f"<p class='small'>Models: {_e(row['purity_model'])}, "
            f"{_e(row['potency_model'])}</p>",
        ]
    verdict = ("released" if row["released"] else
               f"not released: {row['spec_failures']}" if row["spec_failures"] else
               "not released: input errors")
    lines += [
        f"<h2>Disposition</h2><p><b>{_e(verdict)}</b> (spec limits only; the "
        "release decision stays with the qualified person).</p>",
        "<h2>Source data</h2><ul>",
        f"<li>dataset folder: <code>{_e(row['folder'])}</code>, preps.csv row "
        f"<code>{_e(prep_id)}</code></li>",
        f"<li>DLS export: <code>{_e(row['dls_file'] or 'none')}</code></li>",
        f"<li>marker measurements: {int(row['n_markers'])} rows of markers.csv</li>",
        "</ul></body></html>",
    ]
    return "\n".join(lines)


def log_monitoring_run(result, sources: list[Path]) -> str:
    """Log the monitoring run; returns its run id."""
    experiment_id = tracking.experiment_id(contracts.EXPERIMENTS["monitoring"])
    h = result.history
    with mlflow.start_run(experiment_id=experiment_id,
                          run_name=f"monitor-{Path(sources[0]).name}") as run:
        s = result.settings
        mlflow.set_tags({"exoqc.version": __version__,
                         "exoqc.history": ", ".join(map(str, sources))})
        mlflow.log_params({
            "n_batches": len(h), "baseline_n": s.baseline_n,
            "baseline_from": str(s.baseline_from), "baseline_to": str(s.baseline_to),
            "since": str(s.since), "rules": ",".join(s.rules),
            "drift_window": s.drift_window, "purity_model": h["purity_model"].iloc[0],
            "potency_model": h["potency_model"].iloc[0],
        })
        mlflow.log_metrics({
            "n_baseline": float(len(result.baseline)),
            "n_monitored": float(len(result.monitored)),
            "n_alarms": float(len(result.alarms)),
            "n_alarmed_batches": float(result.alarms["prep_id"].nunique()),
            "n_drift_alarms": float(len(result.drift_alarms)),
            **{f"cpk_{name}": c.cpk for name, c in result.charts.items()
               if np.isfinite(c.cpk)},
        })
        alarms = result.alarms.assign(production_date=result.alarms["production_date"].map(
            _date))
        mlflow.log_table(alarms, "alarms.json")
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            # Each figure is drawn once: the PNG file logged is the one the dashboard embeds.
            (folder / "charts").mkdir()
            figures = {}
            drawn = [(name, chart_figure(result, name)) for name, chart in
                     result.charts.items() if chart.chart is not None]
            for name, fig in [*drawn, ("drift", drift_figure(result))]:
                png = _png_bytes(fig)
                plt.close(fig)
                (folder / "charts" / f"{name}.png").write_bytes(png)
                figures[name] = "data:image/png;base64," + base64.b64encode(png).decode()
            mlflow.log_artifacts(str(folder / "charts"), "charts")
            alarms.to_csv(folder / "alarms.csv", index=False)
            drift_table(result).to_csv(folder / "drift.csv", index=False)
            h.assign(**{PRODUCTION_DATE: h[PRODUCTION_DATE].map(_date)}).to_csv(
                folder / "history.csv", index=False)
            (folder / "dashboard.html").write_text(dashboard_html(result, figures, sources),
                                                   encoding="utf-8")
            for name in ("alarms.csv", "drift.csv", "history.csv", "dashboard.html"):
                mlflow.log_artifact(str(folder / name))
            if s.certificates:
                certificates = folder / "certificates"
                certificates.mkdir()
                since = pd.Timestamp(s.since) if s.since else None
                for position in range(len(h)):
                    date = h[PRODUCTION_DATE].iloc[position]
                    if since is not None and not (pd.notna(date) and date >= since):
                        continue
                    name = f"{safe_name(h['prep_id'].iloc[position])}.html"
                    (certificates / name).write_text(certificate_html(result, position),
                                                     encoding="utf-8")
                mlflow.log_artifacts(str(certificates), "certificates")
        return run.info.run_id
