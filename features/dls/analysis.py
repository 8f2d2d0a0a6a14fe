"""One DLS record → Z-average, PDI, size distributions, quality indicators and flags.

From a correlogram (``source="correlogram"``): ISO 22412 cumulants
(:mod:`~exoqc.features.dls.cumulants`) give the Z-average, PDI, intercept and fit residual;
the regularized inversion (:mod:`~exoqc.features.dls.inversion`) gives the intensity
distribution, converted to volume and number with Mie theory
(:mod:`~exoqc.features.dls.weighting`). The inversion grid reaches one or two points beyond
1 nm–10 µm on each side: decays faster than a 1 nm particle's are not particles (detector
afterpulsing and dead time, which would otherwise dominate the number distribution),
decays slower than a 10 µm particle's are baseline drift or sedimenting dust. Their
intensity shares are reported (``intensity_below_range``, ``intensity_above_range``) and
kept out of the distributions, which cover 1 nm–10 µm. Volume and number are converted from
the intensity outside isolated minor components (runs of non-zero intensity holding < 1 %,
below what DLS resolves; their share is ``minor_components_share``): scattering falls as
d⁶, so a 0.1 % speck at 5 nm would otherwise be 99.9 % of the number distribution.

From a size distribution only (``source="distribution"``): the instrument's distribution is
converted to intensity and the Z-average and PDI are its cumulants. From a Zetasizer
summary table alone (``source="summary"``): only the instrument's own Z-average, PDI and
intercept exist, and are passed on as such.

Quality flags: :mod:`~exoqc.features.dls.flags`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypedDict

import numpy as np
from numpy.typing import NDArray

from exoqc.config import DLS_DEFAULTS
from exoqc.features.dls.cumulants import CumulantError, fit_cumulants
from exoqc.features.dls.distribution import (
    Peak,
    cumulants_of_intensity_distribution,
    find_size_peaks,
    isolated_minor_components,
    percentile_diameters_nm,
    shares_between,
)
from exoqc.features.dls.flags import (
    BASELINE_TAIL_FRACTION,
    LARGE_PARTICLE_NM,
    POOR_FIT_RESIDUAL,
    raised_flags,
)
from exoqc.features.dls.inversion import DIAMETER_RANGE_NM, InversionError, invert_correlogram
from exoqc.features.dls.noise import noise_per_lag
from exoqc.features.dls.physics import diameter_from_decay_rate_nm, scattering_vector_per_m
from exoqc.features.dls.readers import WEIGHTINGS, DLSRecord, Weighting, read_dls_file
from exoqc.features.dls.speed import single_threaded_blas
from exoqc.features.dls.weighting import (
    TABLE_RANGE_NM,
    bin_averaged_scattering,
    from_intensity,
    to_intensity,
)

__all__ = [
    "SIZE_CLASS_BOUNDARIES_NM",
    "DLSResult",
    "analyze_file",
    "analyze_record",
]

Source = Literal["correlogram", "distribution", "summary"]

SIZE_CLASS_BOUNDARIES_NM = (30.0, 150.0, 500.0, 1000.0)
"""Size classes < 30 nm (protein, lipoproteins, exomeres), 30–150 nm (small EVs),
150–500 nm, 500–1000 nm (large EVs, aggregates), > 1 µm (apoptotic bodies, dust)."""

MIN_COMPONENT_SHARE = 0.01

_GRID_TOLERANCE = 1 - 1e-9


@dataclass(frozen=True, eq=False)
class DLSResult:
    """Analysis of one DLS record (see the module docstring for ``source`` and flags).

    Distributions are shares (0–1) on ``diameter_nm`` (increasing, log-spaced for
    correlograms); they are ``None`` for ``source="summary"``. ``peaks`` are the intensity
    distribution's, largest share first. ``fit_lags`` is the cumulant fit's lag range
    (first, stop), ``skipped_leading_lags`` the artifact lags left out.
    """

    file: str
    record: int
    sample_name: str
    source: Source
    temperature_k: float
    viscosity_pa_s: float
    medium_refractive_index: float
    wavelength_nm: float
    angle_deg: float
    particle_refractive_index: float
    z_average_nm: float | None
    pdi: float | None
    intercept: float | None = None
    fit_residual: float | None = None
    baseline_deviation: float | None = None
    inversion_residual: float | None = None
    regularization: float | None = None
    intensity_below_range: float | None = None
    intensity_above_range: float | None = None
    minor_components_share: float | None = None
    count_rate_kcps: float | None = None
    fit_lags: tuple[int, int] | None = None
    skipped_leading_lags: int = 0
    diameter_nm: NDArray[np.float64] | None = None
    intensity: NDArray[np.float64] | None = None
    volume: NDArray[np.float64] | None = None
    number: NDArray[np.float64] | None = None
    peaks: tuple[Peak, ...] = ()
    flags: tuple[str, ...] = ()
    reported_z_average_nm: float | None = None
    reported_pdi: float | None = None
    reported_intercept: float | None = None
    defaults_used: tuple[str, ...] = field(default=())

    @property
    def scattering_vector_per_m(self) -> float:
        return scattering_vector_per_m(self.wavelength_nm, self.angle_deg,
                                       self.medium_refractive_index)

    def distribution(self, weighting: Weighting) -> NDArray[np.float64] | None:
        return {"intensity": self.intensity, "volume": self.volume,
                "number": self.number}[weighting]

    def d_values_nm(self, weighting: Weighting = "intensity") -> tuple[float, float, float]:
        """(D10, D50, D90) of a distribution; NaN when there is none."""
        shares = self.distribution(weighting)
        if shares is None or self.diameter_nm is None:
            return (math.nan,) * 3
        d10, d50, d90 = (float(v) for v in percentile_diameters_nm(self.diameter_nm, shares))
        return d10, d50, d90

    def class_shares(self, weighting: Weighting = "intensity") -> NDArray[np.float64]:
        """Shares in the classes of ``SIZE_CLASS_BOUNDARIES_NM`` (5 values; NaN if none)."""
        shares = self.distribution(weighting)
        if shares is None or self.diameter_nm is None:
            return np.full(len(SIZE_CLASS_BOUNDARIES_NM) + 1, np.nan)
        return shares_between(self.diameter_nm, shares, SIZE_CLASS_BOUNDARIES_NM)

    def to_json(self) -> dict:
        """The ``exoqc dls --json`` object of docs/dls.md (NaN written as null)."""
        d10, d50, d90 = self.d_values_nm("intensity")
        out = {
            "file": self.file,
            "record": self.record,
            "sample_name": self.sample_name,
            "source": self.source,
            "z_average_nm": self.z_average_nm,
            "pdi": self.pdi,
            "intercept": self.intercept,
            "fit_residual": self.fit_residual,
            "peaks": [
                {"diameter_nm": p.diameter_nm, "intensity_pct": 100 * p.share,
                 "width_nm": p.width_nm, "mean_nm": p.mean_nm}
                for p in self.peaks
            ],
            "d10_nm": d10,
            "d50_nm": d50,
            "d90_nm": d90,
            "span": (d90 - d10) / d50 if d50 else None,
            "reported_z_average_nm": self.reported_z_average_nm,
            "reported_pdi": self.reported_pdi,
            "reported_intercept": self.reported_intercept,
            "baseline_deviation": self.baseline_deviation,
            "count_rate_kcps": self.count_rate_kcps,
            "inversion_residual": self.inversion_residual,
            "regularization": self.regularization,
            "intensity_below_range": self.intensity_below_range,
            "intensity_above_range": self.intensity_above_range,
            "minor_components_share": self.minor_components_share,
            "flags": list(self.flags),
            "constants": {
                "temperature_k": self.temperature_k,
                "viscosity_pa_s": self.viscosity_pa_s,
                "medium_refractive_index": self.medium_refractive_index,
                "wavelength_nm": self.wavelength_nm,
                "angle_deg": self.angle_deg,
                "particle_refractive_index": self.particle_refractive_index,
                "scattering_vector_per_m": self.scattering_vector_per_m,
                "defaults_used": list(self.defaults_used),
            },
            "d_values_nm": {
                weighting: dict(zip(("d10", "d50", "d90"), self.d_values_nm(weighting),
                                    strict=True))
                for weighting in WEIGHTINGS
            },
            "distribution": None if self.diameter_nm is None else {
                "diameter_nm": self.diameter_nm.tolist(),
                **{f"{w}_pct": None if (shares := self.distribution(w)) is None
                   else (100 * shares).tolist() for w in WEIGHTINGS},
            },
        }
        return _json_safe(out)


def _json_safe(value):
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def analyze_file(
    path: Path,
    *,
    particle_refractive_index: float = DLS_DEFAULTS.particle_refractive_index,
) -> list[DLSResult]:
    """Read a DLS export and analyse every record (raises DLSFormatError on the first bad one)."""
    records = read_dls_file(path)
    with single_threaded_blas():
        return [analyze_record(r, particle_refractive_index=particle_refractive_index)
                for r in records]


def analyze_record(
    record: DLSRecord,
    *,
    particle_refractive_index: float = DLS_DEFAULTS.particle_refractive_index,
) -> DLSResult:
    """Analyse one record; raises :class:`DLSFormatError` naming file and record if it can't."""
    common: _Common = {
        "file": record.file,
        "record": record.record,
        "sample_name": record.sample_name,
        "temperature_k": record.temperature_k,
        "viscosity_pa_s": record.viscosity_pa_s,
        "medium_refractive_index": record.medium_refractive_index,
        "wavelength_nm": record.wavelength_nm,
        "angle_deg": record.angle_deg,
        "particle_refractive_index": float(particle_refractive_index),
        "count_rate_kcps": record.count_rate_kcps,
        "reported_z_average_nm": record.reported_z_average_nm,
        "reported_pdi": record.reported_pdi,
        "reported_intercept": record.reported_intercept,
        "defaults_used": record.defaults_used,
    }
    scattering_args = {
        "particle_refractive_index": float(particle_refractive_index),
        "medium_refractive_index": record.medium_refractive_index,
        "wavelength_nm": record.wavelength_nm,
        "angle_deg": record.angle_deg,
    }
    if record.has_correlogram:
        return _from_correlogram(record, common, scattering_args)
    if record.has_distribution:
        return _from_distribution(record, common, scattering_args)
    z_average, pdi = record.reported_z_average_nm, record.reported_pdi
    flags = raised_flags(intercept=record.reported_intercept, pdi=pdi,
                         count_rate_kcps=record.count_rate_kcps)
    return DLSResult(source="summary", z_average_nm=z_average, pdi=pdi,
                     intercept=record.reported_intercept, flags=flags, **common)


