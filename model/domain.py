"""Applicability domain: is a new preparation like the ones the model learned from?

A model's answer for a preparation unlike its training data is an extrapolation. Three
checks a scientist can act on, fitted on the training split and stored with the model:

- a feature the model relies on (at least 1 % of its total split gain) outside the
  training range widened by 10 % of that range on each side, e.g. a Z-average far above
  any training preparation. Trees are flat beyond the last split, so a feature the model
  does not use cannot make it extrapolate; checking all ~100 features would flag most
  preparations of any new batch for harmless differences;
- too many features not measured: more missing than 99 % of training preparations;
- an isolation method no training preparation used (its one-hot column was never 1).

The domain also keeps a fixed random sample of 200 training rows: the training data that
``exoqc monitor`` tests new batches against for drift (docs/monitor.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from exoqc.features import label_of

RANGE_TOLERANCE = 0.10
REFERENCE_ROWS = 200  # training rows kept with the model for drift tests (exoqc monitor)
MIN_GAIN_SHARE = 0.01
ISOLATION_PREFIX = "isolation_"
MAX_NAMED_FEATURES = 3


@dataclass
class ApplicabilityDomain:
    """Training ranges and missingness; ``fit`` on training features, ``check`` new ones.

    The training quartiles are kept too, so that reasons can say whether a value is
    high or low for this model ("EV / co-isolate ratio high").
    """

    range_tolerance: float = RANGE_TOLERANCE
    low_: dict[str, float] = field(default_factory=dict)
    high_: dict[str, float] = field(default_factory=dict)
    max_missing_: int = 0
    unseen_methods_: list[str] = field(default_factory=list)
    q25_: dict[str, float] = field(default_factory=dict)
    q75_: dict[str, float] = field(default_factory=dict)
    reference_: dict = field(default_factory=dict)

    def fit(self, features: pd.DataFrame,
            gain: dict[str, float] | None = None) -> ApplicabilityDomain:
        """Learn the domain from the training split; ``gain`` is the model's total split
        gain per feature (``booster.get_score(importance_type="total_gain")``): only
        features with at least 1 % of it get a range check (all, when not given)."""
        low, high = features.min(), features.max()
        pad = (high - low) * self.range_tolerance
        measured = low.notna()
        if gain is not None:
            total = sum(gain.values()) or 1.0
            relied_on = pd.Series({c: gain.get(c, 0.0) / total >= MIN_GAIN_SHARE
                                   for c in features.columns})
            measured = measured & relied_on
        self.low_ = _by_feature((low - pad)[measured])
        self.high_ = _by_feature((high + pad)[measured])
        self.max_missing_ = int(np.ceil(features.isna().sum(axis=1).quantile(0.99)))
        methods = [c for c in features.columns if c.startswith(ISOLATION_PREFIX)]
        self.unseen_methods_ = [c for c in methods if not (features[c] == 1).any()]
        known = low.notna()
        self.q25_ = _by_feature(features.quantile(0.25)[known])
        self.q75_ = _by_feature(features.quantile(0.75)[known])
        # A fixed random sample of the training split, 4 significant digits: what drift
        # tests compare new batches with (the model carries no other copy of its data).
        sample = features.sample(n=min(REFERENCE_ROWS, len(features)), random_state=0)
        rows = np.vectorize(lambda v: float(f"{v:.4g}"))(sample.to_numpy(dtype=float))
        self.reference_ = {"columns": list(map(str, sample.columns)),
                           "rows": [[None if v != v else v for v in row] for row in
                                    rows.tolist()]} if len(sample) else {}
        return self

    def reference_frame(self) -> pd.DataFrame | None:
        """The stored training sample as features (NaN = not measured); ``None`` for a
        model trained before the sample was kept."""
        if not self.reference_:
            return None
        return pd.DataFrame(self.reference_["rows"], columns=self.reference_["columns"],
                            dtype=float)

    def to_dict(self) -> dict:
        return {"range_tolerance": self.range_tolerance, "low": self.low_, "high": self.high_,
                "max_missing": self.max_missing_, "unseen_methods": self.unseen_methods_,
                "q25": self.q25_, "q75": self.q75_, "reference": self.reference_}

    @classmethod
    def from_dict(cls, data: dict) -> ApplicabilityDomain:
        return cls(range_tolerance=data["range_tolerance"], low_=dict(data["low"]),
                   high_=dict(data["high"]), max_missing_=int(data["max_missing"]),
                   unseen_methods_=list(data["unseen_methods"]), q25_=dict(data["q25"]),
                   q75_=dict(data["q75"]), reference_=dict(data.get("reference", {})))

    def training_range(self, name: str) -> tuple[float, float]:
        """The lowest and highest value of ``name`` in the training split (the stored
        bounds are those widened by the tolerance on each side)."""
        low, high = self.low_[name], self.high_[name]
        width = (high - low) / (1 + 2 * self.range_tolerance)
        return low + self.range_tolerance * width, high - self.range_tolerance * width

    def describe_value(self, name: str, value: float) -> str:
        """'high', 'low' or 'typical' against the training quartiles; 'not measured'."""
        if value != value:  # NaN
            return "not measured"
        if name not in self.q25_:
            return "measured"
        if self.q25_[name] == self.q75_[name]:
            return "typical" if value == self.q25_[name] else (
                "high" if value > self.q75_[name] else "low")
        if value > self.q75_[name]:
            return "high"
        if value < self.q25_[name]:
            return "low"
        return "typical"

    def check(self, features: pd.DataFrame) -> pd.DataFrame:
        """``in_domain`` (bool) and ``domain_note`` (text, empty when in domain) per row."""
        notes: list[list[str]] = [[] for _ in range(len(features))]
        columns = [c for c in self.low_ if c in features.columns]
        values = features[columns]
        low = pd.Series(self.low_)[columns]
        high = pd.Series(self.high_)[columns]
        below = values.lt(low, axis=1).to_numpy()
        above = values.gt(high, axis=1).to_numpy()
        measured = values.to_numpy(dtype=float)
        for i in np.nonzero((below | above).any(axis=1))[0]:
            outside = np.nonzero(below[i] | above[i])[0]
            for j in outside[:MAX_NAMED_FEATURES]:
                name = columns[j]
                side = "below" if below[i, j] else "above"
                first, last = self.training_range(name)
                notes[i].append(
                    f"{label_of(name)} {measured[i, j]:.3g} is {side} the "
                    f"training range ({first:.3g} to {last:.3g}) by more than the tolerance "
                    f"({self.range_tolerance:.0%} of that range)"
                )
            if len(outside) > MAX_NAMED_FEATURES:
                notes[i].append(f"{len(outside) - MAX_NAMED_FEATURES} more feature(s) outside "
                                "the training range")
        missing = features.isna().sum(axis=1).to_numpy()
        for i in np.nonzero(missing > self.max_missing_)[0]:
            notes[i].append(
                f"{missing[i]} of {features.shape[1]} features not measured (training "
                f"preparations had at most {self.max_missing_})"
            )
        for column in self.unseen_methods_:
            if column in features:
                for i in np.nonzero((features[column] == 1).to_numpy())[0]:
                    notes[i].append(
                        f"isolation method '{column.removeprefix(ISOLATION_PREFIX)}' was not "
                        "used by any training preparation"
                    )
        return pd.DataFrame(
            {"in_domain": [not n for n in notes], "domain_note": ["; ".join(n) for n in notes]},
            index=features.index,
        )


def _by_feature(values: pd.Series) -> dict[str, float]:
    """A per-feature statistic as the plain dict the model file stores."""
    return {str(name): float(value) for name, value in values.items()}
