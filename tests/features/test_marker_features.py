"""Marker features: run-scale invariance, not detected vs not measured, aliases, MISEV2018."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from exoqc.dataset import load_dataset
from exoqc.features.markers import MARKER_FEATURES, PANEL, marker_features, misev_report

PREPS = "prep_id,isolation_method\n" + "".join(f"P{i},uc\n" for i in range(1, 13))

EV_MARKERS = ["CD63", "CD81", "CD9", "TSG101", "ALIX", "syntenin-1", "flotillin-1"]
CONTROLS = ["APOA1", "APOB", "albumin", "calnexin", "GM130", "GRP78"]


def random_markers(seed: int = 7) -> pd.DataFrame:
    """Partial panels in two blots, one MS run and run-less ELISA rows, with NDs."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(1, 13):
        prep = f"P{i}"
        blots = {"wb": f"blot{1 + i % 2}", "ms": "ms1", "elisa": ""}
        for assay, run in blots.items():
            for marker in rng.choice(EV_MARKERS + CONTROLS, size=rng.integers(2, 9),
                                     replace=False):
                intensity = 0.0 if rng.random() < 0.25 else float(10 ** rng.normal(3, 0.8))
                rows.append((prep, marker, intensity, assay, run))
    return pd.DataFrame(rows, columns=["prep_id", "marker", "intensity", "assay", "run"])


def features_of(prep_folder, markers: pd.DataFrame, name: str, preps: str = PREPS):
    root = prep_folder(preps, markers.to_csv(index=False), name=name)
    dataset = load_dataset(root)
    return marker_features(dataset)[0]


def test_columns_match_catalog_and_are_float(prep_folder):
    frame = features_of(prep_folder, random_markers(), "a")
    assert list(frame.columns) == [f.name for f in MARKER_FEATURES]
    assert (frame.dtypes == "float64").all()
    assert frame.index.tolist() == [f"P{i}" for i in range(1, 13)]


@pytest.mark.parametrize(("assay", "run"), [("wb", "blot1"), ("ms", "ms1"), ("elisa", "")])
def test_multiplying_one_run_by_37_leaves_every_feature_unchanged(prep_folder, assay, run):
    markers = random_markers()
    scaled = markers.copy()
    in_run = (scaled["assay"] == assay) & (scaled["run"] == run)
    if not run:  # run-less rows: each prep's ELISA is its own run; scale one prep's
        in_run &= scaled["prep_id"] == "P5"
    assert in_run.sum() >= 2
    scaled.loc[in_run, "intensity"] *= 37
    before = features_of(prep_folder, markers, "before")
    after = features_of(prep_folder, scaled, "after")
    assert before.notna().to_numpy().sum() > 100  # the comparison covers real values
    pd.testing.assert_frame_equal(before, after, check_exact=False, rtol=1e-12, atol=1e-12)


def test_scaling_one_marker_within_a_run_does_change_ratios(prep_folder):
    """The invariance above is not vacuous: a per-marker change moves the ratios."""
    markers = random_markers()
    changed = markers.copy()
    cd63 = (changed["marker"] == "CD63") & (changed["intensity"] > 0)
    changed.loc[cd63, "intensity"] *= 37
    before = features_of(prep_folder, markers, "before")
    after = features_of(prep_folder, changed, "after")
    moved = ~np.isclose(before["marker_cd63_log10_rel_ev"], after["marker_cd63_log10_rel_ev"])
    assert moved[before["marker_cd63_detected"].to_numpy() == 1].any()


def test_ratios_from_first_principles(prep_folder):
    markers = """prep_id,marker,intensity,assay,run
P1,CD63,1000,wb,b1
P1,TSG101,100,wb,b1
P1,APOA1,10,wb,b1
P1,calnexin,0,wb,b1
P2,CD63,40,wb,b1
"""
    frame = features_of(prep_folder, pd.read_csv(pd.io.common.StringIO(markers)), "a")
    ev = (math.log10(1000) + math.log10(100)) / 2  # geometric mean of EV markers: 10^2.5
    floor = 0.5 * 10  # half the smallest intensity detected in run b1
    p1 = frame.loc["P1"]
    assert p1["log10_ev_to_coisolate_ratio"] == pytest.approx(ev - 1.0)
    assert p1["log10_ev_to_other_compartment_ratio"] == pytest.approx(ev - math.log10(floor))
    assert p1["log10_transmembrane_to_cytosolic_ratio"] == pytest.approx(3.0 - 2.0)
    assert p1["marker_cd63_log10_rel_ev"] == pytest.approx(3.0 - ev)
    assert p1["marker_apoa1_log10_rel_ev"] == pytest.approx(1.0 - ev)
    assert p1["marker_calnexin_log10_rel_ev"] == pytest.approx(math.log10(floor) - ev)
    # P2 has only CD63: no second group, so no ratio; its value relative to itself is 0
    p2 = frame.loc["P2"]
    assert math.isnan(p2["log10_ev_to_coisolate_ratio"])
    assert p2["marker_cd63_log10_rel_ev"] == pytest.approx(0.0)