class _Common(TypedDict):
    """The fields of a :class:`DLSResult` every source fills the same way."""

    file: str
    record: int
    sample_name: str
    temperature_k: float
    viscosity_pa_s: float
    medium_refractive_index: float
    wavelength_nm: float
    angle_deg: float
    particle_refractive_index: float
    count_rate_kcps: float | None
    reported_z_average_nm: float | None
    reported_pdi: float | None
    reported_intercept: float | None
    defaults_used: tuple[str, ...]


def _from_correlogram(record: DLSRecord, common: _Common,
                      scattering_args: dict[str, float]) -> DLSResult:
    tau, g2m1 = record.tau_s, record.g2m1
    if tau is None or g2m1 is None:
        raise record.error("has no correlation function")
    q = scattering_vector_per_m(record.wavelength_nm, record.angle_deg,
                                record.medium_refractive_index)
    diameter_at_unit_rate = float(diameter_from_decay_rate_nm(
        1.0, q, record.temperature_k, record.viscosity_pa_s))
    noise = noise_per_lag(tau, g2m1)
    try:
        cumulants = fit_cumulants(tau, g2m1, noise=noise)
        inversion = invert_correlogram(tau, g2m1, diameter_at_unit_rate_nm=diameter_at_unit_rate,
                                       noise=noise, first_lag=cumulants.first_lag)
    except (CumulantError, InversionError) as exc:
        raise record.error(f"cannot be analysed: {exc}") from exc
    d_min, d_max = DIAMETER_RANGE_NM
    in_range = (inversion.diameter_nm >= d_min * _GRID_TOLERANCE) & (
        inversion.diameter_nm <= d_max / _GRID_TOLERANCE)
    below = float(inversion.intensity[: int(np.argmax(in_range))].sum())
    above = float(1.0 - below - inversion.intensity[in_range].sum())
    if not inversion.intensity[in_range].sum() > 0:
        raise record.error(
            f"cannot be analysed: all of the decay is faster than a {d_min:g} nm or slower "
            f"than a {d_max:g} nm particle's (no particles in range)")
    diameters = inversion.diameter_nm[in_range]
    intensity = inversion.intensity[in_range] / inversion.intensity[in_range].sum()
    volume, number, minor = _volume_and_number(diameters, intensity, scattering_args)
    peaks = tuple(find_size_peaks(diameters, intensity))
    tail = g2m1[-max(5, int(g2m1.size * BASELINE_TAIL_FRACTION)):]
    baseline = float(tail.mean() / cumulants.intercept)
    large_share = above + (1.0 - below - above) * float(
        shares_between(diameters, intensity, [LARGE_PARTICLE_NM])[1])
    flags = raised_flags(
        intercept=cumulants.intercept,
        pdi=cumulants.pdi,
        count_rate_kcps=record.count_rate_kcps,
        baseline=baseline if cumulants.complete_decay else None,
        incomplete_decay=not cumulants.complete_decay,
        poor_fit=inversion.fit_residual > POOR_FIT_RESIDUAL,
        peaks=peaks,
        large_share=large_share,
    )
    return DLSResult(
        source="correlogram",
        z_average_nm=diameter_at_unit_rate / cumulants.mean_decay_rate_per_s,
        pdi=cumulants.pdi,
        intercept=cumulants.intercept,
        fit_residual=cumulants.fit_residual,
        baseline_deviation=baseline,
        inversion_residual=inversion.fit_residual,
        regularization=inversion.regularization,
        fit_lags=(cumulants.first_lag, cumulants.stop_lag),
        skipped_leading_lags=cumulants.first_lag,
        intensity_below_range=below,
        intensity_above_range=above,
        minor_components_share=minor,
        diameter_nm=diameters,
        intensity=intensity,
        volume=volume,
        number=number,
        peaks=peaks,
        flags=flags,
        **common,
    )


