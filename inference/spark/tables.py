"""Preparation records held in Spark tables, read and validated as a prep dataset folder.

Input schema (a data platform's tables; one row per record, column names
case-insensitive, any Spark type: values are read as the text a CSV export holds, a NaN in
a floating-point column counts as not measured):

- ``preps``: ``prep_id`` (unique) and the optional columns of ``preps.csv`` (README.md):
  ``batch``, ``isolation_method``, ``particles_per_ml``, ``protein_ug_per_ml``,
  ``dls_file`` (path relative to ``dls_root``, or absolute), ``dls_record``, ``nta_file``
  and ``nta_record`` (the same for NTA exports, also under ``dls_root``), free-text
  source columns. Label and assay-readout columns are validated but not needed.
- ``markers`` (optional): ``prep_id, marker, intensity`` and optional ``assay, run, unit``.
- ``cargo`` (optional): ``prep_id, target, delta_ct``.

Messages about a record name its table and its 1-based position in the table as read
(``markers table, record 12, column 'marker': ...``); sort a table before scoring for
numbers that stay the same between runs.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from exoqc.dataset import (
    CARGO_FILE,
    MARKERS_FILE,
    PREPS_FILE,
    Dataset,
    duplicated_rows,
    load_dataset,
)
from exoqc.errors import ExoqcInputError, Place, Places, Problem

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

TABLE_NAMES = {PREPS_FILE: "preps", MARKERS_FILE: "markers", CARGO_FILE: "cargo"}


class TablePlaces(Places):
    """Places of the records of Spark tables: a file written from a table is that table,
    a line of it the record it holds (the line less the header); the folder the tables
    were written to stands for the DLS root."""

    def __init__(self, folder: str, dls_root: str) -> None:
        self.folder = folder
        self.dls_root = dls_root

    def file(self, file: str) -> str:
        return f"{TABLE_NAMES[file]} table" if file in TABLE_NAMES else file

    def line(self, file: str, line: int) -> str:
        return f"record {line - 1}" if file in TABLE_NAMES else super().line(file, line)

    def mention(self, place: Place) -> str:
        if place.file not in TABLE_NAMES:
            return self.dls_root if place.file == self.folder else super().mention(place)
        if place.line is None:
            return f"the {self.file(place.file)}"
        return f"in {self.line(place.file, place.line)}"


def dataset_from_tables(preps: DataFrame, markers: DataFrame | None,
                        cargo: DataFrame | None, dls_root: Path) -> Dataset:
    """The records of Spark tables as a validated :class:`Dataset` rooted at ``dls_root``.

    Only the ``markers`` and ``cargo`` rows of the preparations in ``preps`` are read, so
    a platform can pass whole tables. The tables are written as the CSV files of a prep
    dataset folder beside links to the entries of ``dls_root`` and read by
    :func:`exoqc.dataset.load_dataset`, so that they pass the same checks as a folder;
    messages then name the table and record (:class:`TablePlaces`).
    """
    return records_from_tables(preps, markers, cargo, dls_root)[0]


def records_from_tables(preps: DataFrame, markers: DataFrame | None,
                        cargo: DataFrame | None, dls_root: Path
                        ) -> tuple[Dataset, list[Problem]]:
    """:func:`dataset_from_tables`, and the problems of its ``preps`` records left out
    because an earlier record used their prep_id (:func:`exoqc.dataset.duplicated_rows`).
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, FloatType

    if not dls_root.is_dir():
        raise ExoqcInputError(dls_root, "not a folder: expected the folder the dls_file "
                                        "paths are relative to")
    key = {name: _prep_id_column(table, name) for name, table in
           (("preps", preps), ("markers", markers), ("cargo", cargo)) if table is not None}
    wanted = preps.select(F.trim(preps[key["preps"]].cast("string")).alias("_prep_id"))
    markers, cargo = (
        None if table is None else table.join(
            wanted, F.trim(table[key[name]].cast("string")) == wanted["_prep_id"], "left_semi")
        for name, table in (("markers", markers), ("cargo", cargo)))
    tables = {PREPS_FILE: preps, MARKERS_FILE: markers, CARGO_FILE: cargo}
    with tempfile.TemporaryDirectory(prefix="exoqc-records-") as tmp:
        folder = Path(tmp)
        for entry in dls_root.iterdir():
            if entry.name not in tables:
                (folder / entry.name).symlink_to(entry.resolve())
        for name, table in tables.items():
            if table is None:
                continue
            as_text = table.select(*[
                F.when(F.isnan(F.col(f"`{f.name}`")), None).otherwise(F.col(f"`{f.name}`"))
                .cast("string").alias(f.name)
                if isinstance(f.dataType, DoubleType | FloatType)
                else F.col(f"`{f.name}`").cast("string").alias(f.name)
                for f in table.schema.fields
            ])
            as_text.toArrow().to_pandas().to_csv(folder / name, index=False, na_rep="")
        try:
            dataset = load_dataset(folder, errors="collect")
        except ExoqcInputError as error:  # nothing to score: no preparation in the table
            raise ExoqcInputError(f"{TABLE_NAMES[Path(error.file).name]} table",
                                  error.detail) from None
        places = TablePlaces(str(folder), str(dls_root))
        duplicates = [p.placed(places) for p in duplicated_rows(dataset)]
        problems = [p.placed(places) for p in dataset.problems]
    return dataclasses.replace(dataset, root=dls_root, problems=problems), duplicates


def _prep_id_column(table: DataFrame, name: str) -> str:
    """The table's ``prep_id`` column as spelled there (names are case-insensitive)."""
    for field in table.schema.fields:
        if field.name.strip().lower() == "prep_id":
            return field.name
    raise ExoqcInputError(f"{name} table", "expected a column 'prep_id'; found "
                          f"{', '.join(table.columns) or 'no columns'}")


def with_duplicated_records(scores: DataFrame, dataset: Dataset, duplicates: list[Problem],
                            model_labels: dict[str, str]) -> DataFrame:
    """``scores`` in ``preps`` order with the local engine's error row for each record
    whose prep_id an earlier record used, right after that prep_id's row.
    ``model_labels``: the scores' ``purity_model`` and ``potency_model``."""
    from pyspark.sql import functions as F

    from exoqc.inference.pipeline import with_duplicated_rows

    if not duplicates:
        return scores.orderBy("position").drop("position")
    # The extra rows and their places, from the local engine's function on a frame of the
    # scored rows' keys: an extra row has no position and follows its prep_id's row.
    keys = pd.DataFrame({"position": np.arange(len(dataset.prep_ids), dtype=float),
                         "prep_id": dataset.prep_ids, "status": "", "error": "",
                         **model_labels})
    rows = with_duplicated_rows(keys, duplicates)
    rows["order"] = rows.groupby(rows["position"].ffill()).cumcount()
    rows["position"] = rows["position"].ffill().astype(np.int64)
    extra = scores.sparkSession.createDataFrame(
        rows[rows["order"] > 0].astype({"order": np.int64}))
    return (scores.withColumn("order", F.lit(0).cast("long"))
            .unionByName(extra, allowMissingColumns=True)
            .orderBy("position", "order").drop("position", "order"))
