"""markers.csv and cargo.csv: the long-format measurement tables, read, checked and typed.

Both are optional. A row whose prep_id is not in preps.csv is reported and ignored (with the
closest prep_id there as a hint); a bad cell fails the preparation of its row; an unreadable
file is one problem for every preparation.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np
import pandas as pd

from exoqc.errors import ExoqcInputError, Place, Problem
from exoqc.folder import (
    CARGO_COLUMNS,
    CARGO_FILE,
    MARKER_ASSAYS,
    MARKER_COLUMNS,
    MARKERS_FILE,
    NOT_DETECTED,
    PREPS_FILE,
    UNSPECIFIED_ASSAY,
    known_headers,
    report_ragged,
)
from exoqc.markers import normalize_cargo_target, resolve_marker
from exoqc.tables import not_a_number, parse_numbers, quoted, read_table


def _optional_table(root: Path, name: str, required: tuple[str, ...],
                    problems: list[Problem]) -> pd.DataFrame | None:
    path = root / name
    if not path.exists():
        return None
    try:
        table = read_table(path)
    except ExoqcInputError as exc:
        problems.append(Problem(name, exc.detail, line=exc.line))
        return None
    known = MARKER_COLUMNS if name == MARKERS_FILE else CARGO_COLUMNS
    table = known_headers(table, name, known, problems)
    missing = [c for c in required if c not in table]
    if missing:
        problems.append(Problem(
            name, f"expected column(s) {', '.join(missing)}; found {', '.join(table.columns)}",
            line=1,
        ))
        return None
    return table


def _attach_to_preps(table: pd.DataFrame, name: str, known: set[str],
                     problems: list[Problem]) -> pd.DataFrame:
    """Rows whose prep_id is not in preps.csv are reported (they attach to nothing); a
    ragged row fails the preparation it names."""
    orphan = ~table["prep_id"].isin(known)
    closest = closest_ids(table.loc[orphan.to_numpy(), "prep_id"].unique(), known)
    for line in table.index[orphan.to_numpy()]:
        prep_id = str(table.at[line, "prep_id"])
        hint = (f" (closest prep_id there: {quoted(closest[prep_id])})"
                if closest.get(prep_id) else "")
        problems.append(Problem.of(
            name, f"prep_id {quoted(prep_id)} is not in ", Place(PREPS_FILE),
            f"{hint}; row ignored", line=line, column="prep_id", severity="warning",
        ))
    report_ragged(table, name, table["prep_id"][~orphan], problems)
    return table[~orphan]


_MAX_FUZZY_IDS = 200
"""Unknown ids matched to the closest known one by difflib (each costs a pass over every
known id); more are matched only when they differ from one in case, spaces and dashes."""


def closest_ids(unknown, known: set[str]) -> dict[str, str]:
    """The known prep_id each unknown one most likely means (``EX 3``, ``ex3`` -> ``EX3``);
    an id with no similar one is left out."""
    def squeeze(text: str) -> str:
        return "".join(c for c in text.lower() if c.isalnum())

    by_squeezed: dict[str, str] = {}
    for prep_id in sorted(known):
        by_squeezed.setdefault(squeeze(prep_id), prep_id)
    found: dict[str, str] = {}
    unknown = list(unknown)
    for prep_id in unknown:
        if squeeze(prep_id) in by_squeezed:
            found[prep_id] = by_squeezed[squeeze(prep_id)]
        elif len(unknown) <= _MAX_FUZZY_IDS and prep_id:
            close = difflib.get_close_matches(prep_id, list(known), n=1, cutoff=0.6)
            if close:
                found[prep_id] = close[0]
    return found


def load_markers(root: Path, known: set[str], problems: list[Problem]) -> pd.DataFrame:
    columns = ["prep_id", "marker", "symbol", "category", "positive", "intensity", "detected",
               "assay", "run", "unit", "line"]
    table = _optional_table(root, MARKERS_FILE, ("prep_id", "marker", "intensity"), problems)
    if table is None:
        return pd.DataFrame(columns=columns)
    table = _attach_to_preps(table, MARKERS_FILE, known, problems)
    # An empty intensity cell is a measurement not made (README: only 0 / ND mean "measured,
    # not detected"), the same as no row.
    table = table[table["intensity"] != ""]
    delimiter = table.attrs.get("delimiter", ",")
    out = pd.DataFrame({"prep_id": table["prep_id"], "marker": table["marker"]})
    out["line"] = table.index

    resolved = {name: resolve_marker(name) for name in out["marker"].unique()}
    out["symbol"] = out["marker"].map(
        {n: m.symbol if m else np.nan for n, m in resolved.items()})
    out["category"] = out["marker"].map(
        {n: m.category if m else np.nan for n, m in resolved.items()}).astype(float)
    out["positive"] = out["marker"].map(
        {n: m is not None and m.positive for n, m in resolved.items()})
    # The index of a table read by read_table is each row's line in the file.
    for line in out.index[out["symbol"].isna().to_numpy()]:
        marker = str(out.at[line, "marker"])
        what = ("empty marker name" if not marker
                else f"marker {quoted(marker)} is not in exoqc's vocabulary")
        problems.append(Problem(
            MARKERS_FILE,
            f"{what}; measurement ignored (expected an HGNC symbol or common name such as "
            "CD63, TSG101, ALIX, APOA1, calnexin)",
            line=int(line), column="marker", prep_id=str(out.at[line, "prep_id"]),
            severity="warning",
        ))

    raw = table["intensity"]
    not_detected = raw.str.lower().isin(NOT_DETECTED)
    values, bad = parse_numbers(raw.where(~not_detected, "0"), delimiter)
    negative = values < 0
    expected = "a number >= 0, 0 or 'ND' for not detected"
    for line in out.index[(bad | negative).to_numpy()]:
        problems.append(Problem(
            MARKERS_FILE,
            "intensity " + (not_a_number(raw[line], expected) if bad[line] else
                            f"{quoted(raw[line])} is negative: expected {expected}"),
            line=int(line), column="intensity", prep_id=str(out.at[line, "prep_id"]),
        ))
    out["intensity"] = values.where(~(bad | negative))
    out["detected"] = out["intensity"] > 0

    assay = table["assay"].str.lower() if "assay" in table else pd.Series("", index=table.index)
    bad_assay = (assay != "") & ~assay.isin(MARKER_ASSAYS)
    for line in out.index[bad_assay.to_numpy()]:
        problems.append(Problem(
            MARKERS_FILE,
            f"assay {quoted(str(table.at[line, 'assay']))} is not known: expected one of "
            f"{', '.join(MARKER_ASSAYS)}",
            line=int(line), column="assay", prep_id=str(out.at[line, "prep_id"]),
        ))
    out["assay"] = assay.where(assay != "", UNSPECIFIED_ASSAY)
    out["run"] = table.get("run", "")
    out["unit"] = table.get("unit", "")
    return out[columns].reset_index(drop=True)


def load_cargo(root: Path, known: set[str], problems: list[Problem]) -> pd.DataFrame:
    columns = ["prep_id", "target", "delta_ct", "detected", "line"]
    table = _optional_table(root, CARGO_FILE, ("prep_id", "target", "delta_ct"), problems)
    if table is None:
        return pd.DataFrame(columns=columns)
    table = _attach_to_preps(table, CARGO_FILE, known, problems)
    out = pd.DataFrame({"prep_id": table["prep_id"],
                        "target": table["target"].map(normalize_cargo_target)})
    out["line"] = table.index
    raw = table["delta_ct"]
    not_detected = raw.str.lower().isin(NOT_DETECTED)
    values, bad = parse_numbers(raw.where(~not_detected, ""), table.attrs.get("delimiter", ","))
    for line in out.index[bad.to_numpy()]:
        problems.append(Problem(
            CARGO_FILE,
            "delta_ct " + not_a_number(raw[line], "a ΔCt value, or 'undetermined'"),
            line=int(line), column="delta_ct", prep_id=str(out.at[line, "prep_id"]),
        ))
    out["delta_ct"] = values
    out["detected"] = ~not_detected & ~bad & values.notna()
    return out[columns].reset_index(drop=True)
