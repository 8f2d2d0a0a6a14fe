"""A lab's own small dataset: which preparations can train what, candidate models with and
without the reference prior, and repeated grouped cross-validation to choose among them.

Nothing here touches MLflow: ``training.lab_job`` runs it inside a training run, and
``benchmarks/lab_adaptation.py`` calls it directly.

Why these candidates (all scored on the same repeated grouped folds of the lab's data):

- ``reference``: the prior booster as it is (the lab is like the reference cohort);
- ``reference_margin``: boosting on the lab's data starting from the reference model's
  margin (``base_margin``): the lab's trees learn only how the lab differs;
- ``continued``: continued boosting from the reference booster (``xgb_model=``) with a
  small learning rate and depth-2 trees: a cautious correction of the prior;
- ``pooled_w<W>``: one model on reference and lab preparations, each lab preparation
  weighted W times (W is chosen by the same cross-validation, as a candidate each);
- ``lab_only``: the lab's data alone, shallow trees, no prior;
- fallbacks: the logistic regression and the tuned rules of ``training.baselines``.

Boosting from a base margin and continuing from a booster start from the same margin, so
a ``reference_margin`` model is registered as the continuation of the reference booster
with the same parameters (a single native booster, the model format of exoqc); the test
suite checks that both give the same predictions.

Hyperparameters are fixed, not searched: with 20-300 preparations a search would choose by
cross-validation noise (the same folds then report the winner's score, optimistically).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.base import clone
from sklearn.dummy import DummyClassifier
from sklearn.model_selection import StratifiedGroupKFold

from exoqc.contracts import PRIMARY_METRIC
from exoqc.model.predictor import Calibration
from exoqc.training import baselines, evaluate
from exoqc.training.fit import ModelKind, booster_params, to_matrix

SMALL_DATA_MAX = 1000
"""Below this many labelled preparations a target is validated by repeated grouped CV
(``repeated_cv``) and may use the prior; from it on, by the held-out split of the reference
path (a 20 % split of 1,000 preparations is ~200, enough for a stable metric)."""
MIN_LABELLED = 10
MIN_PER_CLASS = 3
MIN_GROUPS = 3
N_REPEATS = 3
MAX_FOLDS = 5
N_BOOTSTRAP = 300
POOL_WEIGHTS = (3.0, 10.0)
POOL_REFERENCE_ROWS = 400
"""Reference preparations pooled with the lab's (a random subset, same every run): enough
to carry the reference's structure; more makes each CV fit slower without changing the
choice in the benchmark."""


_LAB_HYPER = {"max_depth": 3, "learning_rate": 0.1, "min_child_weight": 1.0,
              "subsample": 0.9, "colsample_bytree": 0.8, "reg_lambda": 1.0, "reg_alpha": 0.0}
_CONTINUED_HYPER = {**_LAB_HYPER, "max_depth": 2, "learning_rate": 0.03}
_POOLED_HYPER = {**_LAB_HYPER, "max_depth": 4}
# No row or column sampling: XGBoost draws them by round number, which differs between
# training from a base margin (rounds from 0) and continuing a booster (from its last
# round); without sampling both grow the same trees, so the registered continuation is
# the model that was cross-validated.
_MARGIN_HYPER = {**_LAB_HYPER, "subsample": 1.0, "colsample_bytree": 1.0}
ROUNDS = {"lab_only": 60, "reference_margin": 40, "continued": 120, "pooled": 100}
PRIOR_ROUNDS = 200
PRIOR_HYPER = {**_LAB_HYPER, "max_depth": 4, "learning_rate": 0.08, "min_child_weight": 2.0}


# --- What can be trained --------------------------------------------------------------


@dataclass
class LabelPlan:
    """Whether a target can be trained on these labels, and what the user must know."""

    target: str
    n_labelled: int
    class_counts: dict[str, int]
    n_groups: int
    refusal: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def trainable(self) -> bool:
        return self.refusal is None


def plan_target(target: str, labels: pd.Series, groups: pd.Series, has_batch: bool,
                classes: tuple[str, ...]) -> LabelPlan:
    """Check the labels of one target before any work: the stated minimums are
    ``MIN_LABELLED`` labelled preparations, two classes with ``MIN_PER_CLASS`` each, and
    ``MIN_GROUPS`` batches (each preparation without a batch is its own)."""
    labelled = labels.dropna()
    counts = {c: int((labelled == c).sum()) for c in classes}
    n_groups = int(groups.loc[labelled.index].nunique())
    plan = LabelPlan(target, len(labelled), counts, n_groups)
    column = f"{target}_class"
    enough = [c for c, n in counts.items() if n >= MIN_PER_CLASS]
    if len(labelled) < MIN_LABELLED:
        plan.refusal = (f"{len(labelled)} preparation(s) with a {column}: training needs at "
                        f"least {MIN_LABELLED}")
    elif len(enough) < 2:
        found = ", ".join(f"{n} '{c}'" for c, n in counts.items() if n) or "none"
        plan.refusal = (f"{column} labels {found}: a classifier needs at least two classes "
                        f"with {MIN_PER_CLASS} preparations each")
    elif n_groups < MIN_GROUPS:
        plan.refusal = (f"{n_groups} batch(es) among the labelled preparations: validation "
                        f"by batch needs at least {MIN_GROUPS}; add batches, or leave "
                        "`batch` empty where preparations are independent")
    if plan.refusal:
        return plan
    for c, n in counts.items():
        if n == 0:
            plan.notes.append(f"no '{c}' labels: the model cannot learn '{c}' and will "
                              "(almost) never predict it")
        elif n < MIN_PER_CLASS:
            plan.notes.append(f"only {n} '{c}' preparation(s): too few to learn '{c}' "
                              "reliably; its recall is not a measurement")
    if not has_batch:
        plan.notes.append("no `batch` column: each preparation is its own group, so if "
                          "preparations share a culture or isolation run the validation "
                          "is optimistic")
    elif n_groups == len(labelled):
        plan.notes.append("every preparation is its own batch: validation treats them as "
                          "independent")
    return plan


# --- Repeated grouped cross-validation --------------------------------------------------


def n_folds_for(labels: np.ndarray, groups: np.ndarray) -> int:
    """k of the grouped CV: 5, or fewer when there are fewer batches or when even the
    largest class has fewer preparations (stratification needs one per fold)."""
    return int(min(MAX_FOLDS, len(np.unique(groups)), np.bincount(labels).max()))


def repeated_group_folds(labels: np.ndarray, groups: np.ndarray, n_repeats: int = N_REPEATS,
                         seed: int = 0) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """``n_repeats`` stratified group k-fold splittings (k = min(5, batches)), each with
    its own shuffle: whole batches are validated together."""
    n_folds = n_folds_for(labels, groups)
    out = []
    for r in range(n_repeats):
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed + r)
        out.append(list(splitter.split(np.zeros(len(labels)), labels, groups)))
    return out


def metric_of(probabilities: np.ndarray, labels: np.ndarray, classes: tuple[str, ...],
              metric: str) -> float:
    """One metric; macro-F1 over the classes labelled or predicted, NaN when undefined."""
    if metric == "macro_f1":
        predicted = probabilities.argmax(axis=1)
        used = np.union1d(labels, predicted)
        confusion = np.zeros((len(classes), len(classes)))
        np.add.at(confusion, (labels, predicted), 1)
        tp = np.diag(confusion)[used]
        denominator = confusion.sum(axis=0)[used] + confusion.sum(axis=1)[used]
        return float(np.mean(2 * tp / np.maximum(denominator, 1)))
    return evaluate.classification_metrics(probabilities, labels, classes).get(metric, np.nan)


# --- Candidates ---------------------------------------------------------------------------


@dataclass
class Prior:
    """What exoqc knows before the lab's data: the reference booster and (for pooling) a
    subset of the reference preparations' features and class positions."""

    booster: xgb.Booster
    features: pd.DataFrame
    labels: np.ndarray
    source: str


