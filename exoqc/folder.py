"""The prep dataset folder's contract: its file names and columns, the label values, the
isolation methods and assay readouts exoqc knows, and two checks every table of the folder
shares (near-miss headers, ragged rows).

The folder format is the input contract (README "Your own data"; docs/architecture.md,
"The contract"). :mod:`exoqc.preps` reads preps.csv,
:mod:`exoqc.measurements` markers.csv and cargo.csv, :mod:`exoqc.dataset` puts them together.
"""

from __future__ import annotations

import pandas as pd

from exoqc.columns import match_headers
from exoqc.contracts import POTENCY_CLASSES, PURITY_CLASSES
from exoqc.errors import Problem

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

TEXT_PREP_COLUMNS = ("batch", "isolation_method", "dls_file", "dls_record", "nta_file",
                      "nta_record")
MARKER_COLUMNS = ("prep_id", "marker", "intensity", "assay", "run", "unit")
CARGO_COLUMNS = ("prep_id", "target", "delta_ct")


def preps_columns() -> tuple[str, ...]:
    """The columns of preps.csv exoqc reads (a near-miss header is matched to them)."""
    return ("prep_id", *TEXT_PREP_COLUMNS, PRODUCTION_DATE, *COUNT_COLUMNS, *LABEL_VALUES,
            *ASSAY_READOUTS)

# Spellings labs use for the isolation methods of the folder contract.
ISOLATION_SYNONYMS = {
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
NOT_DETECTED = {"nd", "n.d.", "n/d", "not detected", "undetected", "undetermined", "<lod", "bld"}


def known_headers(table: pd.DataFrame, name: str, known: tuple[str, ...],
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


def report_ragged(table: pd.DataFrame, name: str, prep_ids: pd.Series,
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
