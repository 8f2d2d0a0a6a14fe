"""preps.csv: read it, check every cell, type the known columns.

A problem with one preparation is recorded (:class:`~exoqc.errors.Problem`) and marks only
that preparation; a preps.csv that cannot be used at all raises
:class:`~exoqc.errors.ExoqcInputError`.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from exoqc.errors import ExoqcInputError, Place, Problem
from exoqc.folder import (
    ASSAY_READOUTS,
    COUNT_COLUMNS,
    DLS_DIR,
    ISOLATION_METHODS,
    ISOLATION_SYNONYMS,
    LABEL_VALUES,
    NTA_DIR,
    PREPS_FILE,
    PRODUCTION_DATE,
    TEXT_PREP_COLUMNS,
    known_headers,
    preps_columns,
    report_ragged,
)
from exoqc.tables import not_a_number, parse_numbers, quoted, read_table

DUPLICATE_PREP_ID = "duplicate_prep_id"
"""The code of the problem of a row whose prep_id an earlier line used
(:func:`exoqc.dataset.duplicated_rows` finds them by it)."""


def load_preps(root: Path, problems: list[Problem]) -> pd.DataFrame:
    path = root / PREPS_FILE
    if path.is_dir():
        raise ExoqcInputError(path, "is a folder: expected the preps.csv file")
    if not path.is_file():
        raise ExoqcInputError(path, "missing: every prep dataset folder needs preps.csv")
    table = known_headers(read_table(path), PREPS_FILE, preps_columns(), problems)
    if "prep_id" not in table:
        raise ExoqcInputError(
            path, f"expected a column 'prep_id'; found {', '.join(table.columns)}", line=1
        )
    if table.empty:
        raise ExoqcInputError(path, "no preparations: expected one row per preparation")
    delimiter = table.attrs["delimiter"]
    # read_table indexes the rows by their line in the file.
    ids: dict[int, str] = {int(line): str(cell) for line, cell in
                           zip(table.index.tolist(), table["prep_id"].tolist(), strict=True)}
    for line, prep_id in ids.items():
        if prep_id == "":
            ids[line] = f"<no prep_id, line {line}>"
            problems.append(Problem(PREPS_FILE, "empty prep_id: every row needs a unique id",
                                    line=line, column="prep_id", prep_id=ids[line]))
    report_ragged(table, PREPS_FILE, pd.Series(ids, dtype=object), problems)
    line_of: dict[str, int] = {}  # each prep_id's first line; later ones are reported
    for line, prep_id in ids.items():
        if prep_id in line_of:
            problems.append(Problem.of(
                PREPS_FILE, f"prep_id {quoted(prep_id)} already used ",
                Place(PREPS_FILE, line_of[prep_id]), ": expected unique ids",
                line=line, column="prep_id", prep_id=prep_id, code=DUPLICATE_PREP_ID,
            ))
        else:
            line_of[prep_id] = line

    preps = table.loc[list(line_of.values())].drop(columns="prep_id")
    preps.index = pd.Index(list(line_of), name="prep_id")

    def report(mask: pd.Series, column: str, message) -> None:
        for prep_id in map(str, mask.index[mask.to_numpy()]):
            problems.append(Problem(PREPS_FILE, message(prep_id), line=line_of[prep_id],
                                    column=column, prep_id=prep_id))

    for column in (*COUNT_COLUMNS, *ASSAY_READOUTS):
        if column not in preps:
            continue
        raw = preps[column]
        values, bad = parse_numbers(raw, delimiter)
        report(bad, column, lambda p, raw=raw: not_a_number(
            raw[p], "a finite number or an empty cell (not measured)"))
        negative = values < 0 if column in COUNT_COLUMNS else values <= 0
        expected = "zero or more" if column in COUNT_COLUMNS else "a fold change above 0"
        report(negative, column, lambda p, values=values, expected=expected:
               f"{values[p]:g} is out of range: expected {expected}")
        preps[column] = values.where(~negative)

    for column, allowed in LABEL_VALUES.items():
        if column not in preps:
            continue
        labels = preps[column].str.lower()
        bad = (labels != "") & ~labels.isin(allowed)
        report(bad, column, lambda p, raw=preps[column], allowed=allowed:
               f"{quoted(raw[p])} is not a known label: expected one of {', '.join(allowed)}")
        preps[column] = labels.where(labels.isin(allowed), np.nan)

    if "isolation_method" in preps:
        raw = preps["isolation_method"]
        method = raw.str.lower().str.replace(r"[\s\-]+", "_", regex=True)
        method = method.replace(ISOLATION_SYNONYMS)
        bad = (method != "") & ~method.isin(ISOLATION_METHODS)
        report(bad, "isolation_method", lambda p: f"{quoted(raw[p])} is not a known isolation "
               f"method: expected one of {', '.join(ISOLATION_METHODS)}")
        preps["isolation_method"] = method.where(method.isin(ISOLATION_METHODS), np.nan)

    if PRODUCTION_DATE in preps:
        raw = preps[PRODUCTION_DATE]
        dates = pd.to_datetime(raw.where(raw != ""), format="ISO8601", errors="coerce")
        bad = (raw != "") & dates.isna()
        report(bad, PRODUCTION_DATE, lambda p, raw=raw: f"{quoted(raw[p])} is not a date: "
               "expected an ISO date such as 2026-03-14 (or an empty cell)")
        preps[PRODUCTION_DATE] = dates

    for column in TEXT_PREP_COLUMNS:
        if column not in preps:
            preps[column] = ""
    _resolve_instrument_files(root, preps, line_of, problems, "dls_file", DLS_DIR, "DLS")
    _resolve_instrument_files(root, preps, line_of, problems, "nta_file", NTA_DIR, "NTA")
    return preps


def _resolve_instrument_files(
    root: Path, preps: pd.DataFrame, line_of: dict[str, int], problems: list[Problem],
    column: str, folder: str, what: str,
) -> None:
    """Check each ``dls_file`` (``nta_file``); without one, take ``dls/<prep_id>.*``
    (``nta/<prep_id>.*``) when exactly one exists."""
    directory = root / folder
    by_stem: dict[str, list[str]] = defaultdict(list)
    if directory.is_dir():
        for path in directory.iterdir():
            if path.is_file():
                by_stem[path.stem].append(f"{folder}/{path.name}")
    for prep_id, name in zip(map(str, preps.index), preps[column], strict=True):
        if not name:
            candidates = by_stem.get(prep_id, [])
            if len(candidates) == 1:
                preps.at[prep_id, column] = candidates[0]
            continue
        relative = Path(name)
        if relative.is_absolute() or ".." in relative.parts:
            # Only files of the dataset are read: a path out of it could put another file's
            # content into error messages and the scores file.
            parts: tuple[str | Place, ...] = (
                f"{what} file {quoted(name)} is outside the dataset folder: expected a "
                "path relative to ", Place(str(root)), ", inside it")
        elif not _is_file(root / relative):
            parts = (f"{what} file {quoted(name)} not found: expected a path relative to ",
                     Place(str(root)))
        else:
            continue
        problems.append(Problem.of(PREPS_FILE, *parts, line=line_of[prep_id], column=column,
                                   prep_id=prep_id))


def _is_file(path: Path) -> bool:
    """Whether ``path`` is a file; a name the system cannot look up (too long, say) is
    not one, and is reported as not found like any other wrong name."""
    try:
        return path.is_file()
    except OSError:
        return False