def booster_labels(kind: ModelKind, positions: np.ndarray) -> np.ndarray:
    """XGBoost's labels: class positions, or for binary 1 = the first class (potent)."""
    return (positions == 0).astype(float) if kind == "binary" else positions.astype(float)


def _margin(booster: xgb.Booster, matrix: xgb.DMatrix, width: int) -> np.ndarray:
    margin = booster.predict(matrix, output_margin=True)
    return margin.reshape(matrix.num_row(), width) if width > 1 else margin.ravel()


class BoosterCandidate:
    """An XGBoost candidate: ``mode`` is ``lab_only``, ``reference``, ``reference_margin``,
    ``continued`` or ``pooled``; ``fit(x, y)`` on class positions, ``predict_proba``."""

    def __init__(self, name: str, mode: str, kind: ModelKind, n_classes: int,
                 prior: Prior | None = None, pool_weight: float = 1.0,
                 seed: int = 0) -> None:
        self.name, self.mode, self.kind, self.n_classes = name, mode, kind, n_classes
        self.prior, self.pool_weight, self.seed = prior, pool_weight, seed
        self.width = n_classes if kind == "multiclass" else 1
        hyper = {"continued": _CONTINUED_HYPER, "pooled": _POOLED_HYPER,
                 "reference_margin": _MARGIN_HYPER}.get(mode, _LAB_HYPER)
        # One thread: on tens to hundreds of rows a round takes milliseconds, and more
        # OpenMP threads than free cores make it a hundred times slower on a busy machine.
        self.params = booster_params(kind, hyper, n_classes, seed, n_jobs=1)
        self.n_rounds = ROUNDS.get(mode, 0)

    def fit(self, x: pd.DataFrame, y: np.ndarray) -> BoosterCandidate:
        target = booster_labels(self.kind, y)
        if self.mode == "reference":
            self.booster_ = self.prior.booster
        elif self.mode == "lab_only":
            self.booster_ = xgb.train(self.params, to_matrix(x, target), self.n_rounds)
        elif self.mode == "continued":
            self.booster_ = xgb.train(self.params, to_matrix(x, target), self.n_rounds,
                                      xgb_model=self.prior.booster)
        elif self.mode == "reference_margin":
            matrix = to_matrix(x, target)
            matrix.set_base_margin(_margin(self.prior.booster, matrix, self.width).ravel())
            self.booster_ = xgb.train(self.params, matrix, self.n_rounds)
        elif self.mode == "pooled":
            pooled = pd.concat([self.prior.features, x])
            labels = np.concatenate([booster_labels(self.kind, self.prior.labels), target])
            weights = np.concatenate([np.ones(len(self.prior.features)),
                                      np.full(len(x), self.pool_weight)])
            matrix = to_matrix(pooled, labels)
            matrix.set_weight(weights)
            self.booster_ = xgb.train(self.params, matrix, self.n_rounds)
        else:
            raise ValueError(f"unknown candidate mode {self.mode!r}")
        return self

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        matrix = to_matrix(x)
        if self.mode == "reference_margin":
            # Predictions need the same base margin as training (XGBoost then adds no
            # base_score of its own).
            matrix.set_base_margin(_margin(self.prior.booster, matrix, self.width).ravel())
        return Calibration().probabilities(_margin(self.booster_, matrix, self.width))

    def final_booster(self, x: pd.DataFrame, y: np.ndarray) -> xgb.Booster:
        """One native booster on all of ``x``: base-margin models as the continuation of
        the reference booster with the same parameters (the same model)."""
        if self.mode == "reference_margin":
            return xgb.train(self.params, to_matrix(x, booster_labels(self.kind, y)),
                             self.n_rounds, xgb_model=self.prior.booster)
        return self.fit(x, y).booster_


