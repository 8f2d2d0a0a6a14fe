"""What a lab's labels can train, checked before any work: the stated minimums, and what
the user must know about classes that are missing, rare, or batches that are not given."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

SMALL_DATA_MAX = 1000
"""Below this many labelled preparations a target is validated by repeated grouped CV
(``repeated_cv``) and may use the prior; from it on, by the held-out split of the reference
path (a 20 % split of 1,000 preparations is ~200, enough for a stable metric)."""
MIN_LABELLED = 10
MIN_PER_CLASS = 3
MIN_GROUPS = 3


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
