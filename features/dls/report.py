"""``exoqc dls FILE... [--json]``: analyse DLS exports and print one result per record."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from exoqc.errors import ExoqcInputError
from exoqc.features.dls.analysis import DLSResult, analyze_file

__all__ = ["run_dls_command"]

_PIPED_WIDTH = 200
_MAX_FILE_COLUMN = 40


def run_dls_command(
    files: Sequence[Path], as_json: bool, particle_refractive_index: float
) -> int:
    """Analyse every file; print the table (or the JSON list) and each failure on stderr.

    Returns the exit code: 0 when every file was analysed, 1 otherwise.
    """
    results: list[DLSResult] = []
    failed = 0
    errors = Console(stderr=True, highlight=False)
    for path in files:
        try:
            results.extend(analyze_file(path, particle_refractive_index=particle_refractive_index))
        except ExoqcInputError as exc:
            failed += 1
            errors.print(f"error: {exc}", markup=False, soft_wrap=True)
    if as_json:
        json.dump([r.to_json() for r in results], sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
    elif results:
        # Piped output gets a fixed width rather than rich's 80-column default.
        width = None if sys.stdout.isatty() else _PIPED_WIDTH
        Console(highlight=False, width=width).print(_table(results))
    return 1 if failed else 0


def _number(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _table(results: Sequence[DLSResult]) -> Table:
    table = Table(title="DLS analysis (exoqc): one row per record; peaks by intensity",
                  title_justify="left")
    file_width = min(max(len(Path(r.file).name) for r in results), _MAX_FILE_COLUMN)
    for name, justify, wraps, width in (
        ("File", "left", True, file_width), ("Rec", "right", False, None),
        ("Sample", "left", True, None), ("Angle °", "right", False, None),
        ("Source", "left", False, None), ("Z-avg nm", "right", False, None),
        ("PDI", "right", False, None), ("Intercept", "right", False, None),
        ("Peaks nm (% int.)", "left", True, None), ("D50 nm", "right", False, None),
        ("Flags", "left", True, None),
    ):
        table.add_column(name, justify=justify, overflow="fold", no_wrap=not wraps,
                         min_width=width)
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
