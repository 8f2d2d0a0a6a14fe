"""``exoqc nta FILE... [--json]``: analyse NTA exports and print one result per sample."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from exoqc.errors import ExoqcInputError
from exoqc.features.nta.analysis import NTAResult, analyze_file

__all__ = ["run_nta_command"]

_PIPED_WIDTH = 200
_MAX_FILE_COLUMN = 40


def run_nta_command(files: Sequence[Path], as_json: bool) -> int:
    """Analyse every file; print the table (or the JSON list) and each failure on stderr.

    Returns the exit code: 0 when every file was analysed, 1 otherwise.
    """
    results: list[NTAResult] = []
    failed = 0
    errors = Console(stderr=True, highlight=False)
    for path in files:
        try:
            results.extend(analyze_file(path))
        except ExoqcInputError as exc:
            failed += 1
            errors.print(f"error: {exc}", markup=False)
    if as_json:
        json.dump([r.to_json() for r in results], sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
    elif results:
        width = None if sys.stdout.isatty() else _PIPED_WIDTH
        Console(highlight=False, width=width).print(_table(results))
    return 1 if failed else 0


def _number(value: float | None, fmt: str) -> str:
    return "–" if value is None or value != value else format(value, fmt)


def _table(results: Sequence[NTAResult]) -> Table:
    table = Table(title="NTA analysis (exoqc): one row per sample, the mean over its videos",
                  title_justify="left")
    file_width = min(max(len(Path(r.file).name) for r in results), _MAX_FILE_COLUMN)
    for name, justify, wraps, width in (
        ("File", "left", True, file_width), ("Rec", "right", False, None),
        ("Sample", "left", True, None), ("Instrument", "left", False, None),
        ("Particles/mL", "right", False, None), ("Mean nm", "right", False, None),
        ("Mode nm", "right", False, None), ("D10/D50/D90 nm", "right", False, None),
        ("Videos (CV)", "right", False, None), ("Per frame", "right", False, None),
        ("Flags", "left", True, None),
    ):
        table.add_column(name, justify=justify, overflow="fold", no_wrap=not wraps,
                         min_width=width)
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