def test_runs_are_averaged_and_replicates_count_once(prep_folder):
    markers = """prep_id,marker,intensity,assay,run
P1,CD63,1000,wb,b1
P1,CD63,1000,wb,b1
P1,APOA1,10,wb,b1
P1,CD63,50,ms,m1
P1,APOA1,5,ms,m1
P1,APOA1,5,ms,m1
"""
    frame = features_of(prep_folder, pd.read_csv(pd.io.common.StringIO(markers)), "a")
    # run b1: log10(1000/10) = 2; run m1: log10(50/5) = 1; mean over runs = 1.5
    assert frame.at["P1", "log10_ev_to_coisolate_ratio"] == pytest.approx(1.5)


def test_not_detected_is_kept_apart_from_not_measured(prep_folder):
    markers = """prep_id,marker,intensity,assay,run
P1,CD63,800,wb,b1
P1,calnexin,ND,wb,b1
P1,APOA1,0,wb,b1
P2,CD63,900,wb,b1
P2,APOA1,30,wb,b1
"""
    preps = "prep_id\nP1\nP2\nP3\n"
    frame = features_of(prep_folder, pd.read_csv(pd.io.common.StringIO(markers)), "a", preps)
    p1, p2, p3 = frame.loc["P1"], frame.loc["P2"], frame.loc["P3"]
    # measured, not detected -> 0; not measured -> NaN
    assert p1["marker_calnexin_detected"] == 0
    assert math.isnan(p2["marker_calnexin_detected"])
    assert p1["n_other_compartment_markers_detected"] == 0
    assert math.isnan(p2["n_other_compartment_markers_detected"])
    assert p1["n_coisolate_markers_detected"] == 0
    assert p2["n_coisolate_markers_detected"] == 1
    # a not-detected denominator gives a floored, finite lower bound; not measured gives NaN
    floor = 0.5 * 30
    assert p1["log10_ev_to_other_compartment_ratio"] == pytest.approx(math.log10(800 / floor))
    assert math.isnan(p2["log10_ev_to_other_compartment_ratio"])
    assert p1["log10_ev_to_coisolate_ratio"] > p2["log10_ev_to_coisolate_ratio"]
    # a prep with no marker at all: every marker feature is NaN, MISEV not assessed
    assert p3.isna().all()


def test_run_with_nothing_detected_leaves_ratios_empty_and_warns(prep_folder):
    markers = """prep_id,marker,intensity,assay,run
P1,CD63,0,wb,b1
P1,APOA1,0,wb,b1
"""
    root = prep_folder("prep_id\nP1\n", markers)
    frame, warnings = marker_features(load_dataset(root))
    assert frame.at["P1", "marker_cd63_detected"] == 0
    assert math.isnan(frame.at["P1", "log10_ev_to_coisolate_ratio"])
    assert len(warnings["P1"]) == 1
    assert "markers.csv" in warnings["P1"][0] and "b1" in warnings["P1"][0]


def test_aliases_give_the_same_features_as_hgnc_symbols(prep_folder):
    common = """prep_id,marker,intensity,assay,run
P1,Alix,500,wb,b1
P1,Syntenin 1,200,wb,b1
P1,CD-81,900,wb,b1
P1,GM130,40,wb,b1
P1,BiP,0,wb,b1
P1,ApoA-I,20,wb,b1
P1,BSA,70,wb,b1
P1,reggie-2,300,wb,b1
"""
    hgnc = """prep_id,marker,intensity,assay,run
P1,PDCD6IP,500,wb,b1
P1,SDCBP,200,wb,b1
P1,CD81,900,wb,b1
P1,GOLGA2,40,wb,b1
P1,HSPA5,0,wb,b1
P1,APOA1,20,wb,b1
P1,ALB,70,wb,b1
P1,FLOT1,300,wb,b1
"""
    by_alias = marker_features(load_dataset(prep_folder("prep_id\nP1\n", common, name="a")))[0]
    by_symbol = marker_features(load_dataset(prep_folder("prep_id\nP1\n", hgnc, name="b")))[0]
    pd.testing.assert_frame_equal(by_alias, by_symbol)
    assert by_alias.at["P1", "marker_alix_detected"] == 1
    assert by_alias.at["P1", "marker_grp78_detected"] == 0
    assert by_alias.at["P1", "n_positive_markers_detected"] == 4


