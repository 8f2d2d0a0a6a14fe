"""``exoqc monitor``: a production history in, control charts, alarms and drift out.

The history is one or more prep dataset folders; their preparations (one per production
batch) are put in ``production_date`` order (preparations without a date follow, in file
order). Each batch is featurized and scored by the registered models (predictions,
SHAP reasons, applicability domain), exactly as ``exoqc score`` does.

Limits come from a stated baseline: the first ``baseline_n`` *released* batches (scored
without input errors and inside every spec limit the spec gives), or the batches
produced between ``baseline_from`` and ``baseline_to``. Batches after the baseline (and
on or after ``since``) are monitored: each chart rule they break is an alarm naming the
batch, the attribute, the rule, and for a predicted attribute the batch's SHAP reasons.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats

from exoqc.config import default_n_jobs
from exoqc.contracts import DEFAULT_MODEL_URIS
from exoqc.dataset import PRODUCTION_DATE, load_dataset
from exoqc.errors import ExoqcInputError
from exoqc.features import build_features
from exoqc.inference.score import Scorer, ScoreSettings
from exoqc.monitor.charts import CUSUM_ARL0, DEFAULT_RULES, EWMA_L, RULES, ControlChart
from exoqc.monitor.drift import DriftWindow, drift_windows
from exoqc.spec import Spec

MAX_NAMED_BATCHES = 5
PROBABILITY_CLIP = 1e-4
SINGLE_CHART_ALPHA = 0.0027  # two-sided tail beyond 3σ of a normal distribution
# Tests whose in-control alarm rates Bonferroni splits (the run rules' rates are their own).
TAIL_RULES = ("beyond_3sigma", "ewma", "cusum")


@dataclass(frozen=True)
class Attribute:
    """A critical quality attribute that gets a control chart."""

    name: str
    label: str
    unit: str
    model: str = ""  # "purity" / "potency" for a predicted attribute
    transform: str = "identity"  # charted on this scale (monitor.charts.TRANSFORMS)


ATTRIBUTES = (
    Attribute("dls_z_average_nm", "DLS Z-average", "nm", transform="log"),
    Attribute("dls_pdi", "DLS polydispersity index", "1", transform="log"),
    Attribute("log10_particles_per_ml", "Particle concentration (NTA)", "log10 particles/mL"),
    Attribute("log10_particles_per_ug", "Particles per µg protein", "log10 particles/µg"),
    Attribute("log10_ev_to_coisolate_ratio", "EV / co-isolate marker ratio", "log10 ratio"),
    Attribute("log10_ev_to_other_compartment_ratio", "EV / other-compartment marker ratio",
              "log10 ratio"),
    Attribute("logit_p_purity_high", "Predicted high purity", "logit P(high)", "purity"),
    Attribute("logit_p_potent", "Predicted potency", "logit P(potent)", "potency"),
)
"""Charted when measured. The particle concentration comes from preps.csv or, where that is
empty, from the NTA export (``exoqc.dataset``), so it is one chart either way."""

NTA_ATTRIBUTES = (
    Attribute("nta_mode_nm", "NTA mode diameter", "nm", transform="log"),
    Attribute("nta_dls_z_average_to_mode", "DLS Z-average / NTA mode", "ratio",
              transform="log"),
)
"""Added when the feature table has the NTA columns: the single-particle size, and the
DLS/NTA ratio that grows with aggregates and large contaminants (docs/nta.md)."""


class MonitorSettings(BaseModel):
    """What ``exoqc monitor`` does; every option of the command is here."""

    model_config = ConfigDict(frozen=True)

    purity_model: str = DEFAULT_MODEL_URIS["purity"]
    potency_model: str = DEFAULT_MODEL_URIS["potency"]
    baseline_n: int = Field(30, ge=2, description="first N released batches")
    baseline_from: dt.date | None = None
    baseline_to: dt.date | None = None
    since: dt.date | None = None
    rules: tuple[str, ...] = DEFAULT_RULES
    drift_window: int = Field(20, ge=5)
    family_adjusted: bool = Field(True, description="Bonferroni over the attributes and "
                                  "their individuals, EWMA and CUSUM tests")
    n_jobs: int = Field(default_factory=default_n_jobs, ge=1)
    log_to_mlflow: bool = True
    certificates: bool = True


@dataclass
class ChartResult:
    attribute: Attribute
    chart: ControlChart | None
    values: np.ndarray
    cpk: float = float("nan")
    note: str = ""


@dataclass
class MonitorResult:
    """A monitored history: one row per batch in ``history``, the charts, the alarms."""

    history: pd.DataFrame
    baseline: np.ndarray
    monitored: np.ndarray
    charts: dict[str, ChartResult]
    alarms: pd.DataFrame
    drift: list[DriftWindow]
    missing: list[str]
    spec: Spec
    settings: MonitorSettings
    run_id: str | None = None
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def drift_alarms(self) -> list[DriftWindow]:
        return [w for w in self.drift if w.alarm]


def load_history(dataset_dirs: list[Path], n_jobs: int = 1
                 ) -> tuple[pd.DataFrame, pd.DataFrame, dict, dict]:
    """Preparations of every folder in production order: (preps, features, errors,
    warnings). ``preps`` has ``folder``, ``line`` (its preps.csv position) and
    ``production_date``. A prep id in two folders is an error naming both."""
    preps, frames, errors, warnings = [], [], {}, {}
    seen: dict[str, Path] = {}
    for folder in map(Path, dataset_dirs):
        dataset = load_dataset(folder, errors="collect")
        for prep_id in dataset.prep_ids:
            if prep_id in seen:
                raise ExoqcInputError(folder / "preps.csv", f"prep_id '{prep_id}' is also in "
                                      f"{seen[prep_id]}: expected one row per batch across "
                                      "the history's folders")
            seen[prep_id] = folder
        table = build_features(dataset, n_jobs=n_jobs)
        part = pd.DataFrame(index=dataset.preps.index)
        part["folder"] = str(folder)
        part["batch"] = dataset.preps["batch"]
        part[PRODUCTION_DATE] = dataset.preps.get(PRODUCTION_DATE, pd.NaT)
        part["dls_file"] = dataset.preps["dls_file"]
        part["n_markers"] = dataset.markers.groupby("prep_id").size().reindex(
            part.index).fillna(0).astype(int)
        preps.append(part)
        frames.append(table.frame)
        errors.update(table.errors)
        warnings.update(table.warnings)
    history = pd.concat(preps)
    history[PRODUCTION_DATE] = pd.to_datetime(history[PRODUCTION_DATE])
    features = pd.concat(frames)
    # Stable: batches of one day (and undated ones, last) keep their file order.
    order = (history[PRODUCTION_DATE].reset_index(drop=True)
             .sort_values(kind="stable", na_position="last").index.to_numpy())
    return history.iloc[order], features.iloc[order], errors, warnings


def attributes_present(features: pd.DataFrame) -> list[Attribute]:
    """The standard attributes plus the NTA ones the feature table has."""
    return [*ATTRIBUTES, *(a for a in NTA_ATTRIBUTES if a.name in features.columns)]


def _attribute_values(history: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    values = features.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        values["log10_particles_per_ml"] = np.log10(features["particles_per_ml"].where(
            features["particles_per_ml"] > 0))
    # Probabilities pile up near 0 and 1, where a moving range says little: the logit
    # spreads them (clipped at 1e-4 so that a saturated model stays finite).
    for name in ("p_purity_high", "p_potent"):
        values[name] = history[name]  # for spec limits on a probability
        p = history[name].astype(float).clip(PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
        values[f"logit_{name}"] = np.log(p / (1 - p))
    return values


def _spec_failures(values: pd.DataFrame, spec: Spec) -> pd.DataFrame:
    """True where a batch is outside a spec limit, or not measured for one."""
    out = pd.DataFrame(False, index=values.index, columns=list(spec.limits))
    for name, limits in spec.limits.items():
        v = values[name] if name in values else pd.Series(np.nan, index=values.index)
        bad = v.isna()
        if limits.lower is not None:
            bad |= v < limits.lower
        if limits.upper is not None:
            bad |= v > limits.upper
        out[name] = bad
    return out


def _baseline(history: pd.DataFrame, released: pd.Series, settings: MonitorSettings
              ) -> np.ndarray:
    dates = history[PRODUCTION_DATE]
    if settings.baseline_from or settings.baseline_to:
        low = pd.Timestamp(settings.baseline_from or dt.date.min)
        high = pd.Timestamp(settings.baseline_to or dt.date.max)
        chosen = np.flatnonzero((released & (dates >= low) & (dates <= high)).to_numpy())
        what = f"batches produced from {low.date()} to {high.date()}"
    else:
        chosen = np.flatnonzero(released.to_numpy())[:settings.baseline_n]
        what = f"the first {settings.baseline_n} released batches"
    if len(chosen) < 2:
        raise ExoqcInputError(
            history["folder"].iloc[0], f"the baseline ({what}) has {len(chosen)} released "
            "batch(es): expected at least 2 scored without errors and inside the spec limits")
    return chosen


def monitor(dataset_dirs: list[Path], settings: MonitorSettings | None = None,
            spec: Spec | None = None, scorer: Scorer | None = None) -> MonitorResult:
    """Chart, test and report a production history; log it to MLflow unless told not to.

    Raises
    ------
    ExoqcInputError
        A folder without a readable preps.csv, a prep id in two folders, or a baseline
        with fewer than 2 released batches. A bad batch is only marked (not charted).
    """
    from exoqc import tracking

    settings = settings or MonitorSettings()
    spec = spec or Spec()
    unknown = [r for r in settings.rules if r not in RULES]
    if unknown:
        raise ValueError(f"unknown rule(s) {', '.join(unknown)}: expected {', '.join(RULES)}")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    tracking.configure()
    scorer = scorer or Scorer.load(ScoreSettings(purity_model=settings.purity_model,
                                                 potency_model=settings.potency_model))
    history, features, errors, warnings = load_history(dataset_dirs, settings.n_jobs)
    timings["load and features"] = time.perf_counter() - started
    scores, _ = scorer.score_features(features, errors, warnings)
    scores.index = features.index
    history = history.join(scores.drop(columns="prep_id"))
    history.insert(0, "prep_id", history.index.astype(str))
    timings["predict and explain"] = time.perf_counter() - started - sum(timings.values())

    values = _attribute_values(history, features)
    failures = _spec_failures(values, spec)
    ok = history["status"] == "ok"
    released = ok & ~failures.any(axis=1)
    history["released"] = released
    history["spec_failures"] = [", ".join(c for c in failures.columns if failures.at[p, c])
                                for p in failures.index]
    baseline = _baseline(history, released, settings)
    after = np.arange(len(history)) > baseline[-1]
    if settings.since is not None:
        after &= (history[PRODUCTION_DATE] >= pd.Timestamp(settings.since)).to_numpy()
    monitored = np.flatnonzero(after & ok.to_numpy())

    charts: dict[str, ChartResult] = {}
    alarm_rows = []
    missing: list[str] = []
    charted = ok.to_numpy()
    present = attributes_present(features)
    n_sigma, ewma_l, cusum_arl0 = family_limits(
        sum(bool(a.name in values and values[a.name].notna().any()) for a in present)
        if settings.family_adjusted else 1,
        sum(r in TAIL_RULES for r in settings.rules) if settings.family_adjusted else 1)
    for attribute in present:
        column = values.get(attribute.name, None)
        series = (np.full(len(history), np.nan) if column is None
                  else column.to_numpy(float).copy())
        series[~charted] = np.nan
        entry = ChartResult(attribute, None, series)
        charts[attribute.name] = entry
        absent = np.flatnonzero(charted & ~np.isfinite(series))
        if np.isfinite(series).sum() == 0:
            entry.note = "not charted: no batch has a value"
            missing.append(f"{attribute.label}: {entry.note}")
            continue
        if len(absent):
            named = ", ".join(history["prep_id"].iloc[absent[:MAX_NAMED_BATCHES]])
            more = (f" and {len(absent) - MAX_NAMED_BATCHES} more"
                    if len(absent) > MAX_NAMED_BATCHES else "")
            entry.note = (f"not measured in {len(absent)} of {int(charted.sum())} batches "
                           f"({named}{more})")
            missing.append(f"{attribute.label}: {entry.note}")
        try:
            chart = ControlChart(n_sigma=n_sigma, ewma_l=ewma_l, estimated=True,
                                 transform=attribute.transform,
                                 cusum_arl0=cusum_arl0).fit(series[baseline])
        except ValueError as error:
            entry.note = f"not charted: {error}"
            missing.append(f"{attribute.label}: {entry.note}")
            continue
        entry.chart = chart
        off_scale = np.flatnonzero(np.isfinite(series) & ~np.isfinite(chart.scale(series)))
        if len(off_scale):  # a size of 0 or less has no log
            named = ", ".join(history["prep_id"].iloc[off_scale[:MAX_NAMED_BATCHES]])
            missing.append(f"{attribute.label}: {len(off_scale)} batch(es) not charted, "
                           f"0 or less on a {attribute.transform} chart ({named})")
        limits = spec.limits.get(attribute.name)
        if limits is not None:
            entry.cpk = chart.cpk(limits.lower, limits.upper)
        in_scope = set(monitored.tolist())
        points = chart.points(series)
        sums = chart.cusum(series, start=int(baseline[-1]) + 1)
        for position, rule in chart.violations(series, settings.rules,
                                               start=int(baseline[-1]) + 1):
            if position not in in_scope:
                continue
            row = history.iloc[position]
            value, lower, upper = series[position], chart.lower_, chart.upper_
            center = chart.center_value_
            if rule == "ewma":  # the EWMA and its limits there, in the attribute's units
                value, lower, upper = chart.inverse(np.array([
                    points.ewma[position], points.ewma_lower[position],
                    points.ewma_upper[position]]))
            elif rule == "cusum":  # the sum that crossed (−C⁻ below), in σ, and ±h
                high, low = sums.upper[position], sums.lower[position]
                value = high if high > chart.h_ else -low
                center, lower, upper = 0.0, -chart.h_, chart.h_
            alarm_rows.append({
                "position": position, "prep_id": row["prep_id"],
                "production_date": row[PRODUCTION_DATE],
                "attribute": attribute.name, "label": attribute.label, "rule": rule,
                "rule_text": RULES[rule], "value": value,
                "center": center, "lower": lower, "upper": upper,
                "reasons": _reasons_for(row["reasons"], attribute.model),
            })
    n_failed = int((~ok).sum())
    if n_failed:
        failed = history.loc[~ok, "prep_id"].tolist()
        missing.append(f"{n_failed} batch(es) failed input checks and are not charted: "
                       f"{', '.join(failed[:MAX_NAMED_BATCHES])}"
                       f"{' ...' if n_failed > MAX_NAMED_BATCHES else ''} (see certificates)")
    n_undated = int(history[PRODUCTION_DATE].isna().sum())
    if n_undated == len(history):
        missing.append("no production_date: batches charted in file order")
    elif n_undated:
        missing.append(f"{n_undated} batch(es) without a production_date: placed after the "
                       "dated ones, in file order")
    alarms = pd.DataFrame(alarm_rows, columns=[
        "position", "prep_id", "production_date", "attribute", "label", "rule", "rule_text",
        "value", "center", "lower", "upper", "reasons"])
    # In production order, the attributes of one batch together.
    alarms = alarms.sort_values("position", kind="stable").drop(columns="position")
    alarms = alarms.reset_index(drop=True)
    timings["charts"] = time.perf_counter() - started - sum(timings.values())

    predictor = scorer.models["purity"].predictor
    model_features = features[list(predictor.spec.feature_names)]
    in_domain = history["in_domain"].fillna(False).astype(bool)
    reference = scorer.explainers["purity"].domain.reference_frame()
    drift = (drift_windows(model_features, baseline, monitored, in_domain, reference,
                           settings.drift_window) if len(monitored) else [])
    timings["drift"] = time.perf_counter() - started - sum(timings.values())
    result = MonitorResult(history, baseline, monitored, charts, alarms, drift, missing,
                           spec, settings, timings_s=timings)
    if settings.log_to_mlflow:
        from exoqc.monitor.report import log_monitoring_run

        result.run_id = log_monitoring_run(result, dataset_dirs)
        timings["mlflow run"] = time.perf_counter() - started - sum(timings.values())
    return result


def family_limits(n_charts: int, n_tail_rules: int = 1) -> tuple[float, float, float]:
    """Individuals-limit width, EWMA L (known-parameter scale) and CUSUM in-control ARL
    for ``n_charts`` charts watched together with ``n_tail_rules`` of the tests in
    :data:`TAIL_RULES`.

    Bonferroni (Alt 1985): the in-control alarm rate of one 3σ chart, 0.27 % of batches
    (ARL0 ≈ 370), is divided over every (chart, test) pair. The individuals point and the
    EWMA each alarm on an in-control batch with at most their share of the tail (the
    EWMA too: its limits hold the share for each point, however much successive points
    are correlated); the CUSUM, restarted after each signal, signals on a share 1/ARL0 of
    in-control batches, so its ARL0 is 370 × the number of tests. An in-control batch
    then alarms on *some* chart at a rate of at most 0.27 % whatever the dependence
    between attributes, for normal data. The EWMA gets the same per-point tail as the
    individuals point (L = the same width); the charts then allow for the baseline's
    estimation error (``ControlChart(estimated=True)``). The run rules are outside the
    family: their rates are their own (docs/monitor.md). With one chart and one test:
    3σ, L = 2.70 and ARL0 = 370.
    """
    tests = max(n_charts, 1) * max(n_tail_rules, 1)
    if tests == 1:
        return 3.0, EWMA_L, CUSUM_ARL0
    n_sigma = float(stats.norm.isf(SINGLE_CHART_ALPHA / 2 / tests))
    return n_sigma, n_sigma, tests * CUSUM_ARL0


def _reasons_for(reasons: object, model: str) -> str:
    """The part of a scores ``reasons`` cell ("purity: ... | potency: ...") of one model."""
    if not model or not isinstance(reasons, str):
        return ""
    for part in reasons.split(" | "):
        if part.startswith(f"{model}: "):
            return part.removeprefix(f"{model}: ")
    return ""
