"""exoqc's own analysis of an NTA sample: concentration and size statistics from the
distribution, the agreement of its videos, and validity flags.

Statistics of each video come from its number-weighted distribution (particles/mL per size
bin); the sample's value is their mean over videos, as NanoSight NTA 3.x reports its
"Average" (docs/nta.md; the real exports in the tests reproduce it). The concentration is
the sum over bins, which the instrument reports too. Percentiles interpolate linearly
within bins on the cumulative distribution; the mode is the highest point of the
distribution smoothed by a Gaussian of two bins (the instrument's own mode comes from a
smoothed distribution; raw 1 nm bins of a few thousand tracks are too noisy for an argmax).
Values the instrument stated are kept apart (``reported_*``) and only compared.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import correlate1d, gaussian_filter1d

from exoqc.features.nta.readers import NTASample, read_nta_file

__all__ = [
    "FLAGS",
    "MIN_VALID_TRACKS",
    "PARTICLES_PER_FRAME_RANGE",
    "REPLICATE_CV_MAX",
    "SIZE_BANDS_NM",
    "NTAResult",
    "VideoResult",
    "analyze_file",
    "analyze_sample",
    "band_shares",
    "bin_edges_nm",
    "distribution_statistics",
]

SIZE_BANDS_NM = (50.0, 100.0, 150.0, 300.0)
"""Band edges of the number shares: below 50 nm (exomere and lipoprotein sizes, mostly
below NTA's detection limit), 50-100 and 100-150 nm (small EVs), 150-300 nm (large small
EVs, microvesicles), above 300 nm (microvesicles, aggregates, debris)."""
MIN_VALID_TRACKS = 1000
"""Fewer completed tracks in all videos together leave the D10/D90 uncertain by several
nm (the percentile of n tracks has a standard error ∝ 1/√n) and the concentration's
counting error above 3 %; ASTM E2834-12 asks for enough tracks for a stable distribution,
and NanoSight's own 'Completed Tracks' check warns at a few hundred per video."""
PARTICLES_PER_FRAME_RANGE = (10.0, 200.0)
"""NTA counts linearly only in a window: below ~10 particles per frame a video's count is
dominated by Poisson noise and the few particles crossing the field; above ~200 tracks
overlap and are broken or lost (Malvern recommends 20-100; Filipe et al., Pharm Res 2010,
show the linear range). exoqc flags a video outside 10-200."""
REPLICATE_CV_MAX = 0.20
"""Videos of one sample should agree within counting noise (a few %); NTA's repeatability
between videos is 5-10 % (ASTM E2834-12; Vestad et al., JEV 2017). A coefficient of
variation of the videos' concentrations above 20 % means they did not see the same sample
(settling, drift, changed camera settings)."""
REPORTED_TOLERANCE = {"concentration_per_ml": 0.05, "mean_nm": 0.03, "d10_nm": 0.03,
                      "d50_nm": 0.03, "d90_nm": 0.03}
"""Relative difference above which exoqc's value and the instrument's disagree. exoqc's
values reproduce the instrument's within 1.1 % on the real exports (docs/nta.md); a
larger gap means the file's distribution and its stated values do not belong together.
The mode is left out: the top of a sparse, noisy distribution moves with the smoothing."""
MODE_SMOOTHING_BINS = 2.0

FLAGS = (
    "few_tracks",
    "particles_per_frame_out_of_range",
    "replicate_disagreement",
    "dilution_missing",
    "instrument_warning",
    "reported_disagreement",
    "no_concentration",
)
"""Every flag :func:`analyze_sample` can raise (docs/nta.md says each rule)."""


@dataclass(frozen=True)
class VideoResult:
    """exoqc's values for one video of a sample."""

    name: str
    concentration_per_ml: float | None
    mean_nm: float
    mode_nm: float
    sd_nm: float
    d10_nm: float
    d50_nm: float
    d90_nm: float
    particles_per_frame: float | None
    valid_tracks: float | None

    def to_json(self) -> dict[str, Any]:
        return {key: _json_number(value) if not isinstance(value, str) else value
                for key, value in self.__dict__.items()}


