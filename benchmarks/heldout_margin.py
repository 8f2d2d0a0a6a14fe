"""How reliably does a trained model beat its baselines on the run's own held-out split?

Every ``exoqc train`` run holds out about 20 % of the preparations by batch and records the
model's margin over the best baseline there. On a small cohort that split is small and the
margin is noisy. This script simulates one cohort (default: the reference cohort, 5,000
preparations, seed 20181), then trains on it with several split seeds (each a different
held-out split, CV folds and search) into a temporary MLflow store and prints, per target,
the model's held-out metric, the best baseline's and the margin, per seed and their median.

    .venv/bin/python benchmarks/heldout_margin.py                    # reference cohort
    .venv/bin/python benchmarks/heldout_margin.py --n-preps 2000     # the previous default
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from exoqc.config import get_settings
from exoqc.contracts import PRIMARY_METRIC
from exoqc.dataset import load_dataset
from exoqc.simulate import simulate_cohort
from exoqc.training.job import TrainSettings, train


def main() -> None:
    defaults = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-preps", type=int, default=defaults.reference_cohort_size)
    parser.add_argument("--seed", type=int, default=defaults.reference_cohort_seed)
    parser.add_argument("--split-seeds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        cohort = simulate_cohort(Path(tmp) / "cohort", args.n_preps, args.seed)
        dataset = load_dataset(cohort, errors="raise")
        print(f"cohort: {args.n_preps} preparations, seed {args.seed}; "
              f"{args.split_seeds} split seeds, {os.cpu_count()} cores")
        margins: dict[str, list[float]] = {"purity": [], "potency": []}
        for split_seed in range(args.split_seeds):
            start = time.perf_counter()
            results = train(dataset, "all", TrainSettings(seed=split_seed))
            elapsed = time.perf_counter() - start
            for target, result in results.items():
                metric = PRIMARY_METRIC[target]
                best = max(result.baseline_metrics,
                           key=lambda name, m=metric: result.baseline_metrics[name][m])
                model = result.test_metrics[metric]
                baseline = result.baseline_metrics[best][metric]
                margins[target].append(model - baseline)
                print(f"  seed {split_seed} {target:<8} {metric} {model:.3f}   best baseline "
                      f"({best}) {baseline:.3f}   margin {model - baseline:+.3f}")
            print(f"  seed {split_seed} train of both models: {elapsed:.0f} s")
        for target, values in margins.items():
            print(f"{target}: median margin {np.median(values):+.3f} (range "
                  f"{min(values):+.3f} to {max(values):+.3f}); model ahead in "
                  f"{sum(v > 0 for v in values)} of {len(values)} splits")


if __name__ == "__main__":
    main()
