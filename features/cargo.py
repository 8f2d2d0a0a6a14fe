"""Cargo features: let-7a and let-7b miRNA content from qPCR.

``cargo.csv`` gives ΔCt of each target against the lab's reference (a spike-in or a
reference small RNA), as written; a lower ΔCt means more of the miRNA. let-7 family
miRNAs are among the most abundant EV miRNAs of mesenchymal and antler stem cells and carry
part of their regenerative effect. Technical replicates are averaged over the wells that
amplified. "Undetermined" wells (no amplification) are kept apart from targets that were
not assayed: ΔCt is empty in both cases, the detection flag says which.
"""

from __future__ import annotations

import pandas as pd

from exoqc.dataset import CARGO_FILE
from exoqc.features.catalog import FeatureInfo

CARGO_TARGETS: tuple[str, ...] = ("let-7a", "let-7b")


def _target_features(target: str) -> tuple[FeatureInfo, FeatureInfo]:
    key = target.replace("-", "")
    return (
        FeatureInfo(
            f"{key}_delta_ct",
            f"{target} ΔCt",
            "cycles",
            f"qPCR ΔCt of {target} against the lab's reference, mean over the replicate wells "
            f"that amplified; lower means more {target} cargo. Empty when not assayed or when "
            "no well amplified.",
            "qPCR",
        ),
        FeatureInfo(
            f"{key}_detected",
            f"{target} detected",
            "0/1",
            f"1 when {target} amplified in at least one qPCR well, 0 when it was assayed and "
            "never amplified (Undetermined), empty when it was not assayed.",
            "qPCR",
        ),
    )


CARGO_FEATURES: tuple[FeatureInfo, ...] = tuple(
    info for target in CARGO_TARGETS for info in _target_features(target)
)


def cargo_features(
    cargo: pd.DataFrame, prep_ids: list[str]
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """let-7a / let-7b ΔCt and detection flags per preparation (index ``prep_id``).

    ``cargo`` is :attr:`exoqc.dataset.Dataset.cargo` (targets already normalized by the
    loader). Targets that are not features are named in one warning per preparation.
    """
    names = [f.name for f in CARGO_FEATURES]
    index = pd.Index(prep_ids, name="prep_id")
    used = cargo[cargo["target"].isin(CARGO_TARGETS)]
    by_target = [used["prep_id"], used["target"].str.replace("-", "", regex=False)]
    detected = used["detected"].astype(bool)
    delta_ct = used["delta_ct"].astype("float64").where(detected).groupby(
        by_target, sort=False).mean()
    amplified = detected.groupby(by_target, sort=False).any().astype("float64")
    frame = pd.concat([
        delta_ct.unstack().add_suffix("_delta_ct"),
        amplified.unstack().add_suffix("_detected"),
    ], axis=1)
    frame = frame.reindex(index=index, columns=names).astype("float64")

    other = cargo.loc[~cargo["target"].isin(CARGO_TARGETS), ["prep_id", "target"]]
    other_targets = other.drop_duplicates().sort_values("target").groupby(
        "prep_id", sort=False)["target"].agg(", ".join)
    warnings = {
        str(prep_id): [f"{CARGO_FILE}: target(s) {targets} are not model features; not used"]
        for prep_id, targets in other_targets.items()
    }
    return frame, warnings
