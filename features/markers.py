"""Protein-marker features that do not depend on a run's absolute intensity scale.

A Western blot's exposure, an ELISA plate's standard curve or a proteomics run's intensity
range multiply every intensity of that run by an unknown factor, so exoqc only uses
quantities in which that factor cancels:

* **Category levels.** Within one run, a preparation's level of a marker group is the mean
  of log10 intensity over the group's measured markers (a geometric mean, so each marker
  weighs the same whatever its antibody's brightness). Groups follow MISEV2018 (Théry et
  al., J Extracell Vesicles 2018, Table 3): positive EV markers (category 1 transmembrane
  and 2a cytosolic, e.g. CD63, CD81, CD9, TSG101, ALIX, syntenin-1, flotillin-1),
  non-EV co-isolates (category 3: apolipoproteins, albumin) and other compartments
  (category 4: calnexin, GM130, GRP78, histones). Differences of two levels of one sample
  in one run are log-ratios, free of the run's scale; a preparation measured in several
  runs gets the mean over the runs where both levels exist.
* **Per-marker values** for the common panel: log10 of the marker's intensity relative to
  the same sample's positive-EV-marker level in the same run (how strong the APOA1 or
  calnexin band is next to the EV bands of the same lane).
* **Not detected is not the same as not measured.** A measured marker with intensity 0
  ("ND") enters the logarithms at a floor: half the smallest intensity detected in the
  same run (any marker, any preparation), i.e. the run's detection limit halved, the
  LOD/2 substitution of Hornung & Reed (Appl Occup Environ Hyg 1990). A log-ratio over a
  not-detected denominator is therefore a lower bound, and the detection flags
  (1 detected, 0 measured but not detected, NaN not measured) keep the difference. In a run
  where nothing was detected the floor, and so every ratio of that run, is undefined.
* **MISEV2018 minimum**: at least three positive EV markers detected, including at least
  one transmembrane (category 1) and one cytosolic (category 2) protein, and at least one
  purity control (category 3 or 4) measured.

A run is one ``(assay, run)`` of ``markers.csv``; a row without ``run`` is its own run per
preparation and assay. Markers outside exoqc's vocabulary (a loader warning already) and
housekeeping (category 2b) or secreted (category 5) proteins are not in any group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from exoqc.dataset import MARKERS_FILE, Dataset
from exoqc.features.catalog import FeatureInfo
from exoqc.markers import MARKERS

FLOOR_FRACTION_OF_RUN_MINIMUM = 0.5
"""Not-detected intensities enter log-ratios at this fraction of the run's smallest detection."""

MISEV_MIN_POSITIVE = 3

# (HGNC symbol, column key) of the panel most EV labs blot; the key is the name labs use.
PANEL: tuple[tuple[str, str], ...] = (
    ("CD63", "cd63"),
    ("CD81", "cd81"),
    ("CD9", "cd9"),
    ("TSG101", "tsg101"),
    ("PDCD6IP", "alix"),
    ("SDCBP", "syntenin1"),
    ("FLOT1", "flotillin1"),
    ("APOA1", "apoa1"),
    ("APOB", "apob"),
    ("ALB", "albumin"),
    ("CANX", "calnexin"),
    ("GOLGA2", "gm130"),
    ("HSPA5", "grp78"),
)

# Marker groups; positive EV markers ("ev" levels) are the first two together.
_GROUPS = ("transmembrane", "cytosolic", "coisolate", "other_compartment")
_EV_GROUPS = ["transmembrane", "cytosolic"]
_FLOOR_NOTE = (
    "A measured but not detected marker enters at half the smallest intensity detected in "
    "the same run (the run's detection limit halved), so a ratio over a not-detected "
    "denominator is a lower bound."
)


def _count_feature(group: str, label: str, what: str) -> FeatureInfo:
    return FeatureInfo(
        f"n_{group}_markers_detected",
        label,
        "count",
        f"How many different {what} were detected (intensity above 0) in any assay. "
        f"Empty when none was measured; 0 when they were measured and none was detected.",
        "markers",
    )


def _panel_features() -> list[FeatureInfo]:
    infos = []
    for symbol, key in PANEL:
        name = MARKERS[symbol].name
        infos.append(FeatureInfo(
            f"marker_{key}_detected",
            f"{name} detected",
            "0/1",
            f"1 when {name} ({symbol}) was detected in at least one measurement, 0 when it was "
            "measured and never detected, empty when it was not measured.",
            "markers",
        ))
        infos.append(FeatureInfo(
            f"marker_{key}_log10_rel_ev",
            f"{name} vs EV markers",
            "log10 ratio",
            f"log10 of the {name} ({symbol}) signal relative to the geometric mean of the same "
            "sample's positive EV markers in the same run (blot, plate or MS run); mean over "
            f"runs. Independent of exposure or instrument scale. {_FLOOR_NOTE}",
            "markers",
        ))
    return infos