def test_unknown_and_housekeeping_markers_do_not_enter_features(prep_folder):
    base = "prep_id,marker,intensity,assay,run\nP1,CD63,800,wb,b1\nP1,APOA1,100,wb,b1\n"
    extra = base + "P1,frobnicin,3,wb,b1\nP1,GAPDH,5,wb,b1\n"
    plain = marker_features(load_dataset(prep_folder("prep_id\nP1\n", base, name="a")))[0]
    dataset = load_dataset(prep_folder("prep_id\nP1\n", extra, name="b"))
    with_extra = marker_features(dataset)[0]
    pd.testing.assert_frame_equal(plain, with_extra)
    assert any("frobnicin" in w for w in dataset.warnings["P1"])


MISEV_CASES = {
    # 3 positive (1 transmembrane, 2 cytosolic) + a purity control measured, not detected
    "met": ("CD63,900;TSG101,300;ALIX,200;calnexin,0", 1.0),
    "two positive": ("CD63,900;TSG101,300;calnexin,0", 0.0),
    "no cytosolic": ("CD63,900;CD81,300;CD9,200;APOA1,50", 0.0),
    "no transmembrane": ("TSG101,900;ALIX,300;syntenin-1,200;APOA1,50", 0.0),
    "no purity control": ("CD63,900;TSG101,300;ALIX,200", 0.0),
    "housekeeping does not count": ("CD63,900;TSG101,300;actin,200;GAPDH,300;APOA1,5", 0.0),
    "positive measured but not detected": ("CD63,900;TSG101,300;ALIX,0;APOA1,5", 0.0),
}


def test_misev_minimum_feature_and_report(prep_folder):
    preps = "prep_id\n" + "".join(f"C{i}\n" for i in range(len(MISEV_CASES))) + "NONE\n"
    rows = ["prep_id,marker,intensity,assay,run"]
    for i, (panel, _) in enumerate(MISEV_CASES.values()):
        for item in panel.split(";"):
            marker, intensity = item.split(",")
            rows.append(f"C{i},{marker},{intensity},wb,b{i}")
    dataset = load_dataset(prep_folder(preps, "\n".join(rows) + "\n"))
    frame = marker_features(dataset)[0]
    report = misev_report(dataset)
    for i, (case, (_, expected)) in enumerate(MISEV_CASES.items()):
        assert frame.at[f"C{i}", "misev_minimum_met"] == expected, case
        assert bool(report.at[f"C{i}", "misev_minimum_met"]) == bool(expected), case
    assert math.isnan(frame.at["NONE", "misev_minimum_met"])
    assert report.at["NONE", "misev_minimum_met"] is pd.NA
    assert "no recognised protein marker was measured" in report.at["NONE", "summary"]

    met = report.loc["C0"]
    assert met["transmembrane_detected"] == "CD63"
    assert met["cytosolic_detected"] == "TSG101, ALIX"
    assert met["purity_controls_measured"] == "calnexin"
    assert met["purity_controls_detected"] == ""
    assert met["n_positive_detected"] == 3
    assert met["summary"].startswith("MISEV2018 minimum met")
    two = report.at["C1", "summary"]
    assert two.startswith("MISEV2018 minimum not met") and "3 needed" in two
    assert "no cytosolic (category 2) marker detected" in report.at["C2", "summary"]
    assert "no purity control" in report.at["C4", "summary"]


def test_misev_report_marks_failed_preps_not_assessed(prep_folder):
    markers = "prep_id,marker,intensity\nP1,CD63,900\nP1,TSG101,oops\n"
    dataset = load_dataset(prep_folder("prep_id\nP1\n", markers), errors="collect")
    report = misev_report(dataset)
    assert report.at["P1", "misev_minimum_met"] is pd.NA
    assert "input has errors" in report.at["P1", "summary"]


def test_panel_covers_the_common_markers():
    symbols = [symbol for symbol, _ in PANEL]
    assert symbols == ["CD63", "CD81", "CD9", "TSG101", "PDCD6IP", "SDCBP", "FLOT1", "APOA1",
                       "APOB", "ALB", "CANX", "GOLGA2", "HSPA5"]
