"""How far naive purity rules get on the reference cohort, and how much the data hold beyond.

Simulates the reference cohort (2,000 preparations, seed 20181), builds the feature table,
cross-validates by batch (stratified group 5-fold: a batch is never on both sides), fits

- the MISEV-style checklist (PDI, Z-average window, particle/protein ratio), and
- the particle/protein ratio alone,

both with thresholds tuned on the training folds (training/baselines.py), and prints their
held-out macro-F1 (mean and range over folds) and per-class recall. Then a gradient-boosting
classifier (scikit-learn's HistGradientBoostingClassifier, learning rate 0.05, 400 trees) on
all observable features shows how much better the data allow, for purity and for potency.
For potency, "true purity class" predicts potent for every high/medium-purity preparation
from the simulator's truth: it shows how far potency is from purity.

    .venv/bin/python benchmarks/naive_rules.py [--n-preps 2000] [--seed 20181]

The feature table comes from ``exoqc.features.build_features``. Until the DLS feature table
(``exoqc.features.dls.table``) exists, the DLS columns are replaced by a labelled fallback:
a second-order cumulant fit (ISO 22412) of each record's early decay (g2 − 1 above 10 % of
its intercept), averaged over the records of a preparation; all other columns come from
exoqc.features as they will in training.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import f1_score, recall_score
from sklearn.model_selection import StratifiedGroupKFold

from exoqc.config import DLS_DEFAULTS
from exoqc.dataset import Dataset, load_dataset
from exoqc.features.dls.physics import diameter_from_decay_rate_nm, scattering_vector_per_m
from exoqc.simulate import simulate_cohort
from exoqc.training.baselines import MisevRuleClassifier, ParticleProteinRatioClassifier


def feature_table(dataset: Dataset) -> tuple[pd.DataFrame, str]:
    try:
        from exoqc.features import build_features

        return build_features(dataset).frame, "exoqc.features.build_features"
    except ImportError as exc:
        return _fallback_feature_table(dataset), (
            f"exoqc.features without its DLS table ({exc}); DLS columns from the fallback "
            "cumulant fit of this benchmark")


def _fallback_feature_table(dataset: Dataset) -> pd.DataFrame:
    from exoqc.features.cargo import cargo_features
    from exoqc.features.composition import composition_features, prep_record_features
    from exoqc.features.markers import marker_features

    index = pd.Index(dataset.prep_ids, name="prep_id")
    parts = [
        _fallback_dls(dataset),
        composition_features(dataset.preps)[0],
        marker_features(dataset)[0],
        cargo_features(dataset.cargo, dataset.prep_ids)[0],
        prep_record_features(dataset.preps),
    ]
    return pd.concat([p.reindex(index) for p in parts], axis=1).astype(float)


def _records(path: Path) -> list[dict]:
    """(tau_s, g2m1, temperature_k, viscosity_pa_s, wavelength_nm, angle_deg) per record."""
    if path.suffix == ".txt":
        table = pd.read_csv(path, sep="\t", encoding="latin-1")
        lags = [c for c in table if c.startswith("Correlation Delay Times[")]
        data = [c for c in table if c.startswith("Correlation Data[")]
        return [{"tau_s": row[lags].to_numpy(float) * 1e-6, "g2m1": row[data].to_numpy(float),
                 "temperature_k": row["Temperature (°C)"] + 273.15,
                 "viscosity_pa_s": row["Viscosity (cP)"] * 1e-3,
                 "wavelength_nm": DLS_DEFAULTS.wavelength_nm, "angle_deg": DLS_DEFAULTS.angle_deg}
                for _, row in table.iterrows()]
    text = path.read_text(encoding="utf-8")
    meta = dict(re.findall(r"^# (\w+): (.+)$", text, flags=re.MULTILINE))
    table = pd.read_csv(path, comment="#")
    return [{"tau_s": table["tau_us"].to_numpy() * 1e-6, "g2m1": table["g2m1"].to_numpy(),
             "temperature_k": float(meta["temperature_c"]) + 273.15,
             "viscosity_pa_s": float(meta["viscosity_cp"]) * 1e-3,
             "wavelength_nm": float(meta["wavelength_nm"]),
             "angle_deg": float(meta["angle_deg"])}]


def _cumulants(record: dict) -> tuple[float, float]:
    y = record["g2m1"]
    intercept = y[:3].mean()
    above = y > 0.1 * intercept
    stop = int(np.argmin(above)) if not above.all() else len(y)
    if stop < 4:
        return np.nan, np.nan
    curvature, slope, _ = np.polyfit(record["tau_s"][:stop], np.log(y[:stop]), 2)
    gamma = -slope / 2
    q = scattering_vector_per_m(record["wavelength_nm"], record["angle_deg"],
                                DLS_DEFAULTS.medium_refractive_index)
    z = float(diameter_from_decay_rate_nm(gamma, q, record["temperature_k"],
                                          record["viscosity_pa_s"]))
    return z, curvature / gamma**2


def _fallback_dls(dataset: Dataset) -> pd.DataFrame:
    rows = {}
    for prep_id in dataset.prep_ids:
        path = dataset.dls_path(prep_id)
        if path is None:
            continue
        fits = np.array([_cumulants(r) for r in _records(path)])
        rows[prep_id] = {"dls_z_average_nm": np.nanmean(fits[:, 0]),
                         "dls_pdi": np.nanmean(fits[:, 1])}
    return pd.DataFrame.from_dict(rows, orient="index")


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
        frame, source = feature_table(dataset)
        features_s = time.perf_counter() - start
    preps = dataset.preps
    purity, potency = preps["purity_class"], preps["potency_class"]
    purity_labels, potency_labels = ("high", "medium", "low"), ("potent", "subpotent")
    print(f"cohort: {args.n_preps} preparations in {preps['batch'].nunique()} batches, seed "
          f"{args.seed}; simulated in {simulated_s:.1f} s; features in {features_s:.1f} s "
          f"from {source}")
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