MARKER_FEATURES: tuple[FeatureInfo, ...] = (
    _count_feature(
        "positive", "Positive EV markers detected",
        "positive EV markers (MISEV category 1 transmembrane or 2a cytosolic)"),
    _count_feature(
        "transmembrane", "Transmembrane EV markers detected",
        "transmembrane EV markers (MISEV category 1: CD63, CD81, CD9, integrins ...)"),
    _count_feature(
        "cytosolic", "Cytosolic EV markers detected",
        "cytosolic EV markers (MISEV category 2a: TSG101, ALIX, syntenin-1, flotillins ...)"),
    _count_feature(
        "coisolate", "Co-isolate markers detected",
        "non-EV co-isolate markers (MISEV category 3: APOA1, APOB, albumin ...)"),
    _count_feature(
        "other_compartment", "Other-compartment markers detected",
        "other-compartment markers (MISEV category 4: calnexin, GM130, GRP78, histones ...)"),
    FeatureInfo(
        "misev_minimum_met",
        "MISEV2018 marker minimum met",
        "0/1",
        "1 when at least 3 positive EV markers were detected, including at least one "
        "transmembrane (category 1) and one cytosolic (category 2) protein, and at least one "
        "purity control (category 3 or 4) was measured (MISEV2018); 0 otherwise; empty when "
        "no protein marker was measured.",
        "markers",
    ),
    FeatureInfo(
        "log10_ev_to_coisolate_ratio",
        "EV / co-isolate marker ratio",
        "log10 ratio",
        "log10 of the geometric-mean signal of positive EV markers over that of non-EV "
        "co-isolates (apolipoproteins, albumin) in the same sample and run; mean over runs. "
        f"Higher means fewer lipoproteins and free protein per EV. {_FLOOR_NOTE}",
        "markers",
    ),
    FeatureInfo(
        "log10_ev_to_other_compartment_ratio",
        "EV / other-compartment marker ratio",
        "log10 ratio",
        "log10 of the geometric-mean signal of positive EV markers over that of "
        "other-compartment proteins (calnexin, GM130, GRP78, histones) in the same sample and "
        f"run; mean over runs. Higher means less cell debris. {_FLOOR_NOTE}",
        "markers",
    ),
    FeatureInfo(
        "log10_transmembrane_to_cytosolic_ratio",
        "Transmembrane / cytosolic EV marker ratio",
        "log10 ratio",
        "log10 of the geometric-mean signal of transmembrane EV markers (CD63, CD81, CD9 ...) "
        "over that of cytosolic EV markers (TSG101, ALIX, syntenin-1 ...) in the same sample "
        f"and run; mean over runs. Reflects the EV subtype mix and vesicle integrity. "
        f"{_FLOOR_NOTE}",
        "markers",
    ),
    *_panel_features(),
)


