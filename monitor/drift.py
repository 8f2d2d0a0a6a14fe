"""Drift of new batches: have they moved since the baseline, away from the model's data?

The monitored batches are cut into consecutive windows (default 20 batches). In each:

- **per feature**: the two-sample Kolmogorov–Smirnov test (``scipy.stats.ks_2samp``) of
  the window's measured values against the baseline period's, and Fisher's exact test of
  the share not measured; Benjamini–Hochberg (``scipy.stats.false_discovery_control``) at
  q = 0.05 over the features of the window. The same test against the model's training
  sample (stored with the model, :mod:`exoqc.model.domain`; training preparations of
  the window's isolation methods). A feature **moved** when both reject: it changed since
  the baseline *and* the window is not like the training data (an intersection-union
  test: level q). Compared with the training data alone every production process
  "differs" — one SOP is a narrow slice of a training cohort of many labs' ways — so
  the training test alone would alarm from the first window.
- **multivariate**: a classifier two-sample test (Lopez-Paz & Oquab, ICLR 2017): a
  classifier learns window vs baseline on half of each, and scores the
  other half; under the null (both samples from one distribution) the held-out scores
  are independent of the labels, so their AUC is the Mann–Whitney U statistic with its
  exact null distribution (one-sided, ``scipy.stats.mannwhitneyu``). The classifier is
  an L2 logistic regression on median-imputed, standardized features with missingness
  indicators. Also against the
  training sample, reported as an AUC (0.5 = indistinguishable).
- **applicability domain**: the share of the window's batches outside the model's domain,
  against the baseline's share (one-sided Fisher exact test).

A window raises a drift alarm when a feature moved, when the classifier test rejects at
p < 0.01 against both the baseline and the training sample, or when the outside-domain
share rose (p < 0.01): the model's answers for these batches should not be trusted as
before. The alarm names the features that moved, largest KS statistic first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from exoqc.features import FEATURE_CATALOG

FDR_Q = 0.05
C2ST_ALPHA = 0.01
DOMAIN_ALPHA = 0.01
MIN_PER_SAMPLE = 5
MAX_NAMED = 5
_BINARY_UNITS = {"0/1"}


@dataclass
class DriftWindow:
    """Tests of one window of monitored batches."""

    first: int  # positions in the history
    last: int
    prep_ids: list[str]
    moved: pd.DataFrame  # feature, ks_baseline, q_baseline, q_training, training_percentile
    c2st_auc_baseline: float
    c2st_p_baseline: float
    c2st_auc_training: float
    c2st_p_training: float
    outside_domain_share: float
    domain_p: float
    alarm: bool = False
    message: str = ""
    tested: int = 0
    notes: list[str] = field(default_factory=list)


def continuous_features(columns: list[str]) -> list[str]:
    """Features worth a distribution test: not 0/1 indicators."""
    binary = {f.name for f in FEATURE_CATALOG if f.unit in _BINARY_UNITS}
    return [c for c in columns if c not in binary and not c.startswith("isolation_")]


def _ks(window: pd.DataFrame, other: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """KS statistic and p per feature, and the Fisher p of the not-measured share; the
    smaller p of the two enters the BH family (Bonferroni over the pair: ×2)."""
    rows = []
    for column in columns:
        a, b = window[column].to_numpy(float), other[column].to_numpy(float)
        fa, fb = a[np.isfinite(a)], b[np.isfinite(b)]
        p_ks, d = 1.0, 0.0
        if len(fa) >= MIN_PER_SAMPLE and len(fb) >= MIN_PER_SAMPLE:
            result = stats.ks_2samp(fa, fb)
            p_ks, d = float(result.pvalue), float(result.statistic)
        table = [[len(a) - len(fa), len(fa)], [len(b) - len(fb), len(fb)]]
        p_missing = float(stats.fisher_exact(table).pvalue) if len(a) and len(b) else 1.0
        rows.append((column, d, min(1.0, 2 * min(p_ks, p_missing)),
                     len(a) - len(fa), len(b) - len(fb)))
    out = pd.DataFrame(rows, columns=["feature", "ks", "p", "missing_window", "missing_other"])
    out["q"] = stats.false_discovery_control(out["p"]) if len(out) else []
    return out.set_index("feature")


def c2st(window: pd.DataFrame, other: pd.DataFrame, seed: int = 0) -> tuple[float, float]:
    """Classifier two-sample test: held-out AUC and its one-sided Mann–Whitney p-value."""
    pooled = pd.concat([window, other])
    x = pooled.loc[:, pooled.notna().any()].to_numpy(float)  # all-NaN columns cannot be binned
    y = np.r_[np.ones(len(window)), np.zeros(len(other))]
    if min(len(window), len(other)) < MIN_PER_SAMPLE:
        return float("nan"), 1.0
    x_fit, x_test, y_fit, y_test = train_test_split(x, y, test_size=0.5, stratify=y,
                                                    random_state=seed)
    # Fast: the test's level does not depend on the classifier, only its power. (Gradient
    # boosting took seconds per window here, in its per-feature binning threads.)
    model = make_pipeline(SimpleImputer(strategy="median", add_indicator=True),
                          StandardScaler(), LogisticRegression(C=0.1, max_iter=500))
    model.fit(x_fit, y_fit)
    score = model.predict_proba(x_test)[:, 1]
    result = stats.mannwhitneyu(score[y_test == 1], score[y_test == 0], alternative="greater")
    auc = float(result.statistic) / ((y_test == 1).sum() * (y_test == 0).sum())
    return auc, float(result.pvalue)


def _training_rows(reference: pd.DataFrame, window: pd.DataFrame) -> pd.DataFrame:
    """Training preparations of the isolation methods the window used (all, when the
    one-hot columns are missing or no training prep shares a method)."""
    methods = [c for c in window.columns if c.startswith("isolation_") and c in reference]
    used = [c for c in methods if (window[c] == 1).any()]
    if not used:
        return reference
    same = reference[(reference[used] == 1).any(axis=1)]
    return same if len(same) >= 2 * MIN_PER_SAMPLE else reference


def drift_windows(features: pd.DataFrame, baseline: np.ndarray, monitored: np.ndarray,
                  in_domain: pd.Series, reference: pd.DataFrame | None,
                  window: int = 20, seed: int = 0) -> list[DriftWindow]:
    """Drift tests of each window of ``window`` consecutive monitored batches.

    Parameters
    ----------
    features : the model's features of every batch, in history order (index prep_id).
    baseline, monitored : positions (into ``features``) of the baseline and monitored
        batches that were scored.
    in_domain : per batch (index prep_id), inside the model's applicability domain.
    reference : the model's training sample, or ``None`` (then only baseline tests).
    window : batches per window; a last window shorter than half of it joins the one
        before.
    """
    columns = continuous_features(list(features.columns))
    base = features.iloc[baseline]
    base_out = int((~in_domain.iloc[baseline].astype(bool)).sum())
    starts = list(range(0, len(monitored), window))
    if len(starts) > 1 and len(monitored) - starts[-1] < window / 2:
        starts.pop()
    out = []
    for n, start in enumerate(starts):
        stop = starts[n + 1] if n + 1 < len(starts) else len(monitored)
        positions = monitored[start:stop]
        win = features.iloc[positions]
        vs_base = _ks(win, base, columns)
        auc_b, p_b = c2st(win[columns], base[columns], seed)
        auc_t, p_t = float("nan"), 0.0
        q_training = pd.Series(0.0, index=vs_base.index)
        notes = []
        percentile = pd.Series(np.nan, index=vs_base.index)
        if reference is not None:
            train = _training_rows(reference.reindex(columns=features.columns), win)
            vs_train = _ks(win, train, columns)
            q_training = vs_train["q"]
            auc_t, p_t = c2st(win[columns], train[columns], seed)
            medians = win[columns].median()
            for column in columns:
                values = train[column].dropna().to_numpy()
                if len(values) and np.isfinite(medians[column]):
                    percentile[column] = 100.0 * (values < medians[column]).mean()
        else:
            notes.append("the model stores no training sample: moved features are judged "
                         "against the baseline only")
        moved = vs_base[(vs_base["q"] < FDR_Q) & (q_training < FDR_Q)].copy()
        moved["q_training"] = q_training.reindex(moved.index)
        moved["training_percentile"] = percentile.reindex(moved.index)
        moved = moved.sort_values("ks", ascending=False)
        win_out = int((~in_domain.iloc[positions].astype(bool)).sum())
        domain_p = float(stats.fisher_exact(
            [[win_out, len(positions) - win_out], [base_out, len(baseline) - base_out]],
            alternative="greater").pvalue)
        result = DriftWindow(
            first=int(positions[0]), last=int(positions[-1]),
            prep_ids=features.index[positions].astype(str).tolist(), moved=moved,
            c2st_auc_baseline=auc_b, c2st_p_baseline=p_b, c2st_auc_training=auc_t,
            c2st_p_training=p_t, outside_domain_share=win_out / len(positions),
            domain_p=domain_p, tested=len(columns), notes=notes)
        _decide(result)
        out.append(result)
    return out


def _decide(w: DriftWindow) -> None:
    from exoqc.features import label_of

    reasons = []
    if len(w.moved):
        named = []
        for feature, row in w.moved.head(MAX_NAMED).iterrows():
            where = ("" if not np.isfinite(row["training_percentile"]) else
                     f", window median at training percentile {row['training_percentile']:.0f}")
            named.append(f"{label_of(str(feature))} (KS {row['ks']:.2f}{where})")
        more = f" and {len(w.moved) - MAX_NAMED} more" if len(w.moved) > MAX_NAMED else ""
        reasons.append(f"{len(w.moved)} of {w.tested} features moved: {'; '.join(named)}{more}")
    if w.c2st_p_baseline < C2ST_ALPHA and w.c2st_p_training < C2ST_ALPHA:
        reasons.append(f"a classifier tells the window from the baseline (AUC "
                       f"{w.c2st_auc_baseline:.2f}, p = {w.c2st_p_baseline:.2g})")
    if w.domain_p < DOMAIN_ALPHA:
        reasons.append(f"{w.outside_domain_share:.0%} of the window outside the model's "
                       f"applicability domain (p = {w.domain_p:.2g} vs the baseline)")
    w.alarm = bool(reasons)
    w.message = "; ".join(reasons)
