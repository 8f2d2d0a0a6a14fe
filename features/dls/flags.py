"""Quality flags of a DLS record and their thresholds (docs/dls.md explains each).

- ``low_intercept``: intercept < 0.1 (weak or incoherent signal, multiple scattering).
- ``high_intercept``: intercept > 1.0 (number fluctuations, detector afterpulsing).
- ``baseline_drift``: the mean of g2 − 1 over the last 10 % of lags differs from 0 by more
  than 2 % of the intercept, although the decay is complete (dust, drift, sedimentation).
- ``incomplete_decay``: g2 − 1 never falls below 10 % of the intercept within the lag range.
- ``poor_fit``: the size-distribution fit misses the correlogram by more than 1 % of the
  intercept (RMS): not diffusing spheres, or a noisy or corrupted measurement.
- ``multimodal``: two or more intensity peaks of at least 5 % each.
- ``large_particles``: at least 5 % of the intensity above 1 µm, counting decays slower than
  a 10 µm particle's (aggregates, dust).
- ``high_pdi``: PDI > 0.7 (too broad for the cumulant method to describe).
- ``low_count_rate``: count rate < 10 kcps (too few scatterers for a reliable result).
"""

from __future__ import annotations

from collections.abc import Sequence

from exoqc.features.dls.distribution import Peak

LOW_INTERCEPT = 0.1
HIGH_INTERCEPT = 1.0
BASELINE_TAIL_FRACTION = 0.1
BASELINE_LIMIT = 0.02
POOR_FIT_RESIDUAL = 0.01
MULTIMODAL_MIN_SHARE = 0.05
LARGE_PARTICLE_NM = 1000.0
LARGE_PARTICLE_MIN_SHARE = 0.05
HIGH_PDI = 0.7
LOW_COUNT_RATE_KCPS = 10.0

FLAGS = (
    "low_intercept",
    "high_intercept",
    "baseline_drift",
    "incomplete_decay",
    "poor_fit",
    "multimodal",
    "large_particles",
    "high_pdi",
    "low_count_rate",
)


def raised_flags(
    *,
    intercept: float | None,
    pdi: float | None,
    count_rate_kcps: float | None,
    baseline: float | None = None,
    incomplete_decay: bool = False,
    poor_fit: bool = False,
    peaks: Sequence[Peak] = (),
    large_share: float = 0.0,
) -> tuple[str, ...]:
    """The flags (in :data:`FLAGS` order) that a record's indicators raise; an indicator
    the source does not give (``None``, no peaks) raises nothing."""
    raised = {
        "low_intercept": intercept is not None and intercept < LOW_INTERCEPT,
        "high_intercept": intercept is not None and intercept > HIGH_INTERCEPT,
        "baseline_drift": baseline is not None and abs(baseline) > BASELINE_LIMIT,
        "incomplete_decay": incomplete_decay,
        "poor_fit": poor_fit,
        "multimodal": sum(p.share >= MULTIMODAL_MIN_SHARE for p in peaks) >= 2,
        "large_particles": large_share >= LARGE_PARTICLE_MIN_SHARE,
        "high_pdi": pdi is not None and pdi > HIGH_PDI,
        "low_count_rate": count_rate_kcps is not None and count_rate_kcps < LOW_COUNT_RATE_KCPS,
    }
    return tuple(flag for flag in FLAGS if raised[flag])
