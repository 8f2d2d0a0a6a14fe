"""Property tests of the prep dataset loader.

Generated folders (any column order, delimiter, encoding, line endings, blank lines; cells
that are numbers, decimal commas, NaN, inf, huge, negative, text or empty; duplicated and
empty prep_ids; ragged rows; unknown markers; rows of unknown preps) load with every
preparation kept, every good value read as written, and every bad one reported with its
file, line and column for exactly the preparation it belongs to. Mutated copies of a
simulated cohort load or are refused with a typed error; never anything else.
"""

from __future__ import annotations

import csv
import io
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exoqc.dataset import (
    ASSAY_READOUTS,
    COUNT_COLUMNS,
    MARKERS_FILE,
    PREPS_FILE,
    Dataset,
    load_dataset,
)
from exoqc.errors import DatasetError, ExoqcInputError
from exoqc.tables import read_table
from tests.properties import property_settings

IDS = ["P1", "P2", "P3", "P4", "p1", " P5 ", "", "Prep-ä", "P 6"]
NUMBER_TEXT = ["", " ", "nan", "NaN", "inf", "-inf", "-5", "abc", "1e999", "1e308", "0", "-0",
               "0,5", "12,5e3", " 7 ", "ND", "1.5.2", "+3"]
number_cells = st.one_of(
    st.floats(0, 1e15, allow_nan=False).map(lambda v: f"{v:.6g}"),
    st.floats(0, 1e15, allow_nan=False).map(lambda v: f"{v:.4f}".replace(".", ",")),
    st.sampled_from(NUMBER_TEXT),
)
LABELS = ["high", "medium", "LOW", "", "excellent"]
METHODS = ["uc", "SEC", "ultracentrifugation", "density gradient", "", "magic"]
MARKERS = ["CD63", "cd81", "Alix", "calnexin", "XYZ-1", ""]
NUMBER_COLUMNS = ("particles_per_ml", "protein_ug_per_ml", "cck8_fold")
DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+(?:[eE][+-]?\d+)?")


DOT_THOUSANDS = re.compile(r"[+-]?[1-9]\d{0,2}(?:\.\d{3})+")


def expected_number(cell: str, delimiter: str, column: list[str] = ()) -> tuple[str, float]:
    """("missing" | "bad" | "ok", value) by the input contract (README "Your own data"): an
    empty cell is not measured; a decimal comma is read only where the delimiter is not a
    comma; there, ``12.000`` is ambiguous (bad) when its ``column`` has decimal commas,
    ``1.234.567`` always; a measurement is a finite number."""
    text = cell.strip()
    if not text:
        return "missing", math.nan
    if delimiter != "," and DOT_THOUSANDS.fullmatch(text) and (
            text.count(".") > 1 or any(DECIMAL_COMMA.fullmatch(c.strip()) for c in column)):
        return "bad", math.nan
    if delimiter != "," and DECIMAL_COMMA.fullmatch(text):
        text = text.replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        return "bad", math.nan
    return ("ok", value) if math.isfinite(value) else ("bad", math.nan)


@st.composite
def prep_folders(draw):
    """(rows of preps.csv as dicts, column order, delimiter, encoding, newline, blank-line
    positions, ragged row positions, marker rows)."""
    n = draw(st.integers(1, 10))
    rows = [{
        "prep_id": draw(st.sampled_from(IDS)),
        "batch": draw(st.sampled_from(["B1", "B2", ""])),
        "particles_per_ml": draw(number_cells),
        "protein_ug_per_ml": draw(number_cells),
        "cck8_fold": draw(number_cells),
        "purity_class": draw(st.sampled_from(LABELS)),
        "isolation_method": draw(st.sampled_from(METHODS)),
        "dls_file": draw(st.sampled_from(["", "", "dls/missing.txt", "../outside.txt"])),
        "notes": draw(st.sampled_from(["", "ok", 'said "fine"', "a;b,c"])),
    } for _ in range(n)]
    columns = draw(st.permutations(list(rows[0])))
    markers = [{
        "prep_id": draw(st.sampled_from([*IDS, "Q9"])),
        "marker": draw(st.sampled_from(MARKERS)),
        "intensity": draw(st.one_of(number_cells, st.sampled_from(["ND", "n.d."]))),
    } for _ in range(draw(st.integers(0, 8)))]
    return {
        "rows": rows,
        "columns": columns,
        "delimiter": draw(st.sampled_from([",", ";", "\t"])),
        "encoding": draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"])),
        "newline": draw(st.sampled_from(["\n", "\r\n"])),
        "blank_after": draw(st.sets(st.integers(0, n - 1), max_size=3)),
        "ragged": draw(st.sets(st.integers(0, n - 1), max_size=2)),
        "markers": markers,
    }


