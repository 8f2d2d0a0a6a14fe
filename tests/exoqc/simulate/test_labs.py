"""Other labs: their shifts show in the files, and simulating one leaves the reference as is."""

from __future__ import annotations

import pandas as pd
import pytest

from exoqc.errors import ExoqcInputError
from exoqc.simulate import TRUTH_FILE, simulate_cohort
from exoqc.simulate import parameters as par
from exoqc.simulate.labs import LABS, LabProfile, lab_profile, random_lab
from exoqc.simulate.world import World


def test_a_lab_shifts_what_it_says_and_restores_the_reference(tmp_path):
    before = dict(par.SIZE_MEDIAN_NM)
    root = simulate_cohort(tmp_path / "bm", 60, seed=3, lab="bm_msc")
    assert before == par.SIZE_MEDIAN_NM
    preps = pd.read_csv(root / "preps.csv")
    truth = pd.read_csv(root / TRUTH_FILE)
    markers = pd.read_csv(root / "markers.csv")
    assert set(preps["cell_type"]) == {"hBM-MSC"}
    assert truth["sev_median_nm"].mean() > 105.0  # reference: 60-120 nm per batch, bm_msc 90-150
    # Western blots of CD63 / TSG101 / calnexin only (names as the lab writes them).
    assert set(markers["assay"]) == {"wb"}
    assert markers["marker"].nunique() <= 9
    # The lab's stricter purity label: 'high' needs 60 % EV protein.
    high = truth["purity_class"] == "high"
    assert (truth.loc[high, "ev_protein_share"] >= 0.60).all()
    assert ((truth["ev_protein_share"] >= 0.5) & ~high).any()


def test_random_labs_differ_by_seed_and_repeat_for_a_seed():
    assert random_lab(7) == random_lab(7)
    assert random_lab(7).world != random_lab(8).world


def test_unknown_lab_is_refused_with_the_known_names():
    with pytest.raises(ExoqcInputError, match="bm_msc"):
        lab_profile("nope")
    assert set(LABS) >= {"reference", "bm_msc", "uc_msc", "hek293"}


def test_a_new_lab_is_a_world_passed_to_the_simulator(tmp_path):
    lab = LabProfile("ad_msc", "adipose MSC, every other value the reference lab's",
                     World(cell_type="hAD-MSC", potency_min=10.0))
    root = simulate_cohort(tmp_path / "ad", 12, seed=3, lab=lab)
    preps = pd.read_csv(root / "preps.csv")
    assert set(preps["cell_type"]) == {"hAD-MSC"}
    assert set(preps["potency_class"]) == {"subpotent"}  # no composite reaches 10


def test_a_world_with_probabilities_not_summing_to_one_is_refused():
    with pytest.raises(ValueError, match="isolation_probabilities"):
        World(isolation_probabilities=(0.5, 0.4, 0.1, 0.0, 0.0, 0.1))
    with pytest.raises(ValueError, match="6 probabilities"):
        World(isolation_probabilities=(0.5, 0.5))
    with pytest.raises(ValueError, match="unknown marker panel"):
        World(marker_panel="wb_everything")