class FallbackCandidate:
    """A baseline of ``training.baselines`` (logistic regression or a tuned rule)."""

    def __init__(self, name: str, estimator, n_classes: int) -> None:
        self.name, self.mode, self.estimator = name, "fallback", estimator
        self.n_classes = n_classes

    def fit(self, x: pd.DataFrame, y: np.ndarray) -> FallbackCandidate:
        with warnings.catch_warnings():
            # The isotonic rule score warns when a fold's ranks hardly correlate with the
            # label: that fold's low score is the answer, the warning is noise to a user.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"sklearn\.")
            # A training fold of one class (a rare class all in the validation batches):
            # a rule or a regression cannot be fitted, the class shares are the answer.
            estimator = (clone(self.estimator) if len(np.unique(y)) > 1
                         else DummyClassifier(strategy="prior"))
            self.estimator_ = estimator.fit(x, y)
        return self

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        return baselines.class_probabilities(self.estimator_, x, self.n_classes)


def candidates(target: str, prior: Prior | None, seed: int = 0,
               fallbacks: bool = True) -> list:
    """The candidates of a training run; those that need a prior only when there is one."""
    kind: ModelKind = "multiclass" if target == "purity" else "binary"
    n_classes = 3 if target == "purity" else 2
    made = [BoosterCandidate("lab_only", "lab_only", kind, n_classes, seed=seed)]
    if prior is not None:
        made += [BoosterCandidate(name, name, kind, n_classes, prior, seed=seed)
                 for name in ("reference", "reference_margin", "continued")]
        made += [BoosterCandidate(f"pooled_w{w:g}", "pooled", kind, n_classes, prior, w,
                                  seed=seed) for w in POOL_WEIGHTS]
    if fallbacks:
        made += [FallbackCandidate(name, estimator, n_classes)
                 for name, estimator in baselines.baselines_for(target).items()]
    return made


