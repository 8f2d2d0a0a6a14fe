"""NTA (nanoparticle tracking analysis) exports → samples, the format detected from content.

One module per format, each offering its own ``sniff`` and ``read`` to the registry
(:mod:`.registry`, which detects and reads); docs/nta.md has the exact layouts:

- :mod:`.nanosight`: Malvern NanoSight NTA 3.x ``ExperimentSummary.csv`` (one sample, its
  videos the replicates).
- :mod:`.zetaview`: Particle Metrix ZetaView ``.txt`` (one sample, one "video").
- :mod:`.nanosight_particles`: NanoSight per-particle exports of one video
  (``..._ParticleData.csv``, ``..._AllTracks.csv``), without a concentration.
- :mod:`.generic_csv`: ``size_nm`` and ``concentration``, or one row per tracked particle.

The sample type (:class:`NTASample`) is in :mod:`.record`, the checks every format shares
in :mod:`.checks`. The concentrations of an :class:`NTASample` are those of the original
sample when the dilution factor is known (``dilution_factor`` set), else of the
suspension as measured. Values the instrument computed are kept apart as ``reported_*``.
Anything malformed raises :class:`exoqc.errors.NTAFormatError` naming the file, the line
and what was expected.
"""

from exoqc.features.nta.readers.checks import (
    CONCENTRATION_MAX_PER_ML,
    DIAMETER_RANGE_NM,
    DILUTION_RANGE,
    MAX_BINS,
    MAX_VIDEOS,
)
from exoqc.features.nta.readers.record import NTAFormat, NTASample
from exoqc.features.nta.readers.registry import (
    FORMATS,
    MAX_NTA_FILE_BYTES,
    MAX_NTA_FILE_LINES,
    detect_format,
    read_nta_file,
)

__all__ = [
    "CONCENTRATION_MAX_PER_ML",
    "DIAMETER_RANGE_NM",
    "DILUTION_RANGE",
    "FORMATS",
    "MAX_BINS",
    "MAX_NTA_FILE_BYTES",
    "MAX_NTA_FILE_LINES",
    "MAX_VIDEOS",
    "NTAFormat",
    "NTASample",
    "detect_format",
    "read_nta_file",
]
