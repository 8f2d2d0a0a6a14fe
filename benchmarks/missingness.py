"""How far does a call move when one measurement is left out, with and without masking?

Trains both models on a simulated cohort twice into temporary MLflow stores, with
measurement-group masking (``TrainSettings.mask_rate``, the default 0.15) and without
(0.0), then scores a held-out cohort of another seed as measured and with each measurement
group (DLS, NTA, BCA, markers, qPCR) removed from the preparations that had it. Prints the
mean total-variation distance between the class probabilities and the share of calls that
change.

    .venv/bin/python benchmarks/missingness.py --n-preps 600 --n-trials 3 --n-folds 3
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

from exoqc.dataset import load_dataset
from exoqc.features import build_features
from exoqc.features.groups import group_features
from exoqc.model.load import load_model
from exoqc.simulate import simulate_cohort
from exoqc.training.job import TrainSettings, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-preps", type=int, default=600)
    parser.add_argument("--n-trials", type=int, default=3)
    parser.add_argument("--n-folds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cohort = simulate_cohort(Path(tmp) / "cohort", args.n_preps, 11)
        heldout = simulate_cohort(Path(tmp) / "heldout", 300, 12)
        features = build_features(load_dataset(heldout, errors="collect"), n_jobs=1).frame
        for rate in (0.15, 0.0):
            os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mask{rate}.db"
            train(cohort, "all", TrainSettings(n_trials=args.n_trials, n_folds=args.n_folds,
                                               seed=0, mask_rate=rate))
            for target in ("purity", "potency"):
                model = load_model(f"models:/exoqc-{target}@champion").predictor
                before = model.predict_proba(features)
                for group, names in group_features().items():
                    columns = list(names)
                    had = features[columns].notna().any(axis=1).to_numpy()
                    removed = features.copy()
                    removed.loc[:, columns] = np.nan
                    after = model.predict_proba(removed)
                    shift = 0.5 * np.abs(after - before).sum(axis=1)[had]
                    changed = (after.argmax(1) != before.argmax(1))[had].mean()
                    print(f"train {args.n_preps} preps, mask_rate {rate}: {target:<7} without "
                          f"{group:<7} mean shift {shift.mean():.3f}, calls changed "
                          f"{changed:.1%} (n={had.sum()})", flush=True)


if __name__ == "__main__":
    main()
