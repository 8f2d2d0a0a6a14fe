"""Header matching: the column names a lab types in a spreadsheet, mapped to exoqc's.

A header that differs from a known column only in case, spaces, punctuation, underscores
or the way its unit is written (``Prep_ID``, ``Particles per mL``, ``Protein (µg/mL)``,
``Isolation Method``, ``DLS File``, ``ΔCt``) is the known column: it is renamed. A header
that merely resembles one (``Protein``, ``particle_per_ml``) is kept as an extra column and
reported with the column it probably means, so that a measurement is never silently read
as "not measured".
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from exoqc.errors import Problem

SIMILARITY_CUTOFF = 0.8
"""difflib ratio above which an unknown header is reported as a likely misspelling."""

_SYMBOLS = (("µ", "u"), ("μ", "u"), ("δ", "delta "), ("Δ", "delta "), ("/", " per "),
            ("%", " percent "), ("#", " n "))


def normalize_header(name: str) -> str:
    """``Protein (µg/mL)`` -> ``protein_ug_per_ml``: lower case, units spelled out,
    every run of other characters one underscore."""
    for symbol, word in _SYMBOLS:
        name = name.replace(symbol, word)
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def _squeezed(name: str) -> str:
    return normalize_header(name).replace("_", "")


def match_headers(
    columns: Sequence[str], known: Sequence[str], file: str
) -> tuple[dict[str, str], list[Problem]]:
    """Renames of near-identical headers to known columns, and warnings for near misses.

    Returns ``{header: known column}`` and one warning per header that was left as it is
    but probably means a known column (or that matches a known column already present).
    """
    present = set(columns)
    by_squeezed = {_squeezed(k): k for k in known}
    renames: dict[str, str] = {}
    problems: list[Problem] = []
    for column in columns:
        if column in known:
            continue
        target = by_squeezed.get(_squeezed(column))
        if target is not None:
            if target in present or target in renames.values():
                problems.append(Problem(
                    file, f"column '{column}' means '{target}', which the file already has: "
                    f"'{column}' kept as an extra column, not read", line=1, severity="warning"))
            else:
                renames[column] = target
            continue
        guess = _likely_meant(normalize_header(column), known)
        if guess is not None and guess not in present:
            problems.append(Problem(
                file, f"column '{column}' is not one exoqc reads; did you mean '{guess}'? "
                f"Kept as an extra column, so '{guess}' counts as not measured",
                line=1, severity="warning"))
    return renames, problems


def _likely_meant(normalized: str, known: Sequence[str]) -> str | None:
    if not normalized:
        return None
    # A known name that begins with the header ('protein' -> 'protein_ug_per_ml'), or the
    # header with a known name and more ('batch_id' -> 'batch').
    prefixed = [k for k in known if k.startswith(normalized + "_")
                or normalized.startswith(k + "_")]
    if len(prefixed) == 1:
        return prefixed[0]
    close = difflib.get_close_matches(normalized, list(known), n=1, cutoff=SIMILARITY_CUTOFF)
    return close[0] if close else None
