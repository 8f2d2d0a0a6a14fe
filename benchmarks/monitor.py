"""``exoqc monitor`` on simulated production histories: false alarms, detection delay, speed.

For each scenario of :mod:`exoqc.simulate.history` and each seed, a history of
``--n-batches`` batches (change at the middle one) is monitored with a baseline of the
first 30 batches. Three ways of watching the same batches are scored from one run:

- ``z-average 3σ``: a plain 3σ individuals chart on DLS Z-average alone (what a lab does
  today);
- ``exoqc plug-in``: exoqc's charts before the prediction limits: 3σ individuals + EWMA on
  every quality attribute with the baseline's mean and σ plugged into the known-parameter
  formulas, Bonferroni over the attributes only (L = 2.86 scaled);
- ``exoqc default``: 3σ individuals + EWMA on every quality attribute, prediction limits;
- ``exoqc all rules``: plus the Western Electric / Nelson run rules and the MR chart;
- ``drift``: exoqc's drift windows (their alarms, 20 batches a window).

False alarms: alarmed batches per 100 monitored batches of the in_control histories
(``--control-batches`` long). The batches before a change are not counted again: a
scenario's history is the in_control history of its seed up to the change (same random
streams), so they would count the same batches up to five times. Drift: alarmed windows
per in-control window, with the tests that alarmed. Detection delay: batches from the first
changed batch to the first alarmed one (0 = the first changed batch alarmed); "-" when
no alarm came before the history ended. Then the time to monitor ``--speed-batches``
in-control batches, MLflow run with figures and certificates included.

The models are trained here on a reference cohort (``--train-preps``, seed 20261) in a
temporary MLflow store, unless ``--tracking-uri`` names a store with champion models.

    .venv/bin/python benchmarks/monitor.py            # seeds 7001-7005: never tuned on
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

SETS = {
    "exoqc default": (None, {"beyond_3sigma", "ewma"}),
    "exoqc all rules": (None, None),
}
WATCHES = ["z-average 3σ", "exoqc plug-in", *SETS, "drift"]


def plain_z_average(result) -> set[int]:
    """A plain 3σ individuals chart on Z-average alone, limits from the same baseline."""
    from exoqc.monitor.charts import ControlChart

    values = result.charts["dls_z_average_nm"].values
    chart = ControlChart(n_sigma=3.0).fit(values[result.baseline])
    return {p for p, _ in chart.violations(values, ("beyond_3sigma",))}


def plug_in(result) -> tuple[set[int], dict[str, int]]:
    """The charts as they were before prediction limits: plug-in limits, Bonferroni over
    the attributes only (n_sigma = z(0.27 %/2k), L = 2.86·n_sigma/3); alarmed positions
    and alarmed batches per attribute:rule."""
    from scipy import stats

    from exoqc.monitor.charts import EWMA_L, ControlChart

    charted = [c for c in result.charts.values() if c.chart is not None]
    n_sigma = float(stats.norm.isf(0.0027 / 2 / len(charted)))
    hits: set[int] = set()
    by: dict[str, int] = {}
    monitored = set(result.monitored.tolist())
    for c in charted:
        chart = ControlChart(n_sigma=n_sigma, ewma_l=EWMA_L * n_sigma / 3).fit(
            c.values[result.baseline])
        for p, rule in chart.violations(c.values, ("beyond_3sigma", "ewma")):
            if p in monitored:
                hits.add(p)
                key = f"{c.attribute.name}:{rule}"
                by[key] = by.get(key, 0) + 1
    return hits, by


def alarmed_positions(result, attributes, rules) -> set[int]:
    a = result.alarms
    if attributes is not None:
        a = a[a["attribute"].isin(attributes)]
    if rules is not None:
        a = a[a["rule"].isin(rules)]
    position = {p: i for i, p in enumerate(result.history["prep_id"])}
    return {position[p] for p in a["prep_id"]}


def drift_positions(result) -> set[int]:
    out: set[int] = set()
    for w in result.drift_alarms:
        out.add(w.last)  # a window alarms when its last batch is in
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[7001, 7002, 7003, 7004, 7005])
    parser.add_argument("--n-batches", type=int, default=100)
    parser.add_argument("--control-batches", type=int, default=300,
                        help="length of the in_control histories")
    parser.add_argument("--train-preps", type=int, default=1000)
    parser.add_argument("--speed-batches", type=int, default=1000)
    parser.add_argument("--tracking-uri", default=None)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="exoqc-monitor-bench-"))
    os.environ["MLFLOW_TRACKING_URI"] = args.tracking_uri or f"sqlite:///{work}/mlflow.db"
    from exoqc import tracking
    from exoqc.inference.score import Scorer, ScoreSettings
    from exoqc.monitor.charts import RULES
    from exoqc.monitor.run import MonitorSettings, monitor
    from exoqc.simulate import simulate_cohort
    from exoqc.simulate.history import SCENARIOS, simulate_history

    if args.tracking_uri is None:
        from exoqc.training.job import TrainSettings, train

        t0 = time.perf_counter()
        cohort = simulate_cohort(work / "reference", args.train_preps, 20261)
        train(cohort, target="all", settings=TrainSettings(n_trials=5, seed=0))
        print(f"trained both models on {args.train_preps} reference preps in "
              f"{time.perf_counter() - t0:.0f} s")
    tracking.configure()
    scorer = Scorer.load(ScoreSettings())
    settings = MonitorSettings(rules=tuple(RULES), log_to_mlflow=False, n_jobs=2)
    start = args.n_batches // 2 + 1
    rows = []
    per_attribute: list[pd.Series] = []
    before_attribute: dict[str, int] = {}
    windows = {"windows": 0, "alarmed": 0, "moved": 0, "classifier": 0, "domain": 0}
    for scenario in SCENARIOS:
        for seed in args.seeds:
            length = args.control_batches if scenario == "in_control" else args.n_batches
            folder = simulate_history(work / f"{scenario}-{seed}", length, seed, scenario)
            result = monitor([folder], settings, scorer=scorer)
            monitored = set(result.monitored.tolist())
            changed = {p for p in monitored if p + 1 >= start} if scenario != "in_control" \
                else set()
            # Before a change: the in_control history's batches again (module docstring).
            control = monitored - changed if scenario == "in_control" else set()
            for name in WATCHES:
                if name == "drift":
                    hits = drift_positions(result)
                elif name == "z-average 3σ":
                    hits = plain_z_average(result)
                elif name == "exoqc plug-in":
                    hits, by = plug_in(result)
                    if not changed:
                        for key, count in by.items():
                            before_attribute[key] = before_attribute.get(key, 0) + count
                else:
                    hits = alarmed_positions(result, *SETS[name])
                hits &= monitored
                false = len(hits & control)
                after = sorted(p for p in hits if p in changed)
                delay = after[0] + 1 - start if after else np.nan
                rows.append({"scenario": scenario, "seed": seed, "watch": name,
                             "control_batches": len(control), "false_alarms": false,
                             "delay": delay})
            if not changed:
                default = result.alarms[result.alarms["rule"].isin(SETS["exoqc default"][1])]
                per_attribute.append(default.groupby(
                    default["attribute"] + ":" + default["rule"])["prep_id"].nunique())
                for w in result.drift:
                    windows["windows"] += 1
                    windows["alarmed"] += w.alarm
                    windows["moved"] += len(w.moved) > 0
                    windows["classifier"] += "classifier" in w.message
                    windows["domain"] += "applicability domain" in w.message
    table = pd.DataFrame(rows)
    control = table.groupby("watch")[["false_alarms", "control_batches"]].sum()
    rate = 100 * control["false_alarms"] / control["control_batches"]
    print(f"\nseeds {args.seeds}, in_control histories of {args.control_batches} batches, "
          f"change histories of {args.n_batches}, baseline 30, change at batch {start}\n")
    print("false alarms per 100 in-control batches (alarmed batches of the in_control "
          "histories; drift: batches ending an alarmed window):")
    for name in WATCHES:
        print(f"  {name:16s} {rate[name]:5.2f}  ({control.at[name, 'false_alarms']} of "
              f"{control.at[name, 'control_batches']})")
    print("  target for exoqc: at most 0.27 per 100 (ARL0 ≥ 370, one 3σ chart of normal data; "
          "Bonferroni over its 8 attributes × 2 tests, prediction limits)")
    counts = pd.concat(per_attribute, axis=1).fillna(0).sum(axis=1).sort_values()[::-1]
    print("  exoqc default, alarmed in-control batches by attribute:rule: "
          + ", ".join(f"{k} {int(v)}" for k, v in counts.items()))
    print("  exoqc plug-in, the same: " + ", ".join(
        f"{k} {v}" for k, v in sorted(before_attribute.items(), key=lambda kv: -kv[1])))
    print(f"drift windows of the in_control histories: {windows['alarmed']} of "
          f"{windows['windows']} alarmed (a feature moved {windows['moved']}, classifier "
          f"{windows['classifier']}, applicability domain {windows['domain']})")
    print("\ndetection delay in batches, median over seeds (detected / seeds):")
    changes = [s for s in SCENARIOS if s != "in_control"]
    print(f"  {'':16s} " + " ".join(f"{c:>16s}" for c in changes))
    for name in WATCHES:
        cells = []
        for change in changes:
            d = table[(table["watch"] == name) & (table["scenario"] == change)]["delay"]
            found = d.notna().sum()
            median = f"{d.median():.0f}" if found else "-"
            cells.append(f"{median} ({found}/{len(d)})")
        print(f"  {name:16s} " + " ".join(f"{c:>16s}" for c in cells))

    folder = simulate_history(work / "speed", args.speed_batches, args.seeds[0], "in_control")
    t0 = time.perf_counter()
    result = monitor([folder], MonitorSettings(n_jobs=2), scorer=scorer)
    total = time.perf_counter() - t0
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings_s.items())
    print(f"\nmonitor {args.speed_batches} batches (MLflow run, figures, "
          f"{args.speed_batches} certificates): {total:.1f} s ({parts})")


if __name__ == "__main__":
    main()
