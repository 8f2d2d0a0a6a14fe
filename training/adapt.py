"""The choice among a lab's candidate models (``training.candidates``) by repeated grouped
cross-validation on the lab's data.

Nothing here touches MLflow: ``training.lab_job`` runs it inside a training run, and
``benchmarks/lab_adaptation.py`` calls it directly. Which labels can train is
``training.label_plan``; the folds and intervals are ``training.repeated_cv``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from exoqc.contracts import PRIMARY_METRIC, Target
from exoqc.training.candidates import Candidate, Prior, candidates
from exoqc.training.repeated_cv import (
    MAX_FOLDS,
    N_REPEATS,
    bootstrap_draws,
    bootstrap_interval,
    metric_of,
    quiet,
    repeated_group_folds,
)

# A class held by fewer batches than the CV has folds: some folds validate without it,
# and the lead's batch-bootstrap standard error for that class rests on a handful of
# distinct resamples (2 batches: 3), so a lead over the prior cannot be told from the luck
# of one batch. The prior is then kept unadapted. Batches per class, not in all: a lab's
# 50 preparations in 8 batches with its subpotent ones in 2 judge the potency model on 2.
MIN_BATCHES_TO_ADAPT = MAX_FOLDS


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


@dataclass
class Selection:
    scores: list[CandidateScore]
    chosen: CandidateScore  # the candidate registered
    best_overall: CandidateScore
    interval: tuple[float, float]
    best_booster: CandidateScore | None  # the XGBoost candidate of the best mean
    rule: str  # why the chosen one
    repeats: list[list[tuple[np.ndarray, np.ndarray]]]  # the folds of each CV repeat

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({
            "candidate": [s.name for s in self.scores],
            "kind": ["fallback" if not s.is_booster else "xgboost" for s in self.scores],
            "cv_mean": [s.mean for s in self.scores],
            "cv_min": [float(np.nanmin(s.per_repeat)) for s in self.scores],
            "cv_max": [float(np.nanmax(s.per_repeat)) for s in self.scores],
            "chosen": [s is self.chosen for s in self.scores],
        })


def select(x: pd.DataFrame, y: np.ndarray, groups: np.ndarray, target: Target,
           classes: tuple[str, ...], prior: Prior | None, seed: int = 0,
           n_repeats: int = N_REPEATS,
           progress: Callable[[str, int, int], None] | None = None,
           only: tuple[str, ...] | None = None) -> Selection:
    """Score every candidate on the same repeated grouped folds and choose one: the best
    mean, unless it is a fallback within one standard error of the best XGBoost
    candidate (then that one), or the unadapted reference is within one standard error
    of it or a labelled class is in fewer than ``MIN_BATCHES_TO_ADAPT`` batches (then the
    reference).
    ``only``: the names of the candidates that compete (default all)."""
    made = [c for c in candidates(target, prior, seed) if only is None or c.name in only]
    if not made:
        raise ValueError(f"no candidate among {', '.join(only or ())}: the candidates are "
                         + ", ".join(c.name for c in candidates(target, prior, seed)))
    with quiet():
        return _select(x, y, groups, target, classes, made, seed, n_repeats, progress)


def _select(x: pd.DataFrame, y: np.ndarray, groups: np.ndarray, target: Target,
            classes: tuple[str, ...], made: list[Candidate], seed: int, n_repeats: int,
            progress: Callable[[str, int, int], None] | None) -> Selection:
    metric = PRIMARY_METRIC[target]
    repeats = repeated_group_folds(y, groups, n_repeats, seed)
    scores = []
    for done, candidate in enumerate(made):
        if progress is not None:
            progress(f"{target}: candidates (repeated grouped CV)", done, len(made))
        scores.append(cross_validate_candidate(candidate, x, y, repeats, classes, metric))
    boosters = [s for s in scores if s.is_booster]
    top_booster = max(boosters, key=lambda s: np.nan_to_num(s.mean, nan=-np.inf),
                      default=None)
    best = max(scores, key=lambda s: np.nan_to_num(s.mean, nan=-np.inf))
    top, why = best, ""
    if not best.is_booster and top_booster is not None:
        # A fallback (the logistic regression, a rule; registered as a model of its own
        # kind, exoqc.model.fallback) replaces the XGBoost candidates, which carry the
        # prior, only when it leads the best of them beyond noise: the same rule as below.
        error = _lead_error(best, top_booster, y, groups, classes, metric, seed)
        if not best.mean - top_booster.mean > error:
            top = top_booster
            why = (f"{best.name} leads {top.name} by {best.mean - top.mean:+.3f}, within "
                   f"one standard error ({error:.3f}); ")
    chosen, rule = top, f"{top.name}: {why}the best mean{' of XGBoost' if why else ''}"
    reference = next((s for s in boosters if s.name == "reference"), None)
    scarce, n_batches = _fewest_batches(y, groups, classes)
    if reference is not None and top is not reference and n_batches < MIN_BATCHES_TO_ADAPT:
        chosen = reference
        rule = (f"reference: {why}{top.name} leads it by {top.mean - reference.mean:+.3f} "
                f"in a CV with {scarce} in {n_batches} batches; the prior is adapted when "
                f"every class is in {MIN_BATCHES_TO_ADAPT} batches or more")
    elif reference is not None and top is not reference:
        # One-standard-error rule (Breiman et al. 1984) towards the prior: adapt only when
        # the best candidate leads the unadapted reference model by more than one
        # bootstrap standard error of the paired difference on the same folds. On tens of
        # preparations the best mean is often a lucky fold assignment.
        standard_error = _lead_error(top, reference, y, groups, classes, metric, seed)
        if not top.mean - reference.mean > standard_error:
            chosen = reference
            rule = (f"reference: {why}{top.name} leads it by "
                    f"{top.mean - reference.mean:+.3f}, within one standard error "
                    f"({standard_error:.3f})")
        else:
            rule = (f"{top.name}: {why}leads the reference by "
                    f"{top.mean - reference.mean:+.3f}, more than one standard error "
                    f"({standard_error:.3f})")
    interval = bootstrap_interval(
        lambda rows: float(np.nanmean([metric_of(o[rows], y[rows], classes, metric)
                                       for o in chosen.oof])), groups, seed=seed)
    return Selection(scores, chosen, best, interval, top_booster, rule, repeats)


def _fewest_batches(y: np.ndarray, groups: np.ndarray,
                    classes: tuple[str, ...]) -> tuple[str, int]:
    """The labelled class held by the fewest batches, and their number."""
    held = {classes[k]: len(np.unique(groups[y == k])) for k in np.unique(y)}
    scarce = min(held, key=lambda c: held[c])
    return scarce, held[scarce]


def _lead_error(a: CandidateScore, b: CandidateScore, y: np.ndarray, groups: np.ndarray,
                classes: tuple[str, ...], metric: str, seed: int) -> float:
    """Bootstrap standard error (batches resampled) of a's metric minus b's, paired on
    the same out-of-fold predictions of each repeat."""
    def lead(rows: np.ndarray) -> float:
        return float(np.nanmean([metric_of(p[rows], y[rows], classes, metric)
                                 - metric_of(q[rows], y[rows], classes, metric)
                                 for p, q in zip(a.oof, b.oof, strict=True)]))

    return float(np.nanstd(bootstrap_draws(lead, groups, seed=seed)))
