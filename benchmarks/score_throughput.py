"""Throughput of ``exoqc score`` end to end, and where the time goes.

Simulates a batch (default 10,000 preparations, written as instrument files), trains the
two models on a reference cohort into a temporary MLflow store (or uses ``--store``), then
scores the batch with the local engine (files -> features -> both models -> SHAP reasons ->
scores file, then the MLflow scoring run) ``--repeats`` times and prints the median of each
stage, beside:

- the DLS part (file reading + cumulants + inversion, timed inside the feature step), and
- bare prediction: ``booster.predict`` of both models and ``TreeExplainer.shap_values`` on
  the same feature matrix.

Issue targets: >= 300 preps/s end to end on 2 cores; everything but DLS inversion and file
reading within 3x of bare prediction + TreeExplainer.

    .venv/bin/python benchmarks/score_throughput.py
    .venv/bin/python benchmarks/score_throughput.py --n-preps 2000 --repeats 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import shap
import xgboost as xgb
from scoring_setup import add_arguments, models_and_batch

from exoqc.dataset import load_dataset
from exoqc.features import build_features
from exoqc.inference.score import Scorer, ScoreSettings, score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser, n_preps=10000, repeats=3, train_preps=2000, n_trials=5)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="exoqc-score-bench-") as tmp:
        root = Path(tmp)
        batch = models_and_batch(args, root, args.jobs)
        settings = ScoreSettings(n_jobs=args.jobs)
        scorer = Scorer.load(settings)

        runs = []
        for k in range(args.repeats):
            result = score(batch, root / f"scores{k}.csv", settings, scorer=scorer)
            runs.append(result.timings_s)
            print(f"  run {k + 1}: {sum(result.timings_s.values()):.1f} s", flush=True)

        dataset = load_dataset(batch, errors="collect")
        features = build_features(dataset, n_jobs=args.jobs).frame
        bare_times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            for model in scorer.models.values():
                predictor = model.predictor
                matrix = xgb.DMatrix(
                    features[list(predictor.spec.feature_names)].to_numpy(np.float32),
                    feature_names=list(predictor.spec.feature_names))
                predictor.booster.predict(matrix)
                shap.TreeExplainer(predictor.booster).shap_values(
                    features[list(predictor.spec.feature_names)].to_numpy(np.float32))
            bare_times.append(time.perf_counter() - start)

    stages = {stage: statistics.median(r[stage] for r in runs) for stage in runs[0]}
    scored = sum(t for s, t in stages.items() if s != "mlflow run")
    total = sum(stages.values())
    bare = statistics.median(bare_times)
    n = args.n_preps
    print()
    print(f"{n} preps, {args.jobs} worker(s), median of {args.repeats}")
    print(f"{'stage':24} {'s':>8} {'share':>7}")
    for stage, seconds in stages.items():
        print(f"{stage:24} {seconds:8.2f} {seconds / total:7.1%}")
    print(f"{'total':24} {total:8.2f}")
    print()
    print(f"end to end, files -> scores file: {scored:.1f} s = {n / scored:.0f} preps/s")
    print(f"with the MLflow scoring run:      {total:.1f} s = {n / total:.0f} preps/s")
    dls = stages["features: dls"]
    print(f"DLS files (read + analyse):       {dls:.1f} s")
    print(f"bare predict + TreeExplainer:     {bare:.2f} s (both models)")
    rest = scored - stages["read and validate"] - dls - stages["load models"]
    print(f"everything but DLS and reading:   {rest:.2f} s = {rest / bare:.1f}x bare")


if __name__ == "__main__":
    main()
