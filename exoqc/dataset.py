"""The prep dataset folder: load it into one typed object and validate it.

Folder layout (the folder contract, :mod:`exoqc.folder`): ``preps.csv`` (one row per
preparation), optional ``markers.csv`` (long format), ``cargo.csv`` and ``dls/`` and
``nta/`` folders of instrument exports.

Validation never drops a preparation silently. Each problem is recorded with the file, the
line and what was expected. A problem that belongs to one preparation marks only that
preparation as failed; a problem with a whole file (an unreadable ``markers.csv``) fails
every preparation. ``load_dataset(..., errors="raise")`` (training) raises on the first
error-level problem list; ``errors="collect"`` (scoring) returns the dataset with its
problems so that the rest of the batch goes on.

The work is split by role: :mod:`exoqc.folder` (file names, columns, values), :mod:`exoqc.preps`
(preps.csv), :mod:`exoqc.measurements` (markers.csv, cargo.csv); their public names are
re-exported here, so ``from exoqc.dataset import load_dataset, PREPS_FILE, ...`` keeps working.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from exoqc.errors import DatasetError, ExoqcInputError, Problem
from exoqc.folder import (
    ASSAY_READOUTS,
    CARGO_COLUMNS,
    CARGO_FILE,
    COUNT_COLUMNS,
    DLS_DIR,
    ISOLATION_METHODS,
    LABEL_VALUES,
    MARKER_ASSAYS,
    MARKER_COLUMNS,
    MARKERS_FILE,
    NTA_DIR,
    PREPS_FILE,
    PRODUCTION_DATE,
    UNSPECIFIED_ASSAY,
    preps_columns,
)
from exoqc.measurements import closest_ids, load_cargo, load_markers
from exoqc.preps import DUPLICATE_PREP_ID, load_preps

__all__ = [
    "ASSAY_READOUTS",
    "CARGO_COLUMNS",
    "CARGO_FILE",
    "COUNT_COLUMNS",
    "DLS_DIR",
    "ISOLATION_METHODS",
    "LABEL_VALUES",
    "MARKERS_FILE",
    "MARKER_ASSAYS",
    "MARKER_COLUMNS",
    "NTA_DIR",
    "PREPS_FILE",
    "PRODUCTION_DATE",
    "UNSPECIFIED_ASSAY",
    "Dataset",
    "closest_ids",
    "duplicated_rows",
    "load_dataset",
    "preps_columns",
]


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
        return target in self.preps and bool(self.preps[target].notna().any())

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


def duplicated_rows(dataset: Dataset) -> list[Problem]:
    """One problem per row of preps.csv left out of ``preps`` because its prep_id was used
    on an earlier line (a report with one row per input row adds these)."""
    return [p for p in dataset.problems if p.code == DUPLICATE_PREP_ID]


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
    preps = load_preps(root, problems)
    known = set(preps.index)
    markers = load_markers(root, known, problems)
    cargo = load_cargo(root, known, problems)
    dataset = Dataset(root=root, preps=preps, markers=markers, cargo=cargo, problems=problems)
    if errors == "raise":
        fatal = [p for p in problems if p.severity == "error"]
        if fatal:
            raise DatasetError(root, fatal)
    return dataset
