"""The DLS measurement record every DLS reader returns, the weightings of a size
distribution, and what a format offers the registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from exoqc.errors import DLSFormatError
from exoqc.features.exports import ExportFormat

Weighting = Literal["intensity", "volume", "number"]
WEIGHTINGS: tuple[Weighting, ...] = ("intensity", "volume", "number")


@dataclass(frozen=True, eq=False)
class DLSRecord:
    """One DLS measurement (one record of an export; one detector angle of an ALV file).

    It holds either a correlogram (``tau_s`` lag times in s, strictly increasing, and
    ``g2m1`` = g2(τ) − 1) or a size distribution (``diameter_nm`` increasing, ``weights``
    ≥ 0 of the kind ``weighting``), or, for a Zetasizer summary table alone, only the
    values the instrument reported. ``record`` is the 1-based position in the file;
    ``line`` the line it was read from (``None`` for a multi-line ALV record).
    """

    file: str
    record: int
    sample_name: str
    temperature_k: float
    viscosity_pa_s: float
    medium_refractive_index: float
    wavelength_nm: float
    angle_deg: float
    count_rate_kcps: float | None = None
    duration_s: float | None = None
    tau_s: NDArray[np.float64] | None = None
    g2m1: NDArray[np.float64] | None = None
    diameter_nm: NDArray[np.float64] | None = None
    weights: NDArray[np.float64] | None = None
    weighting: Weighting | None = None
    reported_z_average_nm: float | None = None
    reported_pdi: float | None = None
    reported_intercept: float | None = None
    instrument: str = ""
    line: int | None = None
    defaults_used: tuple[str, ...] = field(default=())

    @property
    def has_correlogram(self) -> bool:
        return self.tau_s is not None

    @property
    def has_distribution(self) -> bool:
        return self.diameter_nm is not None

    def error(self, message: str) -> DLSFormatError:
        """A :class:`DLSFormatError` about this record."""
        return DLSFormatError(self.file, message, line=self.line, record=self.record)




DLSFormat = ExportFormat[DLSRecord]
"""A DLS export format: its name, its own ``sniff`` and its ``read``."""
