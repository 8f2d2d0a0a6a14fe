"""``exoqc monitor`` on simulated production histories: false alarms, detection delay, speed.

For each scenario of :mod:`exoqc.simulate.history` and each seed, a history of
``--n-batches`` batches (change at the middle one) is monitored with a baseline of the
first 30 batches. Three ways of watching the same batches are scored from one run:

- ``z-average 3σ``: a plain 3σ individuals chart on DLS Z-average alone (what a lab does
  today);
- ``exoqc default``: 3σ individuals + EWMA on every quality attribute;
- ``exoqc all rules``: plus the Western Electric / Nelson run rules and the MR chart;
- ``drift``: exoqc's drift windows (their alarms, 20 batches a window).

False alarms: alarmed batches per 100 monitored in-control batches (the in_control
histories and the batches before each change). Detection delay: batches from the first
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
WATCHES = ["z-average 3σ", *SETS, "drift"]


def plain_z_average(result) -> set[int]:
    """A plain 3σ individuals chart on Z-average alone, limits from the same baseline."""
    from exoqc.monitor.charts import ControlChart

    values = result.charts["dls_z_average_nm"].values
    chart = ControlChart(n_sigma=3.0).fit(values[result.baseline])
    return {p for p, _ in chart.violations(values, ("beyond_3sigma",))}


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
    for scenario in SCENARIOS:
        for seed in args.seeds:
            folder = simulate_history(work / f"{scenario}-{seed}", args.n_batches, seed,
                                      scenario)
            result = monitor([folder], settings, scorer=scorer)
            monitored = set(result.monitored.tolist())
            changed = {p for p in monitored if p + 1 >= start} if scenario != "in_control" \
                else set()
            control = monitored - changed
            for name in WATCHES:
                if name == "drift":
                    hits = drift_positions(result)
                elif name == "z-average 3σ":
                    hits = plain_z_average(result)
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
                per_attribute.append(default.groupby("attribute")["prep_id"].nunique())
    table = pd.DataFrame(rows)
    control = table.groupby("watch")[["false_alarms", "control_batches"]].sum()
    rate = 100 * control["false_alarms"] / control["control_batches"]
    print(f"\nseeds {args.seeds}, {args.n_batches} batches per history, baseline 30, change "
          f"at batch {start}\n")
    print("false alarms per 100 in-control batches (alarmed batches; drift: windows):")
    for name in WATCHES:
        print(f"  {name:16s} {rate[name]:5.1f}  ({control.at[name, 'false_alarms']} of "
              f"{control.at[name, 'control_batches']})")
    print("  theory, one 3σ individuals chart of normal data: 0.27 (ARL0 370); exoqc's "
          "limits are Bonferroni-widened over its charts to the same family rate")
    counts = pd.concat(per_attribute, axis=1).fillna(0).sum(axis=1).sort_values()[::-1]
    print(f"  exoqc default, alarmed in-control batches by attribute ({len(args.seeds)} in_control "
          "histories): " + ", ".join(f"{k} {int(v)}" for k, v in counts.items()))
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
