"""The NTA formats in detection order, and reading a file through them.

Detection asks each format's own ``sniff`` in the order of :data:`FORMATS` (a NanoSight
ExperimentSummary, a ZetaView table, a NanoSight per-particle export, then the generic
CSV) and reads with the first that recognizes the content. A new format is a module
offering a :data:`~exoqc.features.nta.readers.record.NTAFormat`, placed here in the order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from exoqc.errors import NTAFormatError
from exoqc.features.exports import FormatRegistry
from exoqc.features.nta.readers import generic_csv, nanosight, nanosight_particles, zetaview
from exoqc.features.nta.readers.record import NTAFormat, NTASample

MAX_NTA_FILE_BYTES = 64 * 1024**2
"""A NanoSight summary is ~60 kB; a per-particle list of 10⁵ tracks ~2 MB."""
MAX_NTA_FILE_LINES = 2_000_000
"""Checked before the text is split, so a file of millions of short lines is refused in
bounded memory."""

FORMATS: tuple[NTAFormat, ...] = (
    nanosight.FORMAT,
    zetaview.FORMAT,
    nanosight_particles.FORMAT,
    generic_csv.FORMAT,
)
"""Every NTA format exoqc reads, in the order detection asks them."""

REGISTRY = FormatRegistry(
    FORMATS, NTAFormatError, MAX_NTA_FILE_BYTES, MAX_NTA_FILE_LINES, kind="an NTA export",
    names="NanoSight ExperimentSummary.csv, ZetaView .txt or CSV",
    unknown="not an NTA export exoqc can read: expected a NanoSight ExperimentSummary "
    "(a '[Size Data]' section with 'Bin centre (nm)'), a ZetaView .txt (a 'Size / nm' "
    "table with 'Number' and 'Concentration'), a NanoSight ParticleData/AllTracks "
    "export ('Particle ID' and 'Size/nm' columns) or a CSV with the column size_nm "
    "(and concentration, or one row per tracked particle)",
)


def read_nta_file(path: Path) -> list[NTASample]:
    """All samples of an NTA export, its format detected from the content."""
    return REGISTRY.read(path)


def detect_format(lines: Sequence[str]) -> str | None:
    """The name of the first format in :data:`FORMATS` whose sniff recognizes the lines
    (``"nanosight"``, ``"zetaview"``, ``"nanosight_particles"``, ``"csv"``), or None."""
    return REGISTRY.detect(lines)
