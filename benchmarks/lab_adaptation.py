"""How many labelled preparations of its own does a lab need, and what does the prior buy?

For each simulated lab (random labs drawn by lab seed; the default seeds 411-415 were never
used while developing the method; 101-105, 211-215 and 311-315 were measured before, and the
rule that keeps the prior while a class is in fewer than five batches was written after
seeing 211-215 and 311-315), simulate once

- a training pool (``--pool`` preparations, its own batches) from which each repeat draws
  N labelled preparations batch by batch (a lab's preparations come in batches),
- a held-out set (``--n-eval`` preparations, other batches) every model is scored on,
- a ceiling set (``--n-ceiling`` preparations): XGBoost with the prior's fixed parameters
  trained on that many of the lab's own preparations,

and, per N and repeat, fit on the N preparations: the reference model only (the prior
booster, no adaptation), lab only (shallow XGBoost on the N), with prior (the candidate
``exoqc train`` chooses by repeated grouped CV on the N, refitted on all N), best CV mean
(the candidate of the best CV mean, without the one-standard-error rule), the best
tuned rule (the better of the MISEV checklist and the particle/protein-ratio rule, each
tuned on the N; the better one *on the held-out set*, which favours the rules), and the
logistic regression on the N. Prints per N the mean and range over labs × repeats of
purity macro-F1 and potency ROC-AUC, and each lab's ceiling.

The prior is a reference cohort (``--n-reference`` preparations of the reference lab,
seed 20181) featurized once; pooling uses ``POOL_REFERENCE_ROWS`` of it.

    nice -n 10 .venv/bin/python benchmarks/lab_adaptation.py                # full: 5 labs
    nice -n 10 .venv/bin/python benchmarks/lab_adaptation.py --labs 101 102 103 \\
        --repeats 2 --n-reference 2000 --n-eval 1000 --n-ceiling 2000       # reduced

Everything runs on one core per model (the machine is shared); simulation and features
dominate the time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.model_selection import GroupKFold

from exoqc.contracts import PRIMARY_METRIC, TARGETS
from exoqc.dataset import LABEL_VALUES, load_dataset
from exoqc.features import build_features
from exoqc.model.predictor import Calibration
from exoqc.simulate import simulate_cohort
from exoqc.training import adapt, baselines
from exoqc.training.candidates import PRIOR_HYPER, PRIOR_ROUNDS, candidate_by_name
from exoqc.training.fit import booster_labels, booster_params, to_matrix
from exoqc.training.label_plan import plan_target
from exoqc.training.prior import reference_features, reference_prior
from exoqc.training.repeated_cv import N_REPEATS, metric_of
from exoqc.training.split import batch_groups

COLUMNS = ["lab", "target", "n", "method", "score"]
METHODS = ("reference only", "lab only", "with prior", "best CV mean", "best rule", "logistic",
           "ceiling")


def simulated(folder: Path, n: int, seed: int, lab_seed: int | None = None) -> Path:
    """The cohort, simulated unless an earlier run with ``--work`` left it complete."""
    if (folder / "simulation_truth.csv").is_file():  # written last
        return folder
    return simulate_cohort(folder, n, seed=seed, lab_seed=lab_seed)


def featurized(folder: Path, n_jobs: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cohort's features, cached beside it (a later run with ``--work`` reuses them)."""
    dataset = load_dataset(folder, errors="raise")
    cache = folder / ".features.parquet"
    if cache.is_file():
        frame = pd.read_parquet(cache)
    else:
        frame = build_features(dataset, n_jobs=n_jobs).frame
        frame.to_parquet(cache)
    return frame, dataset.preps.loc[frame.index]


def positions(preps: pd.DataFrame, target: str) -> np.ndarray:
    classes = LABEL_VALUES[f"{target}_class"]
    return preps[f"{target}_class"].map({c: i for i, c in enumerate(classes)}).to_numpy(int)


