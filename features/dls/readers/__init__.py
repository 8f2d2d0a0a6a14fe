"""DLS instrument exports → measurement records, the format detected from the content.

One module per format, each offering its own ``sniff`` and ``read`` to the registry
(:mod:`.registry`, which detects and reads); see docs/dls.md for the exact layouts:

- :mod:`.zetasizer`: Malvern Zetasizer tab-delimited exports (wide and/or summary table).
- :mod:`.alv`: ALV ``.ASC`` (ALV-5000/7004), one record per detector angle.
- :mod:`.generic_csv`: a generic CSV correlogram (``tau_us,g2m1``) or size distribution
  (``size_nm`` and ``intensity``, ``volume`` or ``number``), with optional ``# key: value``
  lines.

The record type (:class:`DLSRecord`) is in :mod:`.record`, the checks every format shares
in :mod:`.checks`. Metadata written in a file always wins over
:data:`exoqc.config.DLS_DEFAULTS`; the names of the constants that fell back to a default
are kept in ``DLSRecord.defaults_used``. Anything malformed raises
:class:`exoqc.errors.DLSFormatError` naming the file, the record and (where there is one)
the line.
"""

from exoqc.features.dls.readers.checks import G2M1_MAX, LAG_TIME_RANGE_S, MAX_POINTS
from exoqc.features.dls.readers.record import WEIGHTINGS, DLSFormat, DLSRecord, Weighting
from exoqc.features.dls.readers.registry import (
    FORMATS,
    MAX_DLS_FILE_BYTES,
    MAX_DLS_FILE_LINES,
    detect_format,
    read_dls_file,
)

__all__ = [
    "FORMATS",
    "G2M1_MAX",
    "LAG_TIME_RANGE_S",
    "MAX_DLS_FILE_BYTES",
    "MAX_DLS_FILE_LINES",
    "MAX_POINTS",
    "WEIGHTINGS",
    "DLSFormat",
    "DLSRecord",
    "Weighting",
    "detect_format",
    "read_dls_file",
]
