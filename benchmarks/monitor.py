"""``exoqc monitor`` on simulated production histories: false alarms, detection delay, speed.

For each scenario of :mod:`exoqc.simulate.history` and each seed, a history of
``--n-batches`` batches (change at the middle one) is monitored with a baseline of the
first 30 batches. Several ways of watching the same batches are scored from one run:

- ``z-average 3σ``: a plain 3σ individuals chart on DLS Z-average alone, the baseline's
  mean and σ plugged in (what a lab does today); ``z-average EWMA``: a plain EWMA on it
  (λ = 0.1, L = 2.70, plugged in);
- ``exoqc default``: the self-starting CUSUM (k = 0.5, scores winsorized at ±3,
  restarted after a signal) of every attribute, sizes on the log scale, ARL0 = 370 × the
  attributes (Bonferroni) (the alarms of ``exoqc monitor``);
- ``exoqc EWMA (before)``: the last round's default, ``--rule ewma``: the EWMA (λ = 0.1)
  of every attribute with prediction limits, Bonferroni over the attributes;
  ``EWMA + CUSUM``: both, Bonferroni over both;
- ``+ beyond_3sigma``, ``+ <run rule>``: the default plus that rule (the individuals point
  joins the Bonferroni family; the run rules do not); ``all rules``: every rule;
- ``drift``: exoqc's drift windows (their alarms, 20 batches a window).

False alarms, in two units. *Signals* per 100 monitored batches of the in_control
histories (``--control-batches`` long): a run of consecutive alarmed batches counts
once. This is the unit of the target: an ARL0 of 370 is the mean number of in-control
batches to a chart's first alarm, after which the chart is investigated and restarted
(the CUSUM restarts itself), so a chart with ARL0 370 signals on 100/370 = 0.27 of every
100 in-control batches. *Alarmed batches* per 100: every batch with an alarm, which is
what a chart that stays out for a while (an EWMA after an excursion) costs in batches to
look at. The batches before a change are not counted again: a scenario's history is the
in_control history of its seed up to the change (same random streams), so they would
count the same batches up to five times. Drift: alarmed windows per in-control window,
with the tests that alarmed. Detection delay: batches from the first changed batch to
the first alarmed one (0 = the first changed batch alarmed); "-" when no alarm came
before the history ended. Then the time to monitor ``--speed-batches`` in-control
batches, MLflow run with figures and certificates included.

The models are trained here on a reference cohort (``--train-preps``, seed 20261) in a
temporary MLflow store, unless ``--tracking-uri`` names a store with champion models.

    nice -n 10 .venv/bin/python benchmarks/monitor.py   # held-out seeds 9201-9220
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

DEV_SEEDS = (101, 102, 103, 104, 105, 106, 107, 108, 7001, 7002, 7003, 7004, 7005,
             *range(9101, 9121))
"""Seeds the charts were developed on (the last rounds' and this one's: 9101-9120 were
the EWMA's held-out seeds, on which the CUSUM was then chosen); the default seeds are
not among them."""
HELD_OUT_SEEDS = tuple(range(9201, 9211))
"""Change histories: 10 per change, so that a delay's median and the share of histories
that alarm are not one or two draws."""
CONTROL_SEEDS = tuple(range(9201, 9221))
"""In-control histories: 20 of 300 batches (5,400 monitored), about 15 signals at the
target rate."""
RUN_RULES = ("2_of_3_beyond_2sigma", "4_of_5_beyond_1sigma", "8_same_side", "6_trending",
             "moving_range")
WATCHES = ["z-average 3σ", "z-average EWMA", "exoqc default", "exoqc EWMA (before)",
           "EWMA + CUSUM", "+ beyond_3sigma", *(f"+ {r}" for r in RUN_RULES), "all rules",
           "drift"]


def plain_z_average(result, rule: str) -> set[int]:
    """A plain chart on Z-average alone, plug-in limits from the same baseline."""
    from exoqc.monitor.charts import ControlChart

    values = result.charts["dls_z_average_nm"].values
    chart = ControlChart(n_sigma=3.0, ewma_lambda=0.1, ewma_l=2.70).fit(
        values[result.baseline])
    return {p for p, _ in chart.violations(values, (rule,))}


def exoqc_charts(result, rules: tuple[str, ...]) -> tuple[set[int], dict[str, int]]:
    """exoqc's charts with other rules: alarmed positions and alarmed batches per
    attribute:rule among the monitored ones."""
    from exoqc.monitor.charts import ControlChart
    from exoqc.monitor.run import TAIL_RULES, family_limits

    charted = [c for c in result.charts.values() if c.chart is not None]
    n_sigma, ewma_l, cusum_arl0 = family_limits(len(charted),
                                                sum(r in TAIL_RULES for r in rules))
    hits: set[int] = set()
    by: dict[str, int] = {}
    monitored = set(result.monitored.tolist())
    start = int(result.baseline[-1]) + 1
    for c in charted:
        chart = ControlChart(n_sigma=n_sigma, ewma_l=ewma_l, estimated=True,
                             transform=c.attribute.transform, cusum_arl0=cusum_arl0)
        for p, rule in chart.fit(c.values[result.baseline]).violations(c.values, rules,
                                                                         start):
            if p in monitored:
                hits.add(p)
                key = f"{c.attribute.name}:{rule}"
                by[key] = by.get(key, 0) + 1
    return hits, by


def alarmed_positions(result) -> set[int]:
    position = {p: i for i, p in enumerate(result.history["prep_id"])}
    return {position[p] for p in result.alarms["prep_id"]}


def drift_positions(result) -> set[int]:
    return {w.last for w in result.drift_alarms}  # a window alarms when its last batch is in


def watch(result, name: str) -> tuple[set[int], dict[str, int]]:
    """Alarmed positions of one watch, and its alarms per attribute:rule (exoqc's)."""
    from exoqc.monitor.charts import RULES

    if name == "drift":
        return drift_positions(result), {}
    if name == "z-average 3σ":
        return plain_z_average(result, "beyond_3sigma"), {}
    if name == "z-average EWMA":
        return plain_z_average(result, "ewma"), {}
    if name == "exoqc EWMA (before)":
        return exoqc_charts(result, ("ewma",))
    if name == "EWMA + CUSUM":
        return exoqc_charts(result, ("ewma", "cusum"))
    if name == "exoqc default":
        a = result.alarms
        return alarmed_positions(result), a.groupby(a["attribute"] + ":" + a["rule"])[
            "prep_id"].nunique().to_dict()
    if name == "all rules":
        return exoqc_charts(result, tuple(RULES))
    return exoqc_charts(result, ("cusum", name.removeprefix("+ ")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(HELD_OUT_SEEDS),
                        help="seeds of the histories with a change")
    parser.add_argument("--control-seeds", type=int, nargs="+", default=list(CONTROL_SEEDS),
                        help="seeds of the in_control histories")
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
    settings = MonitorSettings(log_to_mlflow=False, n_jobs=2)
    start = args.n_batches // 2 + 1
    rows = []
    by_rule: dict[str, dict[str, int]] = {name: {} for name in WATCHES}
    windows = {"windows": 0, "alarmed": 0, "moved": 0, "classifier": 0, "domain": 0}
    for scenario in SCENARIOS:
        for seed in args.control_seeds if scenario == "in_control" else args.seeds:
            length = args.control_batches if scenario == "in_control" else args.n_batches
            folder = simulate_history(work / f"{scenario}-{seed}", length, seed, scenario)
            result = monitor([folder], settings, scorer=scorer)
            monitored = set(result.monitored.tolist())
            changed = {p for p in monitored if p + 1 >= start} if scenario != "in_control" \
                else set()
            # Before a change: the in_control history's batches again (module docstring).
            control = monitored - changed if scenario == "in_control" else set()
            for name in WATCHES:
                hits, by = watch(result, name)
                hits &= monitored
                after = sorted(p for p in hits if p in changed)
                rows.append({"scenario": scenario, "seed": seed, "watch": name,
                             "control_batches": len(control),
                             "false_alarms": len(hits & control),
                             # a signal: an alarmed batch whose previous one was not
                             "signals": sum(p - 1 not in hits for p in hits & control),
                             "alarmed_histories": int(bool(hits & control)),
                             "histories": int(bool(control)),
                             "delay": after[0] + 1 - start if after else np.nan})
                if scenario == "in_control":
                    for key, count in by.items():
                        by_rule[name][key] = by_rule[name].get(key, 0) + count
            if scenario == "in_control":
                for w in result.drift:
                    windows["windows"] += 1
                    windows["alarmed"] += w.alarm
                    windows["moved"] += len(w.moved) > 0
                    windows["classifier"] += "classifier" in w.message
                    windows["domain"] += "applicability domain" in w.message
    table = pd.DataFrame(rows)
    control_counts = table.groupby("watch")[["false_alarms", "control_batches", "signals",
                                              "alarmed_histories", "histories"]].sum()
    rate = 100 * control_counts["false_alarms"] / control_counts["control_batches"]
    held_out = ("held out" if not set(args.seeds + args.control_seeds) & set(DEV_SEEDS)
                else "NOT held out")
    print(f"\nseeds {args.seeds}, in-control seeds {args.control_seeds} ({held_out}; "
          f"developed on {list(DEV_SEEDS)}), in_control "
          f"histories of {args.control_batches} batches, change histories of "
          f"{args.n_batches}, baseline 30, change at batch {start}\n")
    print("false alarms per 100 in-control batches: signals (a run of alarmed batches counts "
          "once: the unit of ARL0), alarmed batches (drift: batches ending an alarmed "
          "window), in-control batches per signal, in-control histories with any alarm:")
    for name in WATCHES:
        false, batches, signals, alarmed, histories = (
            int(v) for v in control_counts.loc[name].to_numpy())
        per_signal = f"{batches / signals:6.0f}" if signals else "     -"
        print(f"  {name:26s} signals {100 * signals / batches:5.2f} ({signals:4d})  alarmed "
              f"batches {rate[name]:5.2f} ({false:4d} of {batches})  batches/signal "
              f"{per_signal}  histories {alarmed} of {histories}")
    print("  target for exoqc default: at most 0.27 signals per 100 (ARL0 ≈ 370, one 3σ chart "
          "of normal data; Bonferroni over the attributes' CUSUMs)")
    for name in ("exoqc default", "+ beyond_3sigma", "exoqc EWMA (before)"):
        counts = sorted(by_rule[name].items(), key=lambda kv: -kv[1])
        print(f"  {name}, alarmed in-control batches by attribute:rule: "
              + (", ".join(f"{k} {v}" for k, v in counts) or "none"))
    print(f"drift windows of the in_control histories: {windows['alarmed']} of "
          f"{windows['windows']} alarmed (a feature moved {windows['moved']}, classifier "
          f"{windows['classifier']}, applicability domain {windows['domain']})")
    print("\ndetection delay in batches, median over seeds (detected / seeds):")
    changes = [s for s in SCENARIOS if s != "in_control"]
    print(f"  {'':26s} " + " ".join(f"{c:>15s}" for c in changes))
    for name in WATCHES:
        cells = []
        for change in changes:
            d = table[(table["watch"] == name) & (table["scenario"] == change)]["delay"]
            found = d.notna().sum()
            median = f"{d.median():.0f}" if found else "-"
            cells.append(f"{median} ({found}/{len(d)})")
        print(f"  {name:26s} " + " ".join(f"{c:>15s}" for c in cells))

    folder = simulate_history(work / "speed", args.speed_batches, args.seeds[0], "in_control")
    t0 = time.perf_counter()
    result = monitor([folder], MonitorSettings(n_jobs=2), scorer=scorer)
    total = time.perf_counter() - t0
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings_s.items())
    print(f"\nmonitor {args.speed_batches} batches (MLflow run, figures, "
          f"{args.speed_batches} certificates): {total:.1f} s ({parts})")


if __name__ == "__main__":
    main()