# --- Scores and the choice ------------------------------------------------------------------


@dataclass
class CandidateScore:
    name: str
    mode: str
    oof: list[np.ndarray]  # out-of-fold probabilities, one array per repeat
    per_repeat: list[float]

    @property
    def mean(self) -> float:
        return float(np.nanmean(self.per_repeat))

    @property
    def is_booster(self) -> bool:
        return self.mode != "fallback"

    @property
    def oof_mean(self) -> np.ndarray:
        return np.mean(self.oof, axis=0)


def cross_validate_candidate(candidate, x: pd.DataFrame, y: np.ndarray,
                             repeats: list[list[tuple[np.ndarray, np.ndarray]]],
                             classes: tuple[str, ...], metric: str) -> CandidateScore:
    oofs, scores = [], []
    for folds in repeats:
        oof = np.full((len(y), len(classes)), np.nan)
        for train, valid in folds:
            candidate.fit(x.iloc[train], y[train])
            oof[valid] = candidate.predict_proba(x.iloc[valid])
        oofs.append(oof)
        scores.append(metric_of(oof, y, classes, metric))
    return CandidateScore(candidate.name, candidate.mode, oofs, scores)


def bootstrap_draws(score: Callable[[np.ndarray], float], groups: np.ndarray,
                    n_draws: int = N_BOOTSTRAP, seed: int = 0) -> np.ndarray:
    """``score(rows)`` over batches drawn with replacement (a batch's preparations are
    not independent, so batches are the unit resampled)."""
    rng = np.random.default_rng(seed)
    unique, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(unique))]
    values = []
    for _ in range(n_draws):
        drawn = rng.integers(len(unique), size=len(unique))
        values.append(score(np.concatenate([members[g] for g in drawn])))
    return np.asarray(values, dtype=float)


