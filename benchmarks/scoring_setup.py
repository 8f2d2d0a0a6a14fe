"""Set-up shared by the scoring benchmarks: both models in an MLflow store, a batch to score.

Imported by ``score_throughput.py`` and ``spark_vs_local.py`` (run from the repository
root, Python puts ``benchmarks/`` on the path).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from exoqc.simulate import simulate_cohort
from exoqc.training.job import TrainSettings, train


def add_arguments(parser: argparse.ArgumentParser, *, n_preps: int, repeats: int,
                  train_preps: int, n_trials: int) -> None:
    """The options both benchmarks take, with each one's defaults."""
    parser.add_argument("--n-preps", type=int, default=n_preps)
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--train-preps", type=int, default=train_preps)
    parser.add_argument("--n-trials", type=int, default=n_trials)
    parser.add_argument("--store", help="MLflow tracking URI that already has both models")


def models_and_batch(args: argparse.Namespace, root: Path, jobs: int) -> Path:
    """Point MLflow at ``args.store``, or at a new store in ``root`` where both models are
    trained on a simulated reference cohort; then simulate the batch to score (its folder)."""
    os.environ["MLFLOW_TRACKING_URI"] = args.store or f"sqlite:///{root / 'mlflow.db'}"
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    if not args.store:
        print(f"training on {args.train_preps} preps ({args.n_trials} trials) ...", flush=True)
        cohort = simulate_cohort(root / "train", args.train_preps, seed=4100)
        train(cohort, settings=TrainSettings(n_trials=args.n_trials, n_jobs=jobs))
    print(f"simulating {args.n_preps} preps to score ...", flush=True)
    start = time.perf_counter()
    batch = simulate_cohort(root / "batch", args.n_preps, seed=4242)
    print(f"  {time.perf_counter() - start:.0f} s", flush=True)
    return batch