def draw(groups: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Rows of whole batches in random order until n, the last batch cut to fit."""
    rows = []
    for g in rng.permutation(np.unique(groups)):
        rows.extend(np.flatnonzero(groups == g))
        if len(rows) >= n:
            break
    return np.sort(np.asarray(rows[:n]))


def score(proba: np.ndarray, y: np.ndarray, target: str) -> float:
    classes = LABEL_VALUES[f"{target}_class"]
    return metric_of(proba, y, classes, PRIMARY_METRIC[target])


def ceiling(x: pd.DataFrame, y: np.ndarray, target: str, seed: int) -> xgb.Booster:
    kind = "multiclass" if target == "purity" else "binary"
    params = booster_params(kind, PRIOR_HYPER, 3 if kind == "multiclass" else 2, seed, 1)
    return xgb.train(params, to_matrix(x, booster_labels(kind, y)), PRIOR_ROUNDS)


def cross_fitted_ceiling(x: pd.DataFrame, y: np.ndarray, preps: pd.DataFrame, target: str,
                         seed: int) -> np.ndarray:
    """``--n-ceiling 0``: the ceiling cross-fitted on the held-out set itself, two folds by
    batch: each half is scored by a model trained on the other half (no preparation is
    scored by a model that saw its batch), so the ceiling costs no extra simulation."""
    width = 3 if target == "purity" else 2
    proba = np.zeros((len(y), width))
    for train, test in GroupKFold(n_splits=2).split(x, y, batch_groups(preps)):
        top = ceiling(x.iloc[train], y[train], target, seed)
        proba[test] = Calibration().probabilities(_margin(top, x.iloc[test], target))
    return proba


def one_lab(lab_seed: int, args, work: Path, prior_data: dict, rows: list) -> None:
    started = time.time()
    folders = {}
    parts = [("pool", args.pool, 1), ("eval", args.n_eval, 2)]
    if args.n_ceiling:
        parts.append(("ceiling", args.n_ceiling, 3))
    for part, n, seed in parts:
        folders[part] = simulated(work / f"lab{lab_seed}-{part}-n{n}", n,
                                  seed=lab_seed * 10 + seed, lab_seed=lab_seed)
    data = {part: featurized(folder, args.n_jobs) for part, folder in folders.items()}
    print(f"lab {lab_seed}: simulated and featurized in {time.time() - started:.0f} s",
          flush=True)
    pool_x, pool_preps = data["pool"]
    eval_x, eval_preps = data["eval"]
    groups = batch_groups(pool_preps).to_numpy()
    rng = np.random.default_rng(lab_seed)
    for target in TARGETS:
        classes = LABEL_VALUES[f"{target}_class"]
        prior = prior_data[target]
        y_pool, y_eval = positions(pool_preps, target), positions(eval_preps, target)
        if args.n_ceiling:
            x_ceiling, ceiling_preps = data["ceiling"]
            top = ceiling(x_ceiling, positions(ceiling_preps, target), target, lab_seed)
            ceiling_proba = Calibration().probabilities(_margin(top, eval_x, target))
        else:
            ceiling_proba = cross_fitted_ceiling(eval_x, y_eval, eval_preps, target, lab_seed)
        ceiling_score = score(ceiling_proba, y_eval, target)
        rows.append((lab_seed, target, 0, "ceiling", ceiling_score))
        reference = score(Calibration().probabilities(_margin(prior.booster, eval_x, target)),
                          y_eval, target)
        for n in args.sizes:
            for repeat in range(args.repeats):
                chosen = draw(groups, n, rng)
                x, y, g = pool_x.iloc[chosen], y_pool[chosen], groups[chosen]
                plan = plan_target(target, pd.Series(np.asarray(classes)[y]),
                                         pd.Series(g), True, classes)
                if not plan.trainable:
                    print(f"  lab {lab_seed} {target} N={n} r{repeat}: skipped "
                          f"({plan.refusal})", flush=True)
                    continue
                rows.append((lab_seed, target, n, "reference only", reference))
                selection = adapt.select(x, y, g, target, classes, prior, seed=repeat,
                                         n_repeats=args.cv_repeats)
                for method, picked in (("with prior", selection.chosen),
                                       ("best CV mean", selection.best_overall)):
                    # Fitted on all N as exoqc train fits it (a fallback too); a
                    # reference_margin model predicts from the reference margin, the same
                    # model as its registered continuation (tests/training).
                    fitted_model = candidate_by_name(picked.name, target, prior,
                                                           repeat).fit(x, y)
                    rows.append((lab_seed, target, n, method,
                                 score(fitted_model.predict_proba(eval_x), y_eval, target)))
                lab_only = candidate_by_name("lab_only", target, None, repeat).fit(x, y)
                rows.append((lab_seed, target, n, "lab only",
                             score(lab_only.predict_proba(eval_x), y_eval, target)))
                fitted = {}
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    for name, est in baselines.baselines_for(target).items():
                        fitted[name] = score(baselines.class_probabilities(
                            est.fit(x, y), eval_x, len(classes)), y_eval, target)
                rows.append((lab_seed, target, n, "logistic", fitted["logistic_regression"]))
                rows.append((lab_seed, target, n, "best rule",
                             max(v for k, v in fitted.items() if k != "logistic_regression")))
                if args.save:  # a run stopped for time keeps every model scored so far
                    pd.DataFrame(rows, columns=COLUMNS).to_csv(args.save, index=False)
                print(f"  lab {lab_seed} {target} N={n} r{repeat}: chose "
                      f"{selection.rule}; with prior {rows[-5][-1]:.3f}, "
                      f"lab only {rows[-3][-1]:.3f}", flush=True)


def _margin(booster: xgb.Booster, x: pd.DataFrame, target: str) -> np.ndarray:
    margin = booster.predict(to_matrix(x), output_margin=True)
    return margin.reshape(len(x), 3) if target == "purity" else margin.ravel()


def report(rows: list) -> None:
    frame = pd.DataFrame(rows, columns=["lab", "target", "n", "method", "score"])
    for target in TARGETS:
        metric = PRIMARY_METRIC[target]
        part = frame[frame["target"] == target]
        print(f"\n{target} {metric} on held-out preparations of the same lab: "
              "mean [min, max] over labs x repeats")
        print(f"{'N':>5} " + " ".join(f"{m:>21}" for m in METHODS[:-1]))
        for n, by_n in part[part["n"] > 0].groupby("n"):
            cells = []
            for method in METHODS[:-1]:
                v = by_n.loc[by_n["method"] == method, "score"]
                cells.append(f"{v.mean():.3f} [{v.min():.3f},{v.max():.3f}]" if len(v)
                             else "-")
            print(f"{n:>5} " + " ".join(f"{c:>21}" for c in cells))
        ceil = part[part["method"] == "ceiling"].set_index("lab")["score"]
        print("ceiling (own preparations, fixed parameters): "
              + ", ".join(f"lab {lab} {v:.3f}" for lab, v in ceil.items())
              + f"; mean {ceil.mean():.3f}")
        at50 = part[(part["n"] == 50) & (part["method"] == "with prior")]
        if len(at50):
            share = at50.groupby("lab")["score"].mean() / ceil
            print(f"with prior at N=50 / ceiling: mean {share.mean():.1%} "
                  f"(min {share.min():.1%})")


def figure(rows: list, path: Path) -> None:
    """The learning curve: mean over labs x repeats per N and method, ceiling dashed."""
    from matplotlib.figure import Figure

    frame = pd.DataFrame(rows, columns=["lab", "target", "n", "method", "score"])
    fig = Figure(figsize=(9, 3.8), layout="constrained")
    for ax, target in zip(fig.subplots(1, 2), TARGETS, strict=True):
        part = frame[frame["target"] == target]
        for method in METHODS[:-1]:
            curve = part[part["method"] == method].groupby("n")["score"].mean()
            ax.plot(curve.index, curve.to_numpy(), marker="o", label=method)
        ceil = part.loc[part["method"] == "ceiling", "score"].mean()
        ax.axhline(ceil, color="grey", linestyle="--", label="ceiling (trained on the lab's own)")
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(sorted(part.loc[part["n"] > 0, "n"].unique()))
        ax.set_xticklabels([str(n) for n in ax.get_xticks()])
        ax.set_xlabel("labelled preparations of the lab (N)")
        ax.set_ylabel(PRIMARY_METRIC[target].replace("_", "-"))
        ax.set_title(f"{target}: held-out preparations of the same lab", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    fig.savefig(path, dpi=110)
    print(f"figure: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labs", type=int, nargs="+", default=[411, 412, 413, 414, 415])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 50, 100, 200])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cv-repeats", type=int, default=N_REPEATS,
                        help="repeats of the grouped CV that chooses the candidate "
                        "(default: as exoqc train)")
    parser.add_argument("--work", type=Path, help="keep the simulated cohorts (and the "
                        "prior's cached features) here, to reuse them in a later run")
    parser.add_argument("--pool", type=int, default=400)
    parser.add_argument("--n-eval", type=int, default=2000)
    parser.add_argument("--n-ceiling", type=int, default=5000,
                        help="preparations of the lab's own the ceiling is trained on; 0: "
                        "cross-fitted on the held-out set (two halves by batch)")
    parser.add_argument("--n-reference", type=int, default=5000)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--save", type=Path, help="write the per-model rows here (CSV), "
                        "after each lab")
    parser.add_argument("--report", type=Path, nargs="+",
                        help="only print the tables of earlier --save files, combined")
    parser.add_argument("--figure", type=Path, help="also draw the learning curve (PNG)")
    args = parser.parse_args()
    if args.report:
        rows = pd.concat([pd.read_csv(p) for p in args.report]).values.tolist()
        report(rows)
        if args.figure:
            figure(rows, args.figure)
        return
    print(f"labs {args.labs}, N {args.sizes}, {args.repeats} repeats, pool {args.pool}, "
          f"eval {args.n_eval}, ceiling {args.n_ceiling}, reference {args.n_reference}, "
          f"CV repeats for the choice {args.cv_repeats}", flush=True)
    started = time.time()
    rows: list = []
    with tempfile.TemporaryDirectory(prefix="lab-adaptation-") as tmp:
        work = args.work or Path(tmp)
        ref = simulated(work / f"reference-n{args.n_reference}", args.n_reference, seed=20181)
        names = list(reference_features(ref, args.n_jobs)[0].columns)
        prior_data = {t: reference_prior(t, ref, names, 0, args.n_jobs) for t in TARGETS}
        print(f"reference prior ready in {time.time() - started:.0f} s", flush=True)
        for lab_seed in args.labs:
            one_lab(lab_seed, args, work, prior_data, rows)
            if args.save:
                pd.DataFrame(rows, columns=COLUMNS).to_csv(args.save, index=False)
    report(rows)
    if args.figure:
        figure(rows, args.figure)
    print(f"\ntotal {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
