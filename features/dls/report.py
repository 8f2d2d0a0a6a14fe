"""``exoqc dls FILE... [--json]``: analyse DLS exports and print one result per record."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

from rich.table import Table

from exoqc.features.dls.analysis import DLSResult, analyze_file
from exoqc.features.report import results_table, run_files_command

__all__ = ["run_dls_command"]


def run_dls_command(
    files: Sequence[Path], as_json: bool, particle_refractive_index: float
) -> int:
    """Analyse every file; print the table (or the JSON list) and each failure on stderr.

    Returns the exit code: 0 when every file was analysed, 1 otherwise.
    """
    return run_files_command(
        files, partial(analyze_file, particle_refractive_index=particle_refractive_index),
        as_json, _table)


def _number(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _table(results: Sequence[DLSResult]) -> Table:
    table = results_table(
        "DLS analysis (exoqc): one row per record; peaks by intensity",
        (r.file for r in results),
        (("Rec", "right", False), ("Sample", "left", True), ("Angle °", "right", False),
         ("Source", "left", False), ("Z-avg nm", "right", False), ("PDI", "right", False),
         ("Intercept", "right", False), ("Peaks nm (% int.)", "left", True),
         ("D50 nm", "right", False), ("Flags", "left", True)),
    )
    previous_file = None
    for r in results:
        if previous_file is not None and r.file != previous_file:
            table.add_section()
        peaks = ", ".join(f"{p.diameter_nm:.0f} ({100 * p.share:.0f}%)" for p in r.peaks
                          if p.share >= 0.01)
        d50 = r.d_values_nm("intensity")[1]
        table.add_row(
            Path(r.file).name if r.file != previous_file else "", str(r.record),
            r.sample_name, f"{r.angle_deg:g}", r.source, _number(r.z_average_nm, 1),
            _number(r.pdi, 3), _number(r.intercept, 3), peaks or "–",
            "–" if d50 != d50 else f"{d50:.0f}", ", ".join(r.flags) or "–",
        )
        previous_file = r.file
    return table
