"""The DLS formats in detection order, and reading a file through them.

Detection asks each format's own ``sniff`` in the order of :data:`FORMATS` (the most
specific first: an ALV file's "Correlation" section, then a Zetasizer table header, then
the generic CSV headers) and reads with the first that recognizes the content. A new
format is a module offering a :data:`~exoqc.features.dls.readers.record.DLSFormat`,
placed here in the order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from exoqc.errors import DLSFormatError
from exoqc.features.dls.readers import alv, generic_csv, zetasizer
from exoqc.features.dls.readers.record import DLSFormat, DLSRecord
from exoqc.features.exports import FormatRegistry

MAX_DLS_FILE_BYTES = 64 * 1024**2
"""Instrument exports are small; anything larger is refused with a clear message."""
MAX_DLS_FILE_LINES = 200_000
"""More lines than any export holds (a Zetasizer file has one line per record); checked
before the text is split, so a file of millions of short lines cannot exhaust memory."""

FORMATS: tuple[DLSFormat, ...] = (
    alv.FORMAT,
    zetasizer.FORMAT,
    generic_csv.CORRELOGRAM,
    generic_csv.DISTRIBUTION,
)
"""Every DLS format exoqc reads, in the order detection asks them."""

REGISTRY = FormatRegistry(
    FORMATS, DLSFormatError, MAX_DLS_FILE_BYTES, MAX_DLS_FILE_LINES, kind="a DLS export",
    names="Zetasizer, ALV .ASC or CSV",
    unknown="not a DLS export exoqc can read: expected a Malvern Zetasizer tab-delimited "
    "export (a header with 'Sample Name' and 'Correlation Data[1]', 'Sizes[1] (d.nm)' or "
    "'Z-Ave (d.nm)'), an ALV .ASC file (a \"Correlation\" section), or a CSV with the "
    "columns tau_us,g2m1 or size_nm,intensity|volume|number",
    lines_note=" (one per record, or one per lag time)",
)


def read_dls_file(path: Path) -> list[DLSRecord]:
    """All measurement records of a DLS export, its format detected from the content."""
    return REGISTRY.read(path)


def detect_format(lines: Sequence[str]) -> str | None:
    """The name of the first format in :data:`FORMATS` whose sniff recognizes the lines
    (``"alv"``, ``"zetasizer"``, ``"csv_correlogram"``, ``"csv_distribution"``), or None."""
    return REGISTRY.detect(lines)
