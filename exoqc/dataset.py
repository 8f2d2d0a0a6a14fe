"""The prep dataset folder: load it into one typed object and validate it.

Folder layout (see DESIGN.md): ``preps.csv`` (one row per preparation), optional
``markers.csv`` (long format), ``cargo.csv`` and ``dls/`` and ``nta/`` folders of
instrument exports.

Validation never drops a preparation silently. Each problem is recorded with the file, the
line and what was expected. A problem that belongs to one preparation marks only that
preparation as failed; a problem with a whole file (an unreadable ``markers.csv``) fails
every preparation. ``load_dataset(..., errors="raise")`` (training) raises on the first
error-level problem list; ``errors="collect"`` (scoring) returns the dataset with its
problems so that the rest of the batch goes on.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from exoqc.columns import match_headers
from exoqc.contracts import POTENCY_CLASSES, PURITY_CLASSES
from exoqc.errors import DatasetError, ExoqcInputError, Place, Problem
from exoqc.markers import normalize_cargo_target, resolve_marker
from exoqc.tables import not_a_number, parse_numbers, quoted, read_table

PREPS_FILE = "preps.csv"
MARKERS_FILE = "markers.csv"
CARGO_FILE = "cargo.csv"
DLS_DIR = "dls"
NTA_DIR = "nta"

LABEL_VALUES: dict[str, tuple[str, ...]] = {
    "purity_class": PURITY_CLASSES,
    "potency_class": POTENCY_CLASSES,
}
ISOLATION_METHODS = ("uc", "sec", "uc_sec", "density_gradient", "peg", "immunoaffinity", "other")
ASSAY_READOUTS = (
    "cck8_fold",
    "migration_fold",
    "runx2_fold",
    "osterix_fold",
    "tnfa_fold",
    "il6_fold",
    "il10_fold",
)
COUNT_COLUMNS = ("particles_per_ml", "protein_ug_per_ml")
PRODUCTION_DATE = "production_date"  # optional ISO date: order of a production history
MARKER_ASSAYS = ("wb", "elisa", "ms", "flow")
UNSPECIFIED_ASSAY = "unspecified"

_TEXT_PREP_COLUMNS = ("batch", "isolation_method", "dls_file", "dls_record", "nta_file",
                      "nta_record")
MARKER_COLUMNS = ("prep_id", "marker", "intensity", "assay", "run", "unit")
CARGO_COLUMNS = ("prep_id", "target", "delta_ct")


def preps_columns() -> tuple[str, ...]:
    """The columns of preps.csv exoqc reads (a near-miss header is matched to them)."""
    return ("prep_id", *_TEXT_PREP_COLUMNS, PRODUCTION_DATE, *COUNT_COLUMNS, *LABEL_VALUES,
            *ASSAY_READOUTS)

# Spellings labs use for the isolation methods of DESIGN.md.
_ISOLATION_SYNONYMS = {
    "ultracentrifugation": "uc",
    "differential_ultracentrifugation": "uc",
    "duc": "uc",
    "size_exclusion": "sec",
    "size_exclusion_chromatography": "sec",
    "uc+sec": "uc_sec",
    "uc_+_sec": "uc_sec",
    "sec+uc": "uc_sec",
    "density": "density_gradient",
    "dgu": "density_gradient",
    "iodixanol": "density_gradient",
    "sucrose_gradient": "density_gradient",
    "polymer_precipitation": "peg",
    "precipitation": "peg",
    "exoquick": "peg",
    "immunocapture": "immunoaffinity",
    "immuno_affinity": "immunoaffinity",
}

# What a lab writes for a marker blot lane or qPCR well with nothing detected.
_NOT_DETECTED = {"nd", "n.d.", "n/d", "not detected", "undetected", "undetermined", "<lod", "bld"}


@dataclass
class Dataset:
    """A loaded prep dataset folder.

    ``preps`` is indexed by ``prep_id`` (text) and holds the known columns typed (counts and
    assay readouts as floats, NaN = not measured; labels and isolation method normalized)
    and every extra column as written. ``markers`` has one row per measurement with the
    resolved HGNC ``symbol`` and MISEV ``category`` (NaN for an unknown marker, which is
    kept and reported), ``intensity`` (0 when not detected) and ``detected``. ``cargo``
    has ``prep_id, target, delta_ct, detected``.
    """

    root: Path
    preps: pd.DataFrame
    markers: pd.DataFrame
    cargo: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)

    @property
    def prep_ids(self) -> list[str]:
        return self.preps.index.tolist()

    def _messages(self, severity: str) -> dict[str, list[str]]:
        by_prep: dict[str, list[str]] = defaultdict(list)
        everyone = [str(p) for p in self.problems if p.severity == severity and p.prep_id is None]
        for problem in self.problems:
            if problem.severity == severity and problem.prep_id is not None:
                by_prep[problem.prep_id].append(str(problem))
        if everyone and severity == "error":
            for prep_id in self.prep_ids:
                by_prep[prep_id] = everyone + by_prep[prep_id]
        return dict(by_prep)

    @property
    def errors(self) -> dict[str, list[str]]:
        """Error messages of each failed preparation (file-level errors fail them all)."""
        return self._messages("error")

    @property
    def warnings(self) -> dict[str, list[str]]:
        """Warnings that concern one preparation; it is still used."""
        return self._messages("warning")

    @property
    def usable_prep_ids(self) -> list[str]:
        failed = self.errors
        return [p for p in self.prep_ids if p not in failed]

    def dls_path(self, prep_id: str) -> Path | None:
        """The DLS export of a preparation, or ``None`` when it has none."""
        name = self.preps.at[prep_id, "dls_file"] if "dls_file" in self.preps else ""
        return self.root / name if isinstance(name, str) and name else None

    def nta_path(self, prep_id: str) -> Path | None:
        """The NTA export of a preparation, or ``None`` when it has none."""
        name = self.preps.at[prep_id, "nta_file"] if "nta_file" in self.preps else ""
        return self.root / name if isinstance(name, str) and name else None

    def has_labels(self, target: str) -> bool:
        return target in self.preps and self.preps[target].notna().any()

    def subset(self, prep_ids: list[str]) -> Dataset:
        """The same folder restricted to some preparations (for splits)."""
        keep = set(prep_ids)
        return Dataset(
            root=self.root,
            preps=self.preps.loc[[p for p in self.prep_ids if p in keep]],
            markers=self.markers[self.markers["prep_id"].isin(keep)],
            cargo=self.cargo[self.cargo["prep_id"].isin(keep)],
            problems=[p for p in self.problems if p.prep_id is None or p.prep_id in keep],
        )


_ALREADY_USED = "already used on line"


def duplicated_rows(dataset: Dataset) -> list[Problem]:
    """One problem per row of preps.csv left out of ``preps`` because its prep_id was used
    on an earlier line (a report with one row per input row adds these)."""
    return [p for p in dataset.problems if p.file == PREPS_FILE and p.column == "prep_id"
            and _ALREADY_USED in p.message]


def load_dataset(
    root: str | Path, errors: Literal["raise", "collect"] = "raise"
) -> Dataset:
    """Load and validate a prep dataset folder.

    ``errors="raise"``: any error-level problem raises :class:`DatasetError` listing them.
    ``errors="collect"``: problems are kept on the dataset; failed preparations stay in
    ``preps`` so that a batch report has one row for every input preparation. A folder
    without a readable ``preps.csv`` raises in both modes: there is nothing to report on.
    """
    root = Path(root)
    if not root.is_dir():
        raise ExoqcInputError(root, "not a folder: expected a prep dataset folder with preps.csv")
    problems: list[Problem] = []
    preps = _load_preps(root, problems)
    known = set(preps.index)
    markers = _load_markers(root, known, problems)
    cargo = _load_cargo(root, known, problems)
    dataset = Dataset(root=root, preps=preps, markers=markers, cargo=cargo, problems=problems)
    if errors == "raise":
        fatal = [p for p in problems if p.severity == "error"]
        if fatal:
            raise DatasetError(root, fatal)
    return dataset


def _load_preps(root: Path, problems: list[Problem]) -> pd.DataFrame:
    path = root / PREPS_FILE
    if path.is_dir():
        raise ExoqcInputError(path, "is a folder: expected the preps.csv file")
    if not path.is_file():
        raise ExoqcInputError(path, "missing: every prep dataset folder needs preps.csv")
    table = _known_headers(read_table(path), PREPS_FILE, preps_columns(), problems)
    if "prep_id" not in table:
        raise ExoqcInputError(
            path, f"expected a column 'prep_id'; found {', '.join(table.columns)}", line=1
        )
    if table.empty:
        raise ExoqcInputError(path, "no preparations: expected one row per preparation")
    delimiter = table.attrs["delimiter"]
    lines = pd.Series(table.index, index=table.index)

    ids = table["prep_id"].copy()
    for pos in ids.index[ids == ""]:
        ids[pos] = f"<no prep_id, line {lines[pos]}>"
        problems.append(Problem(PREPS_FILE, "empty prep_id: every row needs a unique id",
                                line=lines[pos], column="prep_id", prep_id=ids[pos]))
    _report_ragged(table, PREPS_FILE, ids, problems)
    first_line: dict[str, int] = {}
    keep = pd.Series(True, index=table.index)
    for pos, prep_id in ids.items():
        if prep_id in first_line:
            keep[pos] = False
            problems.append(Problem.of(
                PREPS_FILE, f"prep_id {quoted(prep_id)} already used ",
                Place(PREPS_FILE, first_line[prep_id]), ": expected unique ids",
                line=lines[pos], column="prep_id", prep_id=prep_id,
            ))
        else:
            first_line[prep_id] = lines[pos]
    table = table[keep]
    ids = ids[keep]
    lines = lines[keep]

    preps = table.drop(columns="prep_id")
    preps.index = pd.Index(ids.to_numpy(), name="prep_id")
    line_of = pd.Series(lines.to_numpy(), index=preps.index)

    def report(mask: pd.Series, column: str, message) -> None:
        for prep_id in mask.index[mask.to_numpy()]:
            problems.append(Problem(PREPS_FILE, message(prep_id), line=int(line_of[prep_id]),
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
        method = method.replace(_ISOLATION_SYNONYMS)
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

    for column in _TEXT_PREP_COLUMNS:
        if column not in preps:
            preps[column] = ""
    _resolve_instrument_files(root, preps, line_of, problems, "dls_file", DLS_DIR, "DLS")
    _resolve_instrument_files(root, preps, line_of, problems, "nta_file", NTA_DIR, "NTA")
    return preps


def _resolve_instrument_files(
    root: Path, preps: pd.DataFrame, line_of: pd.Series, problems: list[Problem],
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
    for prep_id, name in preps[column].items():
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
        elif not (root / relative).is_file():
            parts = (f"{what} file {quoted(name)} not found: expected a path relative to ",
                     Place(str(root)))
        else:
            continue
        problems.append(Problem.of(PREPS_FILE, *parts, line=int(line_of[prep_id]),
                                   column=column, prep_id=prep_id))


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
    table = _known_headers(table, name, known, problems)
    missing = [c for c in required if c not in table]
    if missing:
        problems.append(Problem(
            name, f"expected column(s) {', '.join(missing)}; found {', '.join(table.columns)}",
            line=1,
        ))
        return None
    return table


def _known_headers(table: pd.DataFrame, name: str, known: tuple[str, ...],
                   problems: list[Problem]) -> pd.DataFrame:
    """Headers a lab typed differently (``Prep ID``, ``Protein (µg/mL)``) renamed to the
    known columns; near misses reported (:mod:`exoqc.columns`)."""
    renames, found = match_headers(list(table.columns), known, name)
    problems.extend(found)
    if not renames:
        return table
    attrs = dict(table.attrs)
    table = table.rename(columns=renames)
    table.attrs.update(attrs)
    return table


def _report_ragged(table: pd.DataFrame, name: str, prep_ids: pd.Series,
                   problems: list[Problem]) -> None:
    """A row with more or fewer cells than the header fails its preparation: its values
    may sit in the wrong columns, or be missing because the file was cut short."""
    width = len(table.columns)
    for line, n_cells in table.attrs["ragged"].items():
        if line in prep_ids.index:
            problems.append(Problem(
                name, f"row has {n_cells} cells but the header has {width}: expected one "
                "cell per column (file cut short, or a delimiter inside an unquoted cell?)",
                line=line, prep_id=prep_ids[line],
            ))


def _attach_to_preps(table: pd.DataFrame, name: str, known: set[str],
                     problems: list[Problem]) -> pd.DataFrame:
    """Rows whose prep_id is not in preps.csv are reported (they attach to nothing); a
    ragged row fails the preparation it names."""
    orphan = ~table["prep_id"].isin(known)
    closest = closest_ids(table.loc[orphan.to_numpy(), "prep_id"].unique(), known)
    for line in table.index[orphan.to_numpy()]:
        prep_id = table.at[line, "prep_id"]
        hint = (f" (closest prep_id there: {quoted(closest[prep_id])})"
                if closest.get(prep_id) else "")
        problems.append(Problem.of(
            name, f"prep_id {quoted(prep_id)} is not in ", Place(PREPS_FILE),
            f"{hint}; row ignored", line=line, column="prep_id", severity="warning",
        ))
    _report_ragged(table, name, table["prep_id"][~orphan], problems)
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


def _load_markers(root: Path, known: set[str], problems: list[Problem]) -> pd.DataFrame:
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
    out["symbol"] = out["marker"].map(lambda n: resolved[n].symbol if resolved[n] else np.nan)
    out["category"] = out["marker"].map(
        lambda n: resolved[n].category if resolved[n] else np.nan).astype(float)
    out["positive"] = out["marker"].map(lambda n: bool(resolved[n] and resolved[n].positive))
    for pos in out.index[out["symbol"].isna().to_numpy()]:
        row = out.loc[pos]
        what = ("empty marker name" if not row["marker"]
                else f"marker {quoted(row['marker'])} is not in exoqc's vocabulary")
        problems.append(Problem(
            MARKERS_FILE,
            f"{what}; measurement ignored (expected an HGNC symbol or common name such as "
            "CD63, TSG101, ALIX, APOA1, calnexin)",
            line=int(row["line"]), column="marker", prep_id=row["prep_id"], severity="warning",
        ))

    raw = table["intensity"]
    not_detected = raw.str.lower().isin(_NOT_DETECTED)
    values, bad = parse_numbers(raw.where(~not_detected, "0"), delimiter)
    negative = values < 0
    expected = "a number >= 0, 0 or 'ND' for not detected"
    for pos in out.index[(bad | negative).to_numpy()]:
        problems.append(Problem(
            MARKERS_FILE,
            "intensity " + (not_a_number(raw[pos], expected) if bad[pos] else
                            f"{quoted(raw[pos])} is negative: expected {expected}"),
            line=int(out.at[pos, "line"]), column="intensity", prep_id=out.at[pos, "prep_id"],
        ))
    out["intensity"] = values.where(~(bad | negative))
    out["detected"] = out["intensity"] > 0

    assay = table["assay"].str.lower() if "assay" in table else pd.Series("", index=table.index)
    bad_assay = (assay != "") & ~assay.isin(MARKER_ASSAYS)
    for pos in out.index[bad_assay.to_numpy()]:
        problems.append(Problem(
            MARKERS_FILE,
            f"assay {quoted(table.at[pos, 'assay'])} is not known: expected one of "
            f"{', '.join(MARKER_ASSAYS)}",
            line=int(out.at[pos, "line"]), column="assay", prep_id=out.at[pos, "prep_id"],
        ))
    out["assay"] = assay.where(assay != "", UNSPECIFIED_ASSAY)
    out["run"] = table.get("run", "")
    out["unit"] = table.get("unit", "")
    return out[columns].reset_index(drop=True)


def _load_cargo(root: Path, known: set[str], problems: list[Problem]) -> pd.DataFrame:
    columns = ["prep_id", "target", "delta_ct", "detected", "line"]
    table = _optional_table(root, CARGO_FILE, ("prep_id", "target", "delta_ct"), problems)
    if table is None:
        return pd.DataFrame(columns=columns)
    table = _attach_to_preps(table, CARGO_FILE, known, problems)
    out = pd.DataFrame({"prep_id": table["prep_id"],
                        "target": table["target"].map(normalize_cargo_target)})
    out["line"] = table.index
    raw = table["delta_ct"]
    not_detected = raw.str.lower().isin(_NOT_DETECTED)
    values, bad = parse_numbers(raw.where(~not_detected, ""), table.attrs.get("delimiter", ","))
    for pos in out.index[bad.to_numpy()]:
        problems.append(Problem(
            CARGO_FILE,
            "delta_ct " + not_a_number(raw[pos], "a ΔCt value, or 'undetermined'"),
            line=int(out.at[pos, "line"]), column="delta_ct", prep_id=out.at[pos, "prep_id"],
        ))
    out["delta_ct"] = values
    out["detected"] = ~not_detected & ~bad & values.notna()
    return out[columns].reset_index(drop=True)