def bootstrap_interval(score: Callable[[np.ndarray], float], groups: np.ndarray,
                       n_draws: int = N_BOOTSTRAP, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of ``score(rows)`` over batches drawn with replacement."""
    values = bootstrap_draws(score, groups, n_draws, seed)
    if np.isfinite(values).sum() < n_draws // 2:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return float(low), float(high)


@dataclass
class Selection:
    scores: list[CandidateScore]
    chosen: CandidateScore  # the XGBoost candidate registered
    best_overall: CandidateScore
    interval: tuple[float, float]
    best_booster: CandidateScore  # the XGBoost candidate of the best mean
    rule: str  # why the chosen one

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({
            "candidate": [s.name for s in self.scores],
            "kind": ["fallback" if not s.is_booster else "xgboost" for s in self.scores],
            "cv_mean": [s.mean for s in self.scores],
            "cv_min": [float(np.nanmin(s.per_repeat)) for s in self.scores],
            "cv_max": [float(np.nanmax(s.per_repeat)) for s in self.scores],
            "chosen": [s is self.chosen for s in self.scores],
        })


@contextmanager
def quiet() -> Iterator[None]:
    """Small folds make scikit-learn warn (a class with fewer members than folds, a fold
    of one class) and bootstrap draws without a class give NaN metrics: the scores and
    intervals say what that means, the warnings would only be noise to a user."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"sklearn\.")
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        yield


def select(x: pd.DataFrame, y: np.ndarray, groups: np.ndarray, target: str,
           classes: tuple[str, ...], prior: Prior | None, seed: int = 0,
           n_repeats: int = N_REPEATS,
           progress: Callable[[str, int, int], None] | None = None) -> Selection:
    """Score every candidate on the same repeated grouped folds and choose an XGBoost
    candidate: the best mean, unless the unadapted reference is within one standard
    error of it (the fallbacks are scored beside them)."""
    with quiet():
        return _select(x, y, groups, target, classes, prior, seed, n_repeats, progress)


def _select(x: pd.DataFrame, y: np.ndarray, groups: np.ndarray, target: str,
            classes: tuple[str, ...], prior: Prior | None, seed: int, n_repeats: int,
            progress: Callable[[str, int, int], None] | None) -> Selection:
    metric = PRIMARY_METRIC[target]
    repeats = repeated_group_folds(y, groups, n_repeats, seed)
    made = candidates(target, prior, seed)
    scores = []
    for done, candidate in enumerate(made):
        if progress is not None:
            progress(f"{target}: candidates (repeated grouped CV)", done, len(made))
        scores.append(cross_validate_candidate(candidate, x, y, repeats, classes, metric))
    boosters = [s for s in scores if s.is_booster]
    top = max(boosters, key=lambda s: np.nan_to_num(s.mean, nan=-np.inf))
    best = max(scores, key=lambda s: np.nan_to_num(s.mean, nan=-np.inf))
    chosen, rule = top, f"{top.name}: the best mean"
    reference = next((s for s in boosters if s.name == "reference"), None)
    if reference is not None and top is not reference:
        # One-standard-error rule (Breiman et al. 1984) towards the prior: adapt only when
        # the best candidate leads the unadapted reference model by more than one
        # bootstrap standard error of the paired difference on the same folds. On tens of
        # preparations the best mean is often a lucky fold assignment.
        def lead(rows: np.ndarray) -> float:
            return float(np.nanmean([metric_of(a[rows], y[rows], classes, metric)
                                     - metric_of(b[rows], y[rows], classes, metric)
                                     for a, b in zip(top.oof, reference.oof, strict=True)]))

        standard_error = float(np.nanstd(bootstrap_draws(lead, groups, seed=seed)))
        if not top.mean - reference.mean > standard_error:
            chosen = reference
            rule = (f"reference: {top.name} leads it by {top.mean - reference.mean:+.3f}, "
                    f"within one standard error ({standard_error:.3f})")
        else:
            rule = (f"{top.name}: leads the reference by {top.mean - reference.mean:+.3f}, "
                    f"more than one standard error ({standard_error:.3f})")
    interval = bootstrap_interval(
        lambda rows: float(np.nanmean([metric_of(o[rows], y[rows], classes, metric)
                                       for o in chosen.oof])), groups, seed=seed)
    return Selection(scores, chosen, best, interval, top, rule)


def candidate_by_name(name: str, target: str, prior: Prior | None, seed: int = 0):
    return next(c for c in candidates(target, prior, seed) if c.name == name)


def paired_difference(new_proba: np.ndarray, old_proba: np.ndarray, y: np.ndarray,
                      groups: np.ndarray, classes: tuple[str, ...], metric: str,
                      seed: int = 0) -> tuple[float, tuple[float, float]]:
    """Metric of the new model minus the old one on the same preparations, and its
    batch-bootstrap interval (the same batches drawn for both: a paired comparison)."""
    def diff(rows: np.ndarray) -> float:  # NaN where a draw lacks a class
        return (metric_of(new_proba[rows], y[rows], classes, metric)
                - metric_of(old_proba[rows], y[rows], classes, metric))

    with quiet():
        return diff(np.arange(len(y))), bootstrap_interval(diff, groups, seed=seed)