def _from_distribution(record: DLSRecord, common: _Common,
                       scattering_args: dict[str, float]) -> DLSResult:
    diameters, weights, weighting = record.diameter_nm, record.weights, record.weighting
    if diameters is None or weights is None or weighting is None:
        raise record.error("has no size distribution")
    try:
        scattering = bin_averaged_scattering(diameters, **scattering_args)
    except ValueError:
        low, high = TABLE_RANGE_NM
        raise record.error(f"sizes {diameters[0]:g}-{diameters[-1]:g} nm: expected sizes "
                           f"within {low:g}-{high:g} nm") from None
    intensity = to_intensity(diameters, weights, weighting, scattering)
    volume, number, minor = _volume_and_number(diameters, intensity, scattering_args,
                                               scattering)
    z_average, pdi = cumulants_of_intensity_distribution(diameters, intensity)
    peaks = tuple(find_size_peaks(diameters, intensity))
    large_share = float(shares_between(diameters, intensity, [LARGE_PARTICLE_NM])[1])
    flags = raised_flags(intercept=None, pdi=pdi, count_rate_kcps=record.count_rate_kcps,
                         peaks=peaks, large_share=large_share)
    return DLSResult(
        source="distribution",
        z_average_nm=z_average,
        pdi=pdi,
        minor_components_share=minor,
        diameter_nm=diameters,
        intensity=intensity,
        volume=volume,
        number=number,
        peaks=peaks,
        flags=flags,
        **common,
    )


def _volume_and_number(
    diameters: NDArray, intensity: NDArray, scattering_args: dict,
    scattering: NDArray | None = None,
) -> tuple[NDArray, NDArray, float]:
    """Volume and number shares from the intensity outside isolated minor components."""
    if scattering is None:
        scattering = bin_averaged_scattering(diameters, **scattering_args)
    minor = isolated_minor_components(intensity, MIN_COMPONENT_SHARE)
    if minor.all():  # nothing but specks: no resolved population to prefer
        minor[:] = False
    resolved = np.where(minor, 0.0, intensity)
    volume, number = from_intensity(diameters, resolved, scattering)
    return volume, number, float(intensity[minor].sum())

