"""How far naive purity rules get on a simulated cohort, and how much the data hold beyond.

Simulates a cohort of 2,000 preparations with the reference cohort's seed (20181), builds
the feature table, cross-validates by batch (stratified group 5-fold: a batch is never on
both sides), fits

- the MISEV-style checklist (PDI, Z-average window, particle/protein ratio), and
- the particle/protein ratio alone,

both with thresholds tuned on the training folds (training/baselines.py), and prints their
held-out macro-F1 (mean and range over folds) and per-class recall. Then a gradient-boosting
classifier (scikit-learn's HistGradientBoostingClassifier, learning rate 0.05, 400 trees) on
all observable features shows how much better the data allow, for purity and for potency.
For potency, "true purity class" predicts potent for every high/medium-purity preparation
from the simulator's truth: it shows how far potency is from purity.

    .venv/bin/python benchmarks/naive_rules.py [--n-preps 2000] [--seed 20181]

The feature table is ``exoqc.features.build_features``'s, as in training.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import f1_score, recall_score
from sklearn.model_selection import StratifiedGroupKFold

from exoqc.dataset import load_dataset
from exoqc.features import build_features
from exoqc.simulate import simulate_cohort
from exoqc.training.baselines import MisevRuleClassifier, ParticleProteinRatioClassifier


def _scores(truth: pd.Series, predicted: np.ndarray, labels: tuple[str, ...]) -> np.ndarray:
    """Macro-F1 followed by the recall of each label."""
    return np.array([f1_score(truth, predicted, average="macro", labels=list(labels)),
                     *recall_score(truth, predicted, average=None, labels=list(labels))])


def _report(name: str, scores: list[np.ndarray], labels: tuple[str, ...]) -> None:
    table = np.array(scores)
    mean = table.mean(axis=0)
    per_class = ", ".join(f"{label} {r:.2f}" for label, r in zip(labels, mean[1:], strict=True))
    print(f"  {name:<46} macro-F1 {mean[0]:.3f} (folds {table[:, 0].min():.3f}-"
          f"{table[:, 0].max():.3f})   recall: {per_class}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-preps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20181)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        root = simulate_cohort(Path(tmp) / "cohort", args.n_preps, args.seed)
        simulated_s = time.perf_counter() - start
        dataset = load_dataset(root)
        start = time.perf_counter()
        frame = build_features(dataset).frame
        features_s = time.perf_counter() - start
    preps = dataset.preps
    purity, potency = preps["purity_class"], preps["potency_class"]
    purity_labels, potency_labels = ("high", "medium", "low"), ("potent", "subpotent")
    print(f"cohort: {args.n_preps} preparations in {preps['batch'].nunique()} batches, seed "
          f"{args.seed}; simulated in {simulated_s:.1f} s; features in {features_s:.1f} s")
    print(f"{args.folds}-fold cross-validation by batch (stratified group k-fold); each fold "
          "fits on the other folds and scores its held-out batches; means over folds")
    models = {
        "MisevRuleClassifier (tuned)": MisevRuleClassifier,
        "ParticleProteinRatioClassifier (tuned)": ParticleProteinRatioClassifier,
        "MisevRuleClassifier (literature thresholds)": lambda: MisevRuleClassifier(tune=False),
        "ParticleProteinRatioClassifier (literature)":
            lambda: ParticleProteinRatioClassifier(tune=False),
        "gradient boosting, all observable features": lambda: HistGradientBoostingClassifier(
            learning_rate=0.05, max_iter=400, random_state=0),
    }
    results: dict[str, list[np.ndarray]] = {name: [] for name in models}
    potency_results: dict[str, list[np.ndarray]] = {
        "true purity class (high/medium -> potent)": [],
        "gradient boosting, all observable features": [],
    }
    splitter = StratifiedGroupKFold(n_splits=args.folds, shuffle=True, random_state=0)
    for train, test in splitter.split(frame, purity, preps["batch"]):
        for name, make in models.items():
            model = make().fit(frame.iloc[train], purity.iloc[train])
            results[name].append(_scores(purity.iloc[test], model.predict(frame.iloc[test]),
                                         purity_labels))
        from_purity = np.where(purity.iloc[test] == "low", "subpotent", "potent")
        potency_results["true purity class (high/medium -> potent)"].append(
            _scores(potency.iloc[test], from_purity, potency_labels))
        model = models["gradient boosting, all observable features"]()
        model.fit(frame.iloc[train], potency.iloc[train])
        potency_results["gradient boosting, all observable features"].append(
            _scores(potency.iloc[test], model.predict(frame.iloc[test]), potency_labels))
    print("purity:")
    for name, scores in results.items():
        _report(name, scores, purity_labels)
    print("potency:")
    for name, scores in potency_results.items():
        _report(name, scores, potency_labels)


if __name__ == "__main__":
    main()