def write_table(path: Path, columns: list[str], rows: list[dict], delimiter: str,
                encoding: str, newline: str, blank_after=(), ragged=()) -> list[int]:
    """Write a CSV the way a spreadsheet does (quoting where needed); returns the line of
    each row. A ragged row gets one stray extra cell."""
    lines_out, row_lines = [], []

    def render(cells: list[str]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=delimiter, lineterminator="").writerow(cells)
        return buffer.getvalue()

    lines_out.append(render(columns))
    for i, row in enumerate(rows):
        cells = [row[c] for c in columns] + (["stray"] if i in ragged else [])
        lines_out.append(render(cells))
        row_lines.append(len(lines_out))
        if i in blank_after:
            lines_out.append("")
    path.write_bytes((newline.join(lines_out) + newline).encode(encoding))
    return row_lines


def problems_of(dataset: Dataset, prep_id: str, file: str = PREPS_FILE) -> list:
    return [p for p in dataset.problems if p.prep_id == prep_id and p.file == file]


@property_settings(120)
@given(folder=prep_folders())
def test_every_prep_is_kept_and_every_value_read_as_written_or_reported(tmp_path, folder):
    root = tmp_path / "dataset"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    delimiter = folder["delimiter"]
    lines = write_table(root / PREPS_FILE, folder["columns"], folder["rows"], delimiter,
                        folder["encoding"], folder["newline"], folder["blank_after"],
                        folder["ragged"])
    marker_lines = write_table(root / MARKERS_FILE, ["prep_id", "marker", "intensity"],
                               folder["markers"], delimiter, folder["encoding"], "\n")
    dataset = load_dataset(root, errors="collect")

    # The expected outcome, row by row, from the contract.
    ids = [row["prep_id"].strip() or f"<no prep_id, line {line}>"
           for row, line in zip(folder["rows"], lines, strict=True)]
    first = {}
    failing: set[str] = set()
    for i, (prep_id, line) in enumerate(zip(ids, lines, strict=True)):
        if prep_id in first or not folder["rows"][i]["prep_id"].strip() or i in folder["ragged"]:
            failing.add(prep_id)
        first.setdefault(prep_id, (i, line))
    assert dataset.prep_ids == list(first)  # every prep, in file order, none dropped
    # Each number column's cells as the loader sees them (first rows of each id), for
    # the ambiguous '12.000' of a decimal-comma column.
    table = read_table(root / PREPS_FILE)
    as_read = {c: table.loc[[line for _, line in first.values()], c].tolist()
               if c in table else [] for c in NUMBER_COLUMNS}
    intensities = [r["intensity"] for r in folder["markers"]
                   if r["prep_id"].strip() in first and r["intensity"].strip()
                   and r["intensity"].strip().lower() not in ("nd", "n.d.")]

    for prep_id, (i, line) in first.items():
        row = folder["rows"][i]
        if i in folder["ragged"]:
            assert any(p.line == line and "cells" in p.message
                       for p in problems_of(dataset, prep_id))
            continue
        for column in NUMBER_COLUMNS:
            kind, value = expected_number(row[column], delimiter, as_read[column])
            low_ok = value >= 0 if column in COUNT_COLUMNS else value > 0
            reported = [p for p in problems_of(dataset, prep_id) if p.column == column]
            got = dataset.preps.at[prep_id, column]
            if kind == "ok" and low_ok:
                assert got == pytest.approx(value, rel=1e-15) and not reported
            else:
                assert math.isnan(got)
                assert (kind == "missing") == (not reported)
                if reported:
                    failing.add(prep_id)
                    assert {p.line for p in reported} == {line}
        label = row["purity_class"].lower()
        if label and label not in ("high", "medium", "low"):
            failing.add(prep_id)
        if row["isolation_method"] == "magic":
            failing.add(prep_id)
        if row["dls_file"]:
            failing.add(prep_id)
            [problem] = [p for p in problems_of(dataset, prep_id) if p.column == "dls_file"]
            assert problem.line == line

    # Markers: nothing dropped silently; an unknown prep or marker is a warning, a bad
    # intensity fails that prep.
    kept_markers = 0
    for row, line in zip(folder["markers"], marker_lines, strict=True):
        prep_id = row["prep_id"].strip()
        if not any(value.strip() for value in row.values()):
            continue  # a row of empty cells is a blank line (exoqc.tables.read_table)
        if prep_id not in first:
            assert any(p.file == MARKERS_FILE and p.line == line and p.severity == "warning"
                       for p in dataset.problems)
            continue
        if not row["intensity"].strip():  # not measured: no measurement row
            continue
        kept_markers += 1
        kind, value = expected_number(row["intensity"], delimiter, intensities)
        if row["intensity"].strip().lower() not in ("nd", "n.d.") and (
                kind == "bad" or value < 0):
            failing.add(prep_id)
            assert any(p.line == line and p.column == "intensity"
                       for p in problems_of(dataset, prep_id, MARKERS_FILE))
        if row["marker"] in ("XYZ-1", ""):
            assert any(p.line == line and p.severity == "warning"
                       for p in problems_of(dataset, prep_id, MARKERS_FILE))
    assert len(dataset.markers) == kept_markers
    assert sorted(dataset.markers["line"]) == sorted(
        line for row, line in zip(folder["markers"], marker_lines, strict=True)
        if row["prep_id"].strip() in first and row["intensity"].strip())

    assert set(dataset.errors) == failing
    for problem in dataset.problems:
        assert problem.line is not None and problem.file in (PREPS_FILE, MARKERS_FILE)
    if failing:
        with pytest.raises(DatasetError):
            load_dataset(root, errors="raise")
    else:
        load_dataset(root, errors="raise")