@dataclass(frozen=True)
class NTAResult:
    """exoqc's analysis of one NTA sample (one record of an export)."""

    file: str
    record: int
    sample_name: str
    instrument: str
    concentration_per_ml: float | None
    mean_nm: float
    mode_nm: float
    sd_nm: float
    d10_nm: float
    d50_nm: float
    d90_nm: float
    span: float
    band_shares: dict[str, float]
    videos: tuple[VideoResult, ...]
    concentration_cv: float | None
    mean_cv: float | None
    particles_per_frame: float | None
    valid_tracks: float | None
    dilution_factor: float | None
    reported: dict[str, float | None]
    instrument_warnings: tuple[str, ...]
    flags: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def n_videos(self) -> int:
        return len(self.videos)

    def to_json(self) -> dict[str, Any]:
        """The ``exoqc nta --json`` object of this sample (names of docs/nta.md; NaN → null)."""
        out: dict[str, Any] = {
            "file": self.file, "record": self.record, "sample_name": self.sample_name,
            "instrument": self.instrument,
        }
        for key in ("concentration_per_ml", "mean_nm", "mode_nm", "sd_nm", "d10_nm", "d50_nm",
                    "d90_nm", "span"):
            out[key] = _json_number(getattr(self, key))
        out["band_shares"] = {k: _json_number(v) for k, v in self.band_shares.items()}
        out["n_videos"] = self.n_videos
        out["concentration_cv"] = _json_number(self.concentration_cv)
        out["mean_cv"] = _json_number(self.mean_cv)
        out["particles_per_frame"] = _json_number(self.particles_per_frame)
        out["valid_tracks"] = _json_number(self.valid_tracks)
        out["dilution_factor"] = _json_number(self.dilution_factor)
        out["videos"] = [v.to_json() for v in self.videos]
        out.update({f"reported_{k}": _json_number(v) for k, v in self.reported.items()})
        out["settings"] = self.settings
        out["instrument_warnings"] = list(self.instrument_warnings)
        out["flags"] = list(self.flags)
        return out


