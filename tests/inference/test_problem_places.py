"""Problems keep their places typed: the folder names a file and its lines, the Spark tables
engine a table and its records, from the same problem objects (no Java needed here)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from exoqc.dataset import duplicated_rows, load_dataset
from exoqc.inference.spark.tables import TablePlaces


def write_folder(root: Path) -> Path:
    root.mkdir()
    pd.DataFrame({"prep_id": ["A", "B", "A"], "dls_file": ["", "dls/gone.txt", ""]}).to_csv(
        root / "preps.csv", index=False)
    pd.DataFrame({"prep_id": ["Z"], "marker": ["CD63"], "intensity": [10.0]}).to_csv(
        root / "markers.csv", index=False)
    return root


def test_a_problem_names_its_places_in_the_terms_of_the_engine(tmp_path):
    root = write_folder(tmp_path / "folder")
    dataset = load_dataset(root, errors="collect")
    [twice] = duplicated_rows(dataset)
    [gone] = [p for p in dataset.problems if p.column == "dls_file"]
    [orphan] = [p for p in dataset.problems if p.file == "markers.csv"]

    # a folder: files and lines, as the loader has always written them
    assert str(twice) == ("preps.csv, line 4, column 'prep_id': prep_id 'A' already used on "
                          "line 2: expected unique ids")
    assert str(gone) == (f"preps.csv, line 3, column 'dls_file': DLS file 'dls/gone.txt' "
                         f"not found: expected a path relative to {root}")
    assert str(orphan).startswith("markers.csv, line 2, column 'prep_id': prep_id 'Z' is not "
                                  "in preps.csv")

    # tables written to this folder: tables and records, the DLS root for the folder
    places = TablePlaces(str(root), "/mnt/qc/exports")
    assert twice.describe(places) == ("preps table, record 3, column 'prep_id': prep_id 'A' "
                                      "already used in record 1: expected unique ids")
    assert str(twice.placed(places)) == twice.describe(places)
    assert gone.describe(places).endswith("expected a path relative to /mnt/qc/exports")
    assert "is not in the preps table" in orphan.describe(places)
    assert orphan.describe(places).startswith("markers table, record 1")