# --------------------------------------------------------------------------- mutated files

MUTATIONS = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(0, 255)),
    st.tuples(st.just("repeat line"), st.integers(0, 10_000)),
    st.tuples(st.just("drop line"), st.integers(0, 10_000)),
    st.tuples(st.just("insert"), st.floats(0, 1),
              st.sampled_from(['"', ",", ";", "\t", "\n", "\r", "\x00", "\ufeff", "nan",
                               "1e999", ",,,,,,\n", "x" * 200_000])),
)


def mutate(raw: bytes, mutation: tuple) -> bytes:
    kind, *args = mutation
    if kind == "truncate":
        return raw[: int(args[0] * len(raw))]
    if kind == "flip" and raw:
        at = min(int(args[0] * len(raw)), len(raw) - 1)
        return raw[:at] + bytes([args[1]]) + raw[at + 1:]
    if kind == "insert":
        at = int(args[0] * len(raw))
        return raw[:at] + args[1].encode("utf-8") + raw[at:]
    lines = raw.split(b"\n")
    if kind == "repeat line":
        i = args[0] % len(lines)
        lines.insert(i, lines[i])
    elif kind == "drop line" and len(lines) > 1:
        del lines[args[0] % len(lines)]
    return b"\n".join(lines)


@pytest.fixture(scope="module")
def cohort_copy(small_cohort: Path, tmp_path_factory) -> Path:
    """The first 20 preparations of the session's simulated cohort (files shared read-only)."""
    root = tmp_path_factory.mktemp("cohort20")
    preps = (small_cohort / PREPS_FILE).read_text().splitlines(keepends=True)
    (root / PREPS_FILE).write_text("".join(preps[:21]))
    for name in (MARKERS_FILE, "cargo.csv"):
        shutil.copy(small_cohort / name, root / name)
    for folder in ("dls", "nta"):
        (root / folder).symlink_to(small_cohort / folder)
    return root


@property_settings(100)
@given(file=st.sampled_from([PREPS_FILE, MARKERS_FILE, "cargo.csv"]),
       changes=st.lists(MUTATIONS, min_size=1, max_size=3),
       encoding=st.sampled_from(["utf-8", "utf-16", "cp1252"]))