def _json_number(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def bin_edges_nm(diameter_nm: NDArray) -> NDArray:
    """Edges of the size bins around the bin centres: midpoints between centres, the outer
    edges half a neighbouring gap beyond the first and last centre (clipped at 0)."""
    inner = (diameter_nm[1:] + diameter_nm[:-1]) / 2
    first = max(diameter_nm[0] - (inner[0] - diameter_nm[0]), 0.0)
    last = diameter_nm[-1] + (diameter_nm[-1] - inner[-1])
    return np.concatenate([[first], inner, [last]])


_QUANTILES = np.array([0.1, 0.5, 0.9])
_MODE_KERNEL = gaussian_filter1d(np.eye(1, 2 * int(4 * MODE_SMOOTHING_BINS + 0.5) + 1,
                                        int(4 * MODE_SMOOTHING_BINS + 0.5))[0],
                                 MODE_SMOOTHING_BINS, mode="constant")
"""The weights of ``gaussian_filter1d(..., MODE_SMOOTHING_BINS)`` (its response to one
unit value; it truncates at 4 SD), computed once: the same smoothing without computing
the kernel on every call."""


_CUMULATIVE_FIRST_BINS = 256
"""Bins summed first for the percentiles (see :func:`_cumulative_past`)."""


def _cumulative_past(rows: NDArray, highest: NDArray) -> NDArray:
    """Cumulative sums of ``rows`` from 0, one more column than bins summed: over the first
    :data:`_CUMULATIVE_FIRST_BINS` bins when every row's sum there already exceeds its
    ``highest`` percentile target (a 1,000-bin NanoSight distribution of EVs is mostly
    zeros beyond), else over all bins. The sums are the same either way (summed in order),
    and interpolating a target below the last sum does not look past it, so the
    percentiles are those of the whole cumulative distribution."""
    first = min(_CUMULATIVE_FIRST_BINS, rows.shape[1])
    cumulative = np.zeros((len(rows), first + 1))
    np.cumsum(rows[:, :first], axis=1, out=cumulative[:, 1:])
    if first == rows.shape[1] or (cumulative[:, -1] > highest).all():
        return cumulative
    cumulative = np.zeros((len(rows), rows.shape[1] + 1))
    np.cumsum(rows, axis=1, out=cumulative[:, 1:])
    return cumulative


def _smoothed_argmax(rows: NDArray) -> NDArray:
    """``np.argmax`` of each row smoothed by :data:`_MODE_KERNEL` (the mode's bin).

    The smoothing is a weighted mean of at most the largest value around a bin, so when
    the top of the first :data:`_CUMULATIVE_FIRST_BINS` bins' smoothed values exceeds every
    value from there on, the top is there and the rest need not be smoothed (the values
    near it come out the same: each uses only its neighbours). Otherwise all bins are."""
    radius = (_MODE_KERNEL.size - 1) // 2
    first = _CUMULATIVE_FIRST_BINS
    if rows.shape[1] > first + 2 * radius and rows.min() >= 0:
        head = correlate1d(rows[:, : first + radius], _MODE_KERNEL, axis=1,
                           mode="constant")[:, :first]
        # The rest's smoothed values are at most their largest neighbour (the weights sum
        # to 1; the margin covers the rounding of a 17-term sum).
        if (head.max(axis=1) > rows[:, first - radius:].max(axis=1) * (1 + 1e-9)).all():
            return np.argmax(head, axis=1)
    return np.argmax(correlate1d(rows, _MODE_KERNEL, axis=1, mode="constant"), axis=1)


def distribution_statistics(diameter_nm: NDArray, values: NDArray,
                            edges_nm: NDArray | None = None) -> dict[str, NDArray]:
    """Mean, mode, SD, D10, D50, D90 (nm) and span of number distributions.

    ``values``: one distribution (n_bins,) or several (n, n_bins); each statistic comes
    back with the leading shape of ``values``, NaN for a distribution without particles.
    """
    values = np.asarray(values, dtype=float)
    rows = np.atleast_2d(values)
    edges = bin_edges_nm(diameter_nm) if edges_nm is None else edges_nm
    total = rows.sum(axis=1)
    empty = ~(total > 0)
    safe_total = np.where(empty, 1.0, total)
    mean = rows @ diameter_nm / safe_total
    squares = diameter_nm[None, :] - mean[:, None]  # in place: no temporaries of the table
    np.square(squares, out=squares)
    squares *= rows
    variance = squares.sum(axis=1) / safe_total
    cumulative = _cumulative_past(rows, safe_total * _QUANTILES[-1])
    quantiles = np.array([np.interp(_QUANTILES * t, c, edges[: c.size])
                          for t, c in zip(safe_total, cumulative, strict=True)])
    out = {"mean_nm": mean, "mode_nm": diameter_nm[_smoothed_argmax(rows)],
           "sd_nm": np.sqrt(np.maximum(variance, 0.0)), "d10_nm": quantiles[:, 0],
           "d50_nm": quantiles[:, 1], "d90_nm": quantiles[:, 2]}
    out["span"] = (out["d90_nm"] - out["d10_nm"]) / out["d50_nm"]
    for key, column in out.items():
        column = np.where(empty, np.nan, column.astype(float)) if empty.any() else \
            column.astype(float, copy=False)
        out[key] = column if values.ndim == 2 else column[0]
    return out


def _band_names() -> list[str]:
    edges = [f"{b:g}" for b in SIZE_BANDS_NM]
    return ([f"below_{edges[0]}nm"] + [f"{a}_{b}nm" for a, b in itertools.pairwise(edges)]
            + [f"above_{edges[-1]}nm"])


BAND_NAMES = tuple(_band_names())


def band_shares(diameter_nm: NDArray, values: NDArray) -> dict[str, float]:
    """Number share of each size band (a bin belongs to the band of its centre)."""
    total = float(values.sum())
    band = np.searchsorted(np.array(SIZE_BANDS_NM), diameter_nm, side="right")
    shares = np.bincount(band, weights=values, minlength=len(BAND_NAMES)) / total if (
        total > 0) else np.full(len(BAND_NAMES), math.nan)
    return dict(zip(BAND_NAMES, (float(s) for s in shares), strict=True))


def _cv(values: list[float | None]) -> float | None:
    finite = np.array([v for v in values if v is not None and math.isfinite(v)])
    if finite.size < 2:
        return None
    # np.std(finite, ddof=1) / finite.mean(), step by step as numpy computes them (the same
    # sums), without the wrappers' cost on a dozen values.
    mean = np.add.reduce(finite) / finite.size
    if not mean > 0:
        return None
    deviations = finite - mean
    np.multiply(deviations, deviations, out=deviations)
    return float(math.sqrt(np.add.reduce(deviations) / (finite.size - 1)) / mean)


def _per_video(sample: NTASample, name: str) -> list[float | None]:
    values = getattr(sample, name)
    if values is None:
        return [None] * sample.n_videos
    return [float(v) if math.isfinite(v) else None for v in values]


_VIDEO_MEANS = ("mean_nm", "mode_nm", "sd_nm", "d10_nm", "d50_nm", "d90_nm")


def analyze_sample(sample: NTASample) -> NTAResult:
    """exoqc's values and flags for one NTA sample."""
    diameter = sample.diameter_nm
    edges = bin_edges_nm(diameter)
    per_frame = _per_video(sample, "particles_per_frame")
    tracks = _per_video(sample, "valid_tracks")
    stats = distribution_statistics(diameter, sample.video_concentration_per_ml, edges)
    stats.pop("span")
    totals = sample.video_concentration_per_ml.sum(axis=1).tolist()
    per_key = {key: column.tolist() for key, column in stats.items()}  # floats, at once
    videos = [
        VideoResult(name=sample.video_names[k],
                    concentration_per_ml=totals[k] if sample.concentration_known else None,
                    particles_per_frame=per_frame[k], valid_tracks=tracks[k],
                    **{key: column[k] for key, column in per_key.items()})
        for k in range(sample.n_videos)]
    measured = np.isfinite(stats["mean_nm"])
    # Each statistic's mean over the videos that saw particles: one row per statistic,
    # averaged at once (the same sums as one mean per statistic).
    stacked = np.array([stats[key] for key in _VIDEO_MEANS])
    means = (stacked.mean(axis=1) if measured.all() else stacked[:, measured].mean(axis=1)
             if measured.any() else np.full(len(_VIDEO_MEANS), math.nan))
    statistics = dict(zip(_VIDEO_MEANS, means.tolist(), strict=True))
    d10, d50, d90 = statistics["d10_nm"], statistics["d50_nm"], statistics["d90_nm"]
    statistics["span"] = (d90 - d10) / d50 if d50 > 0 else math.nan

    pooled = sample.video_concentration_per_ml.mean(axis=0)
    concentration = float(pooled.sum()) if sample.concentration_known else None
    known_frames = [v for v in per_frame if v is not None]
    known_tracks = [v for v in tracks if v is not None]
    result = {"concentration_per_ml": concentration, **statistics}
    reported = {
        "concentration_per_ml": sample.reported_concentration_per_ml,
        "mean_nm": sample.reported_mean_nm, "mode_nm": sample.reported_mode_nm,
        "sd_nm": sample.reported_sd_nm, "d10_nm": sample.reported_d10_nm,
        "d50_nm": sample.reported_d50_nm, "d90_nm": sample.reported_d90_nm,
    }

    flags = []
    if known_tracks and sum(known_tracks) < MIN_VALID_TRACKS:
        flags.append("few_tracks")
    low, high = PARTICLES_PER_FRAME_RANGE
    if any(not low <= v <= high for v in known_frames):
        flags.append("particles_per_frame_out_of_range")
    concentration_cv = _cv([v.concentration_per_ml for v in videos])
    if concentration_cv is not None and concentration_cv > REPLICATE_CV_MAX:
        flags.append("replicate_disagreement")
    if sample.dilution_factor is None and sample.concentration_known:
        flags.append("dilution_missing")
    if sample.instrument_warnings:
        flags.append("instrument_warning")
    if any(_disagrees(result[key], reported[key], tolerance)
           for key, tolerance in REPORTED_TOLERANCE.items()):
        flags.append("reported_disagreement")
    if not sample.concentration_known:
        flags.append("no_concentration")

    settings = {"software": sample.software,
                "camera_level": list(sample.camera_level),
                "detection_threshold": list(sample.detection_threshold),
                "shutter": list(sample.shutter),
                "temperature_c": _json_number(sample.temperature_c),
                "viscosity_cp": _json_number(sample.viscosity_cp),
                "frames": [] if sample.frames is None else
                [_json_number(v) for v in sample.frames],
                "notes": list(sample.notes)}
    return NTAResult(
        file=sample.file, record=sample.record, sample_name=sample.sample_name,
        instrument=sample.instrument, band_shares=band_shares(diameter, pooled),
        videos=tuple(videos), concentration_cv=concentration_cv,
        mean_cv=_cv([v.mean_nm for v in videos]),
        particles_per_frame=float(np.mean(known_frames)) if known_frames else None,
        valid_tracks=float(sum(known_tracks)) if known_tracks else None,
        dilution_factor=sample.dilution_factor, reported=reported,
        instrument_warnings=sample.instrument_warnings, flags=tuple(flags),
        settings=settings, concentration_per_ml=concentration, **statistics)


def _disagrees(own: float | None, stated: float | None, tolerance: float) -> bool:
    if own is None or stated is None or not (math.isfinite(own) and math.isfinite(stated)):
        return False
    return abs(own - stated) > tolerance * abs(stated)


def analyze_file(path: str | Path) -> list[NTAResult]:
    """Every sample of an NTA export, analysed."""
    return [analyze_sample(sample) for sample in read_nta_file(Path(path))]
