"""NTA in the dataset contract and the feature table: nta_file / nta_record, particles_per_ml
from the export, disagreement flags, NaN without a file, one failing prep in a batch."""

from __future__ import annotations

import math
import shutil

import pytest
from nta_files import BEADS, BEADS2

from exoqc.dataset import load_dataset
from exoqc.features.build import build_features

# Three samples of a generic CSV, one video each, dilution 100: 4e8 × 100 = 4e10 per mL.
MULTI = ("# dilution_factor: 100\nsample_name,size_nm,concentration\n"
         "A,90,1e8\nA,100,2e8\nA,110,1e8\n"
         "B,140,1e8\nB,150,2e8\nB,160,1e8\n"
         "C,90,1e8\nC,100,2e8\nC,110,1e8\n")


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "ds"
    (root / "nta").mkdir(parents=True)
    shutil.copy(BEADS2, root / "nta" / "beads2.csv")
    shutil.copy(BEADS, root / "nta" / "P7.csv")
    (root / "nta" / "multi.csv").write_text(MULTI)
    (root / "nta" / "broken.csv").write_text("size_nm,concentration\n90,abc\n100,1\n")
    return root


def _build(root, preps: str):
    (root / "preps.csv").write_text(preps)
    return build_features(load_dataset(root, errors="collect"), n_jobs=1)


def test_nta_file_and_record_give_the_sample_features(folder):
    table = _build(folder, "prep_id,nta_file,nta_record,protein_ug_per_ml\n"
                           "P1,nta/beads2.csv,,100\nP2,nta/multi.csv,B,\n"
                           "P3,nta/multi.csv,3,\nP4,,,\n")
    frame = table.frame
    assert table.errors == {}
    assert frame.loc["P1", "nta_concentration_per_ml"] == pytest.approx(6.09e12, rel=0.005)
    assert frame.loc["P1", "nta_n_videos"] == 5
    # 6.09e12 particles/mL over 100 µg/mL protein.
    assert frame.loc["P1", "nta_log10_particles_per_ug"] == pytest.approx(
        math.log10(6.09e12 / 100), abs=0.003)
    assert frame.loc["P2", "nta_mean_nm"] == pytest.approx(150.0)
    assert frame.loc["P3", "nta_mean_nm"] == pytest.approx(100.0)
    assert frame.loc["P3", "nta_concentration_per_ml"] == pytest.approx(4e10)
    # No NTA file: NaN features, no error.
    assert frame.loc["P4"].filter(like="nta_").isna().all()


def test_particles_per_ml_from_nta_when_empty_and_a_flag_when_both_disagree(folder):
    table = _build(folder, "prep_id,nta_file,particles_per_ml\n"
                           "empty,nta/beads2.csv,\nagree,nta/beads2.csv,6.2e12\n"
                           "disagree,nta/beads2.csv,3e12\nno_dilution,nta/P7.csv,\n")
    frame = table.frame
    assert frame.loc["empty", "particles_per_ml"] == pytest.approx(6.09e12, rel=0.005)
    assert math.isnan(frame.loc["empty", "nta_counts_disagreement"])
    assert frame.loc["agree", "particles_per_ml"] == 6.2e12
    assert frame.loc["agree", "nta_counts_disagreement"] == 0
    # 3e12 is half the export's value; its videos agree within 2.5 %: flagged, kept.
    assert frame.loc["disagree", "particles_per_ml"] == 3e12
    assert frame.loc["disagree", "nta_counts_disagreement"] == 1
    assert any("particles_per_ml" in m and "differs" in m
               for m in table.warnings["disagree"])
    # Without a dilution factor the export's number is of the diluted suspension: not used.
    assert math.isnan(frame.loc["no_dilution", "particles_per_ml"])
    assert frame.loc["no_dilution", "nta_flag_dilution_missing"] == 1


def test_files_are_found_by_prep_id_and_a_missing_file_is_named(folder):
    dataset_preps = "prep_id,nta_file\nP7,\nP8,nta/none.csv\n"
    (folder / "preps.csv").write_text(dataset_preps)
    dataset = load_dataset(folder, errors="collect")
    assert dataset.preps.loc["P7", "nta_file"] == "nta/P7.csv"
    [problem] = [p for p in dataset.problems if p.prep_id == "P8"]
    assert problem.line == 3 and problem.column == "nta_file"
    assert "NTA file 'nta/none.csv' not found" in problem.message


def test_a_bad_export_or_record_fails_only_its_preparation(folder):
    table = _build(folder, "prep_id,nta_file,nta_record\n"
                           "good,nta/beads2.csv,\nbroken,nta/broken.csv,\n"
                           "ambiguous,nta/multi.csv,\nunknown,nta/multi.csv,Z\n")
    assert set(table.errors) == {"broken", "ambiguous", "unknown"}
    [broken] = table.errors["broken"]
    assert "broken.csv, line 2" in broken and "'abc' is not a number" in broken
    assert "holds 3 samples" in table.errors["ambiguous"][0]
    assert "nta_record 'Z' matches no sample" in table.errors["unknown"][0]
    assert table.frame.loc["broken"].isna().all()
    assert table.frame.loc["good", "nta_mean_nm"] == pytest.approx(101.5, abs=0.06)