def test_a_mutated_cohort_file_loads_or_is_refused_with_a_typed_error(
    tmp_path, cohort_copy, file, changes, encoding
):
    root = tmp_path / "dataset"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(cohort_copy, root, symlinks=True)
    raw = (cohort_copy / file).read_text().encode(encoding, errors="replace")
    for change in changes:
        raw = mutate(raw, change)
    (root / file).write_bytes(raw)
    try:
        dataset = load_dataset(root, errors="collect")
    except ExoqcInputError as error:
        # Only an unusable preps.csv stops the whole folder, and the error says where.
        assert file == PREPS_FILE and error.file == str(root / PREPS_FILE)
        return
    preps = dataset.preps
    assert preps.index.is_unique and len(preps) >= 1
    for problem in dataset.problems:
        assert problem.file in (PREPS_FILE, MARKERS_FILE, "cargo.csv") and problem.message
        assert problem.prep_id is None or problem.prep_id in preps.index
        assert problem.line is not None or problem.prep_id is None
    for column in (*COUNT_COLUMNS, *ASSAY_READOUTS):
        if column in preps:
            values = preps[column].to_numpy(dtype=float)
            assert not np.isinf(values).any() and not (values < 0).any()
    intensity = dataset.markers["intensity"].to_numpy(dtype=float)
    assert not np.isinf(intensity).any() and not (intensity < 0).any()
    unread = dataset.markers.loc[np.isnan(intensity), "prep_id"]
    assert set(unread) <= set(dataset.errors)  # an unreadable marker value fails its prep


# --------------------------------------------------------------------------- specific cases


def test_a_preps_file_cut_short_fails_only_its_last_prep(tmp_path):
    """A truncated export must not read the missing cells as 'not measured'."""
    (tmp_path / PREPS_FILE).write_text("prep_id,particles_per_ml,protein_ug_per_ml\n"
                                       "P1,1e11,50\nP2,2e11,60\nP3,3e1")
    dataset = load_dataset(tmp_path, errors="collect")
    assert dataset.prep_ids == ["P1", "P2", "P3"]
    assert list(dataset.errors) == ["P3"]
    assert "preps.csv, line 4: row has 2 cells but the header has 3" in dataset.errors["P3"][0]


def test_a_dls_file_outside_the_dataset_folder_is_not_read(tmp_path):
    root = tmp_path / "dataset"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("tau_us,g2m1\n")
    (root / PREPS_FILE).write_text("prep_id,dls_file\nP1,../secret.txt\nP2,/etc/hostname\n")
    dataset = load_dataset(root, errors="collect")
    for prep_id in ("P1", "P2"):
        assert "is outside the dataset folder" in dataset.errors[prep_id][0]


def test_a_10_mb_cell_is_a_typed_error_naming_its_line(tmp_path):
    (tmp_path / PREPS_FILE).write_text("prep_id,notes\nP1,ok\nP2," + "x" * 10_000_000 + "\n")
    with pytest.raises(ExoqcInputError, match=r"preps\.csv, line 3: malformed table") as error:
        load_dataset(tmp_path, errors="collect")
    assert len(str(error.value)) < 500


def test_a_10_mb_cell_in_markers_fails_every_prep_with_its_line(tmp_path):
    (tmp_path / PREPS_FILE).write_text("prep_id\nP1\nP2\n")
    (tmp_path / MARKERS_FILE).write_text("prep_id,marker,intensity\nP1,CD63," + "9" * 10_000_000
                                         + "\n")
    dataset = load_dataset(tmp_path, errors="collect")
    assert set(dataset.errors) == {"P1", "P2"}
    assert "markers.csv, line 2: malformed table" in dataset.errors["P1"][0]


def test_a_table_over_the_size_limit_is_refused_without_reading_it(tmp_path):
    from exoqc import tables

    path = tmp_path / PREPS_FILE
    with open(path, "wb") as handle:
        handle.truncate(tables.MAX_TABLE_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(ExoqcInputError, match="MiB"):
        load_dataset(tmp_path, errors="collect")


def test_a_quoted_cell_over_several_lines_keeps_the_next_rows_line_numbers(tmp_path):
    (tmp_path / PREPS_FILE).write_text('prep_id,notes,particles_per_ml\n'
                                       'P1,"two\nlines",1e10\nP2,,abc\n')
    dataset = load_dataset(tmp_path, errors="collect")
    assert dataset.preps.at["P1", "notes"] == "two\nlines"
    assert "preps.csv, line 4, column 'particles_per_ml'" in dataset.errors["P2"][0]


def test_a_ragged_marker_row_fails_its_prep(tmp_path):
    (tmp_path / PREPS_FILE).write_text("prep_id\nP1\nP2\n")
    (tmp_path / MARKERS_FILE).write_text("prep_id,marker,intensity,assay\nP1,CD63,12,wb\n"
                                         "P2,CD81,3,wb,extra\nQ7,CD9\n")
    dataset = load_dataset(tmp_path, errors="collect")
    assert list(dataset.errors) == ["P2"]
    assert "markers.csv, line 3: row has 5 cells but the header has 4" in dataset.errors["P2"][0]
    assert any(p.line == 4 and p.severity == "warning" for p in dataset.problems)
