"""``exoqc nta FILE... [--json]``: analyse NTA exports and print one result per sample."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from exoqc.features.nta.analysis import NTAResult, analyze_file
from exoqc.features.report import results_table, run_files_command

__all__ = ["run_nta_command"]


def run_nta_command(files: Sequence[Path], as_json: bool) -> int:
    """Analyse every file; print the table (or the JSON list) and each failure on stderr.

    Returns the exit code: 0 when every file was analysed, 1 otherwise.
    """
    return run_files_command(files, analyze_file, as_json, _table)


def _number(value: float | None, fmt: str) -> str:
    return "–" if value is None or value != value else format(value, fmt)


def _table(results: Sequence[NTAResult]) -> Table:
    table = results_table(
        "NTA analysis (exoqc): one row per sample, the mean over its videos",
        (r.file for r in results),
        (("Rec", "right", False), ("Sample", "left", True), ("Instrument", "left", False),
         ("Particles/mL", "right", False), ("Mean nm", "right", False),
         ("Mode nm", "right", False), ("D10/D50/D90 nm", "right", False),
         ("Videos (CV)", "right", False), ("Per frame", "right", False),
         ("Flags", "left", True)),
    )
    for r in results:
        cv = "" if r.concentration_cv is None else f" ({100 * r.concentration_cv:.0f}%)"
        table.add_row(
            Path(r.file).name, str(r.record), r.sample_name, r.instrument,
            _number(r.concentration_per_ml, ".3g"), _number(r.mean_nm, ".1f"),
            _number(r.mode_nm, ".1f"),
            "/".join(_number(v, ".0f") for v in (r.d10_nm, r.d50_nm, r.d90_nm)),
            f"{r.n_videos}{cv}", _number(r.particles_per_frame, ".0f"),
            ", ".join(r.flags) or "–",
        )
    return table