def marker_features(dataset: Dataset) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Marker features of every preparation, and warnings about undefined ratios.

    Returns a frame indexed by ``prep_id`` in the dataset's order with the columns of
    :data:`MARKER_FEATURES` (float64; NaN where not measured or undefined), and per
    preparation the runs in which nothing was detected (their ratios are undefined).
    """
    levels = _run_levels(dataset.markers)
    index = pd.Index(dataset.prep_ids, name="prep_id")
    names = [f.name for f in MARKER_FEATURES]
    if levels.empty:
        return pd.DataFrame(np.nan, index=index, columns=names), {}

    counts = _group_counts(_detections(levels))
    measured = counts.notna()
    misev = (
        (counts["n_positive_markers_detected"] >= MISEV_MIN_POSITIVE)
        & (counts["n_transmembrane_markers_detected"] >= 1)
        & (counts["n_cytosolic_markers_detected"] >= 1)
        & (measured["n_coisolate_markers_detected"]
           | measured["n_other_compartment_markers_detected"])
    ).rename("misev_minimum_met")

    group_level = _group_levels(levels)
    ratios = pd.DataFrame({
        "log10_ev_to_coisolate_ratio": group_level["ev"] - group_level["coisolate"],
        "log10_ev_to_other_compartment_ratio":
            group_level["ev"] - group_level["other_compartment"],
        "log10_transmembrane_to_cytosolic_ratio":
            group_level["transmembrane"] - group_level["cytosolic"],
    }).groupby(level="prep_id", sort=False).mean()

    panel_key = dict(PANEL)
    panel = levels[levels["symbol"].isin(panel_key)]
    panel = panel.join(group_level["ev"].rename("ev_level"), on=["prep_id", "run_id"])
    by_marker = [panel["prep_id"], panel["symbol"].map(panel_key)]
    relative = (panel["level"] - panel["ev_level"]).groupby(by_marker, sort=False).mean()
    detected = panel.groupby(by_marker, sort=False)["detected"].any()

    # Every prep in `counts` measured a marker, so `misev` is defined exactly there.
    frame = pd.concat([
        counts,
        misev.astype("float64"),
        ratios,
        relative.unstack().add_prefix("marker_").add_suffix("_log10_rel_ev"),
        detected.unstack().astype("float64").add_prefix("marker_").add_suffix("_detected"),
    ], axis=1)
    frame = frame.reindex(index=index, columns=names).astype("float64")
    return frame, _undefined_ratio_warnings(levels)


def misev_report(dataset: Dataset) -> pd.DataFrame:
    """The MISEV2018 marker check of every preparation, for reports.

    One row per preparation (index ``prep_id``, dataset order) with the readable names of
    the transmembrane and cytosolic EV markers detected, the purity controls (category 3/4)
    measured and detected, ``n_positive_detected``, ``misev_minimum_met`` (nullable boolean,
    NA when no marker was measured or the preparation's input has errors) and ``summary``,
    one line of text. The rule is the one of the ``misev_minimum_met`` feature.
    """
    features, _ = marker_features(dataset)
    levels = _run_levels(dataset.markers)
    detections = _detections(levels)
    detections["name"] = detections["symbol"].map({s: m.name for s, m in MARKERS.items()})

    def names(mask: pd.Series) -> pd.Series:
        chosen = detections[mask]
        return chosen.groupby("prep_id", sort=False)["name"].agg(", ".join)

    controls = detections["group"].isin(["coisolate", "other_compartment"])
    report = pd.DataFrame(index=features.index)
    report["transmembrane_detected"] = names(
        (detections["group"] == "transmembrane") & detections["detected"])
    report["cytosolic_detected"] = names(
        (detections["group"] == "cytosolic") & detections["detected"])
    report["purity_controls_measured"] = names(controls)
    report["purity_controls_detected"] = names(controls & detections["detected"])
    report = report.fillna("")
    report["n_positive_detected"] = features["n_positive_markers_detected"].astype("Int64")
    report["misev_minimum_met"] = features["misev_minimum_met"].astype("boolean")
    failed = report.index.isin(list(dataset.errors))
    report.loc[failed, "misev_minimum_met"] = pd.NA
    report["summary"] = [
        _summary(row, bool(is_failed))
        for row, is_failed in zip(report.itertuples(), failed, strict=True)
    ]
    return report


def _summary(row, failed: bool) -> str:
    """One line for a row of :func:`misev_report` (a namedtuple of its columns)."""
    if failed:
        return "MISEV2018 minimum not assessed: this preparation's input has errors."
    if pd.isna(row.misev_minimum_met):
        return "MISEV2018 minimum not assessed: no recognised protein marker was measured."
    found = (f"transmembrane: {row.transmembrane_detected or 'none'}; "
             f"cytosolic: {row.cytosolic_detected or 'none'}")
    controls = (f"purity controls measured: {row.purity_controls_measured} "
                f"(detected: {row.purity_controls_detected or 'none'})"
                if row.purity_controls_measured else "no purity control measured")
    n_positive = 0 if pd.isna(row.n_positive_detected) else int(row.n_positive_detected)
    if row.misev_minimum_met:
        return (f"MISEV2018 minimum met: {n_positive} positive EV markers detected "
                f"({found}); {controls}.")
    missing = []
    if n_positive < MISEV_MIN_POSITIVE:
        missing.append(f"{n_positive} positive EV marker(s) detected, "
                       f"{MISEV_MIN_POSITIVE} needed")
    if not row.transmembrane_detected:
        missing.append("no transmembrane (category 1) marker detected")
    if not row.cytosolic_detected:
        missing.append("no cytosolic (category 2) marker detected")
    if not row.purity_controls_measured:
        missing.append("no purity control (category 3 or 4) measured")
    return f"MISEV2018 minimum not met: {'; '.join(missing)} ({found}; {controls})."


_GROUP_OF_CATEGORY = {1: "transmembrane", 2: "cytosolic", 3: "coisolate",
                      4: "other_compartment"}


def _group_of(category: pd.Series, positive: pd.Series) -> pd.Series:
    group = category.map(_GROUP_OF_CATEGORY).astype(object)
    # Categories 1 and 2 count only for EV-positive markers; 3 and 4 whatever the marker.
    return group.where(positive | ~category.isin([1, 2]), np.nan)


def _run_levels(markers: pd.DataFrame) -> pd.DataFrame:
    """One row per (preparation, run, marker): floored mean log10 intensity and detection.

    Columns ``prep_id, run_id, run, assay, symbol, group, level, detected``. Rows of
    unknown markers and of unusable intensities (already reported by the loader) are left
    out.
    """
    usable = markers[markers["symbol"].notna() & markers["intensity"].notna()]
    if usable.empty:
        return pd.DataFrame(columns=["prep_id", "run_id", "run", "assay", "symbol", "group",
                                     "level", "detected"])
    intensity = usable["intensity"].astype("float64")
    detected = usable["detected"].astype(bool)
    run = usable["run"].fillna("").astype(str)
    own_run = usable["prep_id"].where(run == "", "")
    run_id = pd.Series(
        usable.groupby([usable["assay"], run, own_run], sort=False).ngroup().to_numpy(),
        index=usable.index)
    floor = FLOOR_FRACTION_OF_RUN_MINIMUM * intensity.where(detected).groupby(run_id).transform(
        "min")
    measurements = pd.DataFrame({
        "prep_id": usable["prep_id"],
        "run_id": run_id,
        "run": run,
        "assay": usable["assay"],
        "symbol": usable["symbol"],
        "group": _group_of(usable["category"].astype("float64"), usable["positive"].astype(bool)),
        "level": np.log10(intensity.where(detected, floor)),
        "detected": detected,
    })
    # Replicate rows of one marker in one run are averaged first, so every marker counts once.
    return measurements.groupby(["prep_id", "run_id", "symbol"], sort=False, as_index=False).agg(
        run=("run", "first"), assay=("assay", "first"), group=("group", "first"),
        level=("level", "mean"), detected=("detected", "any"))


def _detections(levels: pd.DataFrame) -> pd.DataFrame:
    """One row per (preparation, marker): its group and whether any measurement detected it."""
    return levels.groupby(["prep_id", "symbol"], sort=False, as_index=False).agg(
        group=("group", "first"), detected=("detected", "any"))


def _group_counts(detections: pd.DataFrame) -> pd.DataFrame:
    """Markers detected per preparation and group; NaN where the group was not measured."""
    grouped = detections[detections["group"].notna()]
    by = [grouped["prep_id"], grouped["group"]]
    detected = grouped.groupby(by, sort=False)["detected"].sum().unstack()
    measured = grouped.groupby(by, sort=False).size().unstack()
    counts = pd.DataFrame(index=pd.Index(detections["prep_id"].unique(), name="prep_id"))
    for group in _GROUPS:
        in_group = detected.get(group, pd.Series(dtype="float64"))
        counts[f"n_{group}_markers_detected"] = in_group.where(
            measured.get(group, pd.Series(dtype="float64")) > 0).reindex(counts.index)
    positive = counts[["n_transmembrane_markers_detected", "n_cytosolic_markers_detected"]]
    counts["n_positive_markers_detected"] = positive.sum(axis=1, min_count=1)
    return counts.astype("float64")


def _group_levels(levels: pd.DataFrame) -> pd.DataFrame:
    """Mean floored log10 intensity per (preparation, run) of each group and of all EV markers."""
    grouped = levels[levels["group"].notna()]
    keys = [grouped["prep_id"], grouped["run_id"]]
    per_group = grouped.groupby([*keys, grouped["group"]], sort=False)["level"].mean().unstack()
    per_group = per_group.reindex(columns=list(_GROUPS))
    ev = grouped[grouped["group"].isin(_EV_GROUPS)]
    per_group["ev"] = ev.groupby([ev["prep_id"], ev["run_id"]], sort=False)["level"].mean()
    per_group.index.names = ["prep_id", "run_id"]
    return per_group


def _undefined_ratio_warnings(levels: pd.DataFrame) -> dict[str, list[str]]:
    """Preparations whose ratios in a run are undefined because nothing in the run was detected.

    Only runs in which the preparation has a positive EV marker and at least one other
    marker are reported: elsewhere no ratio would exist anyway.
    """
    blank_run = ~levels.groupby("run_id")["detected"].transform("any")
    prep_run = [levels["prep_id"], levels["run_id"]]
    is_ev = levels["group"].isin(_EV_GROUPS)
    has_ev = is_ev.groupby(prep_run, sort=False).transform("any")
    several = levels["symbol"].groupby(prep_run, sort=False).transform("size") >= 2
    affected = levels[blank_run & has_ev & several].drop_duplicates(["prep_id", "run_id"])
    warnings: dict[str, list[str]] = {}
    for prep_id, run, assay in affected[["prep_id", "run", "assay"]].itertuples(index=False):
        where = f"run '{run}' ({assay})" if run else f"{assay} measurements without a run"
        warnings.setdefault(prep_id, []).append(
            f"{MARKERS_FILE}, {where}: no marker was detected in this run, so its intensity "
            "ratios are undefined and left empty (detection flags are kept)")
    return warnings
