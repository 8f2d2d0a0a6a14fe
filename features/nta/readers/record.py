"""The NTA sample every NTA reader returns, and what a format offers the registry."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from exoqc.features.exports import ExportFormat


@dataclass(frozen=True, eq=False)
class NTASample:
    """One sample of an NTA export: the number-weighted size distribution of each video.

    ``video_concentration_per_ml`` has shape (n_videos, n_bins): particles per mL in each
    size bin (bin centres ``diameter_nm``, increasing). They are of the original sample when
    ``dilution_factor`` is set, of the measured suspension when it is ``None`` (not recorded);
    with ``concentration_known`` False (a particle list without an analysed volume) they are
    particle counts. ``shutter``: the distinct NanoSight ``Shutter/ms`` values of the videos,
    or ZetaView's ``Shutter`` in its own units. Per-video arrays (``particles_per_frame``,
    ``valid_tracks``, ...) have one value per video, NaN where the file has none.
    ``line``: where the distribution starts in the file.
    """

    file: str
    record: int
    sample_name: str
    instrument: str
    diameter_nm: NDArray[np.float64]
    video_concentration_per_ml: NDArray[np.float64]
    video_names: tuple[str, ...]
    dilution_factor: float | None
    concentration_known: bool = True
    particles_per_frame: NDArray[np.float64] | None = None
    valid_tracks: NDArray[np.float64] | None = None
    frames: NDArray[np.float64] | None = None
    temperature_c: float | None = None
    viscosity_cp: float | None = None
    camera_level: tuple[float, ...] = ()
    detection_threshold: tuple[float, ...] = ()
    shutter: tuple[float, ...] = ()
    software: str = ""
    reported_concentration_per_ml: float | None = None
    reported_video_concentration_per_ml: NDArray[np.float64] | None = None
    reported_mean_nm: float | None = None
    reported_mode_nm: float | None = None
    reported_sd_nm: float | None = None
    reported_d10_nm: float | None = None
    reported_d50_nm: float | None = None
    reported_d90_nm: float | None = None
    instrument_warnings: tuple[str, ...] = ()
    line: int | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def n_videos(self) -> int:
        return int(self.video_concentration_per_ml.shape[0])



NTAFormat = ExportFormat[NTASample]
"""A NTA export format: its name, its own ``sniff`` and its ``read``."""
