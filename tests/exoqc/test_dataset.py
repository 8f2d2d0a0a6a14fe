"""The prep dataset loader on good and bad folders."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from exoqc.dataset import load_dataset
from exoqc.errors import DatasetError, ExoqcInputError

PREPS = (
    "prep_id,batch,isolation_method,particles_per_ml,protein_ug_per_ml,dls_file,"
    "purity_class,potency_class,cck8_fold,cell_type,notes\n"
) + """P1,B1,uc,1.2e11,85,dls/P1.csv,high,potent,1.8,DASC,first
P2,B1,SEC,3.4e10,40,,medium,subpotent,1.1,DASC,
P3,B2,ultracentrifugation,,,,low,,,DASC,no counts
"""
MARKERS = """prep_id,marker,intensity,assay,run
P1,CD63,1520,wb,blot1
P1,Alix,830,wb,blot1
P1,calnexin,0,wb,blot1
P2,GM130,ND,wb,blot1
P2,syntenin-1,410,wb,blot1
"""
CARGO = """prep_id,target,delta_ct
P1,hsa-let-7a-5p,-2.5
P2,let7b,Undetermined
"""


def write_folder(root: Path, preps: str = PREPS, markers: str | None = MARKERS,
                 cargo: str | None = CARGO) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "preps.csv").write_text(preps)
    if markers is not None:
        (root / "markers.csv").write_text(markers)
    if cargo is not None:
        (root / "cargo.csv").write_text(cargo)
    (root / "dls").mkdir(exist_ok=True)
    (root / "dls" / "P1.csv").write_text("tau_us,g2m1\n1,0.9\n")
    return root


def only_problem(dataset, prep_id):
    messages = dataset.errors[prep_id]
    assert len(messages) == 1, messages
    return messages[0]


def test_good_folder_loads_typed(tmp_path):
    dataset = load_dataset(write_folder(tmp_path))
    preps = dataset.preps
    assert dataset.prep_ids == ["P1", "P2", "P3"]
    assert preps.at["P1", "particles_per_ml"] == pytest.approx(1.2e11)
    assert math.isnan(preps.at["P3", "protein_ug_per_ml"])
    assert preps["isolation_method"].tolist() == ["uc", "sec", "uc"]
    assert preps.at["P2", "potency_class"] == "subpotent"
    assert preps.at["P1", "cell_type"] == "DASC"  # unknown extra columns are kept
    assert preps.at["P3", "notes"] == "no counts"
    assert dataset.dls_path("P1") == tmp_path / "dls" / "P1.csv"
    assert dataset.dls_path("P2") is None
    assert dataset.problems == []


def test_markers_resolved_to_symbols_and_categories(tmp_path):
    markers = load_dataset(write_folder(tmp_path)).markers.set_index(["prep_id", "marker"])
    assert markers.loc[("P1", "Alix"), "symbol"] == "PDCD6IP"
    assert markers.loc[("P1", "Alix"), "category"] == 2
    assert markers.loc[("P1", "calnexin"), "symbol"] == "CANX"
    assert markers.loc[("P1", "calnexin"), "category"] == 4
    assert markers.loc[("P2", "GM130"), "symbol"] == "GOLGA2"
    assert markers.loc[("P2", "syntenin-1"), "symbol"] == "SDCBP"
    # 0 and "ND" are measured and not detected, with intensity 0
    assert not markers.loc[("P1", "calnexin"), "detected"]
    assert markers.loc[("P2", "GM130"), "intensity"] == 0
    assert markers.loc[("P1", "CD63"), "detected"]


def test_cargo_targets_normalized(tmp_path):
    cargo = load_dataset(write_folder(tmp_path)).cargo.set_index("prep_id")
    assert cargo.at["P1", "target"] == "let-7a"
    assert cargo.at["P1", "delta_ct"] == -2.5
    assert cargo.at["P2", "target"] == "let-7b"
    assert not cargo.at["P2", "detected"]


def test_only_preps_csv_is_required(tmp_path):
    dataset = load_dataset(write_folder(tmp_path, markers=None, cargo=None))
    assert dataset.markers.empty and dataset.cargo.empty
    assert len(dataset.preps) == 3


def test_dls_file_found_by_prep_id_when_not_named(tmp_path):
    root = write_folder(tmp_path, preps="prep_id\nP1\nP2\n")
    dataset = load_dataset(root)
    assert dataset.dls_path("P1") == root / "dls" / "P1.csv"
    assert dataset.dls_path("P2") is None


def test_semicolon_decimal_comma_and_bom(tmp_path):
    preps = "\ufeffPrep_ID;Particles_per_mL;protein_ug_per_ml\nP1;1,5e10;12,5\n"
    root = write_folder(tmp_path, preps=preps, markers=None, cargo=None)
    (root / "preps.csv").write_text(preps, encoding="utf-8")
    dataset = load_dataset(root)
    assert dataset.preps.at["P1", "particles_per_ml"] == pytest.approx(1.5e10)
    assert dataset.preps.at["P1", "protein_ug_per_ml"] == pytest.approx(12.5)


@pytest.mark.parametrize(("cell", "expected"), [(",5", 0.5), ("0,5e1", 5.0), ("12,5", 12.5)])
def test_decimal_comma_rule_reads_what_a_dls_file_reads(tmp_path, cell, expected):
    """One decimal-comma rule for every reader (exoqc.tables.DECIMAL_COMMA): a cell a DLS
    export reads (tests/features/dls/test_readers.py, same cells) preps.csv reads too."""
    preps = f"prep_id;protein_ug_per_ml\nP1;{cell}\n"
    root = write_folder(tmp_path, preps=preps, markers=None, cargo=None)
    assert load_dataset(root).preps.at["P1", "protein_ug_per_ml"] == pytest.approx(expected)


@pytest.mark.parametrize("cell", ["5,", ",", "1,2,3"])
def test_decimal_comma_rule_refuses_what_a_dls_file_refuses(tmp_path, cell):
    preps = f"prep_id;protein_ug_per_ml\nP1;{cell}\n"
    root = write_folder(tmp_path, preps=preps, markers=None, cargo=None)
    with pytest.raises(DatasetError, match="not a number"):
        load_dataset(root)


def test_utf16_file(tmp_path):
    root = write_folder(tmp_path, markers=None, cargo=None)
    (root / "preps.csv").write_text("prep_id,batch\nP1,B1\n", encoding="utf-16")
    assert load_dataset(root).prep_ids == ["P1"]


@pytest.mark.parametrize(
    ("bad_row", "column", "expected"),
    [
        ("P9,B3,uc,lots,10,,high,,,,", "particles_per_ml", "not a number"),
        ("P9,B3,uc,-5,10,,high,,,,", "particles_per_ml", "out of range"),
        ("P9,B3,uc,inf,10,,high,,,,", "particles_per_ml", "not a number"),
        ("P9,B3,uc,1e10,10,,excellent,,,,", "purity_class", "expected one of high, medium, low"),
        ("P9,B3,centrifuge,1e10,10,,high,,,,", "isolation_method", "expected one of uc"),
        ("P9,B3,uc,1e10,10,dls/missing.txt,high,,,,", "dls_file", "not found"),
        ("P9,B3,uc,1e10,10,,high,,0,,", "cck8_fold", "fold change above 0"),
    ],
)
def test_bad_prep_value_names_file_line_and_column(tmp_path, bad_row, column, expected):
    root = write_folder(tmp_path, preps=PREPS + bad_row + "\n")
    with pytest.raises(DatasetError) as raised:
        load_dataset(root)
    message = str(raised.value)
    assert f"preps.csv, line 5, column '{column}'" in message
    assert expected in message

    # in a scoring batch only that preparation fails
    dataset = load_dataset(root, errors="collect")
    assert list(dataset.errors) == ["P9"]
    assert dataset.usable_prep_ids == ["P1", "P2", "P3"]
    assert "P9" in dataset.prep_ids


def test_duplicate_prep_id(tmp_path):
    root = write_folder(tmp_path, preps=PREPS + "P2,B9,uc,,,,,,,,\n")
    dataset = load_dataset(root, errors="collect")
    message = only_problem(dataset, "P2")
    assert "line 5" in message and "already used on line 3" in message
    assert dataset.prep_ids.count("P2") == 1


def test_empty_prep_id_keeps_a_row(tmp_path):
    root = write_folder(tmp_path, preps=PREPS + ",B9,uc,,,,,,,,\n")
    dataset = load_dataset(root, errors="collect")
    [failed] = dataset.errors
    assert "line 5" in failed
    assert "empty prep_id" in dataset.errors[failed][0]


def test_missing_prep_id_column_is_fatal(tmp_path):
    root = write_folder(tmp_path, preps="id,batch\nP1,B1\n")
    with pytest.raises(ExoqcInputError, match=r"preps.csv, line 1: expected a column 'prep_id'"):
        load_dataset(root, errors="collect")


def test_missing_preps_csv(tmp_path):
    with pytest.raises(ExoqcInputError, match=r"preps\.csv: missing"):
        load_dataset(tmp_path)


def test_malformed_table_names_line(tmp_path):
    root = write_folder(tmp_path, preps="prep_id,batch\nP1,B1\nP2,B1,extra,cells\n")
    with pytest.raises(ExoqcInputError, match=r"preps.csv, line 3"):
        load_dataset(root)


def test_unknown_marker_is_a_warning_for_that_prep(tmp_path):
    markers = MARKERS + "P3,XYZ-99,120,wb,blot1\n"
    dataset = load_dataset(write_folder(tmp_path, markers=markers))
    [warning] = dataset.warnings["P3"]
    assert "markers.csv, line 7, column 'marker'" in warning
    assert "XYZ-99" in warning
    assert dataset.errors == {}


def test_bad_marker_intensity_fails_only_that_prep(tmp_path):
    markers = MARKERS + "P3,CD81,-4,wb,blot1\n"
    dataset = load_dataset(write_folder(tmp_path, markers=markers), errors="collect")
    message = only_problem(dataset, "P3")
    assert "markers.csv, line 7, column 'intensity'" in message
    assert "expected a number >= 0" in message


def test_marker_row_of_unknown_prep_is_reported(tmp_path):
    markers = MARKERS + "P77,CD81,4,wb,blot1\n"
    dataset = load_dataset(write_folder(tmp_path, markers=markers))
    [problem] = [p for p in dataset.problems if p.file == "markers.csv"]
    assert problem.line == 7
    assert "P77" in problem.message


def test_unreadable_markers_file_fails_every_prep(tmp_path):
    root = write_folder(tmp_path, markers="prep_id,marker\nP1,CD63\n")
    dataset = load_dataset(root, errors="collect")
    assert set(dataset.errors) == {"P1", "P2", "P3"}
    assert "markers.csv, line 1: expected column(s) intensity" in dataset.errors["P1"][0]


def test_bad_cargo_value(tmp_path):
    cargo = CARGO + "P3,let-7a,abc\n"
    dataset = load_dataset(write_folder(tmp_path, cargo=cargo), errors="collect")
    message = only_problem(dataset, "P3")
    assert "cargo.csv, line 4, column 'delta_ct'" in message


def test_subset_keeps_only_chosen_preps(tmp_path):
    dataset = load_dataset(write_folder(tmp_path))
    part = dataset.subset(["P2"])
    assert part.prep_ids == ["P2"]
    assert set(part.markers["prep_id"]) == {"P2"}
    assert set(part.cargo["prep_id"]) == {"P2"}


def test_blank_lines_do_not_shift_line_numbers(tmp_path):
    preps = "prep_id,particles_per_ml\nP1,1e10\n\nP2,abc\n"
    dataset = load_dataset(write_folder(tmp_path, preps=preps), errors="collect")
    assert "preps.csv, line 4" in only_problem(dataset, "P2")


def test_a_dls_file_name_the_system_cannot_look_up_fails_only_that_prep(tmp_path):
    # Longer than any file name may be (255 bytes on common file systems): the lookup
    # itself fails (OSError), which is the same input error as a name that is not there.
    name = "dls/" + "x" * 300 + ".csv"
    root = write_folder(tmp_path, preps=PREPS + f"P4,B3,uc,,,{name},,,,,\n")
    dataset = load_dataset(root, errors="collect")
    message = only_problem(dataset, "P4")
    assert "line 5" in message and "column 'dls_file'" in message and "not found" in message
    assert set(dataset.errors) == {"P4"}
