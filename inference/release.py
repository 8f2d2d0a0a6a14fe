"""Release decisions from conformal prediction sets, and which preparations to assay first.

For each scored preparation (the release specification, :mod:`exoqc.spec`, says which
classes are acceptable and the error rate α):

1. a quality attribute with specification limits that is measured outside them:
   ``reject`` (the measurement alone fails the preparation);
2. outside the model's training domain: ``assay`` — never released automatically;
3. a set with no acceptable class: ``reject``;
4. an empty prediction set (no class is plausible at α: the preparation is unlike the
   calibration preparations of every class), or a model without conformal calibration:
   ``assay``, and the reason says which;
5. every class of both sets acceptable: ``release`` — unless an attribute with limits is
   not measured (``assay``: the limit cannot be checked);
6. otherwise (a set mixes acceptable and unacceptable classes): ``assay``.

A ``release`` of a preparation whose true purity (or potency) class is unacceptable needs
that class to be missing from its set, which happens for at most a share α of the
preparations of that class (:mod:`exoqc.model.conformal`; the sets come from the model's
cross-validation fold boosters, CV+; counting batches, not preparations). A class with
too few calibration batches to be excluded at α is in every set, and each reason that
rests on such a set says so.

**Assay plan.** With a budget of *K* assays, the ``assay`` preparations are ranked by the
chance that the model's best guess about releasability is wrong: with
``P = P(purity acceptable) · P(potency acceptable)`` from the calibrated probabilities
(purity and potency treated as independent given the features), the urgency is
``min(P, 1 − P)``, the probability mass on the other side of the release boundary (a
preparation outside the training domain counts as P = 0.5: its probabilities are not to
be trusted). Why: the assay settles the decisions a guess would most often get wrong, and
those readouts are the most informative labels for the next model version (uncertainty
sampling at the decision boundary). Ties go to the larger sets, then to input order. The
top *K* get ``assay_priority`` 1..K.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from exoqc.contracts import TARGETS
from exoqc.errors import ExoqcInputError
from exoqc.model.conformal import BATCH, ConformalCalibration
from exoqc.model.predictor import ModelSpec
from exoqc.spec import Spec

SET_SEPARATOR = "|"


SPEC_SOURCE = "release specification"


def check_limits(spec: Spec, models: Mapping[str, ModelSpec]) -> None:
    """Refuse limits on attributes that are neither a feature nor a prediction column of
    the models given (``models``: by target; an absent model predicts no column)."""
    from exoqc.features import feature_names

    columns = set(feature_names())
    if "purity" in models:
        columns |= {f"p_purity_{c}" for c in models["purity"].classes}
    if "potency" in models:
        columns |= {"p_potent", *(f"pred_{r}" for r in models["potency"].readouts)}
    unknown = sorted(set(spec.limits) - columns)
    if unknown:
        raise ExoqcInputError(
            SPEC_SOURCE, f"limits for unknown quality attribute(s) "
            f"{', '.join(unknown)}: expected a feature-table column (docs/features.md) or a "
            "prediction column (p_potent, p_purity_high, pred_<readout>)")


def _accepted(spec: Spec, target: str) -> list[str]:
    return spec.release.purity_accept if target == "purity" else spec.release.potency_accept


def _join(classes: tuple[str, ...], members: np.ndarray) -> str:
    return SET_SEPARATOR.join(c for c, keep in zip(classes, members, strict=True) if keep)


def decide(probabilities: Mapping[str, np.ndarray], models: Mapping[str, ModelSpec],
           in_domain: pd.Series, attributes: pd.DataFrame, spec: Spec) -> pd.DataFrame:
    """``purity_set, potency_set, decision, decision_reason`` for scored preparations.

    ``probabilities[target]``: what the model's conformal p-values are computed from,
    in ``models[target].classes`` order (``ExoqcPredictor.conformal_probabilities``: each
    fold booster's probabilities, (n_folds, n, n_classes), for a CV+ calibration, else
    the registered booster's, (n, n_classes));
    ``in_domain``: one bool per row (its index is the result's); ``attributes``: the
    rows' feature and prediction columns, where spec limits are looked up.
    """
    alpha = spec.release.alpha
    n = len(in_domain)
    sets: dict[str, np.ndarray | None] = {}
    written: dict[str, list[str]] = {}
    forced: dict[str, dict[str, tuple[int, str]]] = {}
    for target in TARGETS:
        model = models.get(target)
        forced[target] = {}
        if model is not None and model.conformal:
            calibration = ConformalCalibration.from_dict(model.conformal)
            members = calibration.sets(probabilities[target], alpha)
            sets[target] = members
            written[target] = [_join(model.classes, row) for row in members]
            forced[target] = _always_included(calibration, model.classes, alpha)
        else:
            sets[target] = None
            written[target] = [""] * n
    decisions, reasons = [], []
    for i in range(n):
        row = attributes.iloc[i] if spec.limits else pd.Series(dtype=float)
        decision, reason, notes = _decide_one(i, sets, models, bool(in_domain.iloc[i]), row,
                                              spec, forced)
        decisions.append(decision)
        reasons.append("; ".join([reason, *notes]))
    return pd.DataFrame({"purity_set": written["purity"], "potency_set": written["potency"],
                         "decision": decisions, "decision_reason": reasons},
                        index=in_domain.index)


def _always_included(calibration: ConformalCalibration, classes: tuple[str, ...],
                     alpha: float) -> dict[str, tuple[int, str]]:
    """Each class that no set can exclude at α (too few calibration batches: a finite set
    needs at least 1/α − 1 of them), with its number of calibration units and their name."""
    units = "batch" if calibration.unit == BATCH else "preparation"
    return {c: (n, units)
            for c, n, always in zip(classes, calibration.n_units_per_class,
                                    calibration.always_included(alpha), strict=True)
            if always}


def _forced_note(kept: list[tuple[str, int, str]], alpha: float) -> list[str]:
    """One note for the classes in the sets only because they cannot be excluded."""
    if not kept:
        return []

    def counted(n: float, unit: str) -> str:
        return f"{n:.3g} {unit}{'' if n == 1 else ('es' if unit == 'batch' else 's')}"

    need = counted(1 / alpha - 1, kept[0][2])
    return [f"in every set at α={alpha:g} for too few calibration data ({need} needed): "
            + ", ".join(f"{c} {counted(n, unit)}" for c, n, unit in kept)]


def _decide_one(i: int, sets: Mapping[str, np.ndarray | None],
                models: Mapping[str, ModelSpec], in_domain: bool, attributes: pd.Series,
                spec: Spec, forced: Mapping[str, Mapping[str, tuple[int, str]]]
                ) -> tuple[str, str, list[str]]:
    """The decision, its reason, and why classes that cannot be excluded are in the
    sets the decision rests on (none when the sets played no part)."""
    alpha = spec.release.alpha
    outside, unmeasured = [], []
    for name, limits in spec.limits.items():
        value = attributes.get(name, np.nan)
        if pd.isna(value):
            unmeasured.append(name)
        elif limits.lower is not None and value < limits.lower:
            outside.append(f"{name} {value:.4g} below the lower limit {limits.lower:g}")
        elif limits.upper is not None and value > limits.upper:
            outside.append(f"{name} {value:.4g} above the upper limit {limits.upper:g}")
    if outside:
        return "reject", "out of specification: " + "; ".join(outside), []
    if not in_domain:
        return "assay", ("outside the training domain (see domain_note): never released "
                         "automatically"), []
    words: list[str] = []
    kept: list[tuple[str, int, str]] = []
    any_empty, any_rejected, all_accepted = False, False, True
    for target in TARGETS:
        if target not in models:
            return "assay", (f"no {target} model is registered: a release needs the "
                             "prediction sets of both models"), []
        members = sets[target]
        if members is None:
            return "assay", (f"the {target} model has no conformal calibration (trained "
                             "before exoqc made prediction sets): retrain it to get release "
                             "decisions"), []
        classes = [c for c, keep in zip(models[target].classes, members[i], strict=True)
                   if keep]
        accepted = [c for c in classes if c in _accepted(spec, target)]
        kept += [(c, *forced[target][c]) for c in classes if c in forced[target]]
        if not classes:
            any_empty = True
            words.append(f"no {target} class is plausible at α={alpha:g} (empty set: unlike "
                         f"the calibration preparations of every class)")
            continue
        if not accepted:
            any_rejected = True
            words.append(f"{target} set {{{', '.join(classes)}}} holds no acceptable class "
                         f"(acceptable: {', '.join(_accepted(spec, target)) or 'none'})")
        elif len(accepted) < len(classes):
            all_accepted = False
            unaccepted = [c for c in classes if c not in accepted]
            words.append(f"{target} set {{{', '.join(classes)}}} includes "
                         f"{', '.join(unaccepted)}, not acceptable")
        else:
            words.append(f"{target} set {{{', '.join(classes)}}} acceptable")
    notes = _forced_note(kept, alpha)
    if any_rejected:
        return "reject", "; ".join(w for w in words if "no acceptable" in w), notes
    if any_empty:
        empty = "; ".join(w for w in words if "empty set" in w)
        return "assay", f"{empty}: the functional assay decides", notes
    if not all_accepted:
        return ("assay", "; ".join(words) + f" (α={alpha:g}): the functional assay decides",
                notes)
    if unmeasured:
        return "assay", (f"{', '.join(unmeasured)} not measured: its specification limit "
                         "cannot be checked"), notes
    return "release", "; ".join(words) + f" (α={alpha:g})", notes


def release_probability(scores: pd.DataFrame, spec: Spec) -> pd.Series:
    """P(purity acceptable) · P(potency acceptable) from the scores file's probabilities."""
    purity = sum(scores[f"p_purity_{c}"].astype(float) for c in spec.release.purity_accept)
    p_potent = scores["p_potent"].astype(float)
    potency = sum(p_potent if c == "potent" else 1.0 - p_potent
                  for c in spec.release.potency_accept)
    return pd.Series(purity, index=scores.index) * pd.Series(potency, index=scores.index)


def assay_priority(scores: pd.DataFrame, spec: Spec, budget: int | None) -> pd.Series:
    """``assay_priority`` (1..budget, else NA) of a scores table; see the module text."""
    priority = pd.Series(pd.NA, index=scores.index, dtype="Int64")
    candidates = scores.index[(scores["decision"] == "assay").to_numpy()]
    if not budget or len(candidates) == 0:
        return priority
    rows = scores.loc[candidates]
    p = release_probability(rows, spec).where(rows["in_domain"].astype(bool), 0.5)
    urgency = pd.Series(np.minimum(p, 1.0 - p), index=rows.index).fillna(0.5)
    size = sum(rows[f"{t}_set"].fillna("").map(
        lambda s: len(s.split(SET_SEPARATOR)) if s else 0) for t in TARGETS)
    order = pd.DataFrame({"urgency": urgency, "size": size, "position": np.arange(len(rows))},
                         index=rows.index).sort_values(["urgency", "size", "position"],
                                                       ascending=[False, False, True])
    chosen = order.index[:budget]
    priority.loc[chosen] = np.arange(1, len(chosen) + 1)
    return priority
