"""Generic NTA CSV files: optional ``# key: value`` lines (``dilution_factor``,
``sample_name``, ``particles_per_frame``, ``analysed_volume_ml``), then either ``size_nm``
and ``concentration`` (particles/mL in each size bin of the measured suspension) or one
row per tracked particle (``size_nm`` alone); optional ``sample_name`` (several samples per
file) and ``video`` columns."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from exoqc.errors import NTAFormatError
from exoqc.features.exports import ExportText, csv_preamble
from exoqc.features.nta.readers.checks import (
    MAX_VIDEOS,
    check_bins,
    check_dilution,
    check_distribution,
    check_sizes,
    header_names,
    particle_counts,
    to_floats,
)
from exoqc.features.nta.readers.record import NTAFormat, NTASample
from exoqc.tables import quoted, sniff_delimiter

_CSV_METADATA = {
    "sample_name": "sample_name", "dilution_factor": "dilution", "dilution": "dilution",
    "particles_per_frame": "particles_per_frame", "analysed_volume_ml": "volume_ml",
    "analyzed_volume_ml": "volume_ml", "temperature_c": "temperature_c",
    "viscosity_cp": "viscosity_cp",
}
_SIZE_COLUMNS = ("size_nm", "diameter_nm")
_CONCENTRATION_COLUMNS = ("concentration", "concentration_per_ml", "particles_per_ml")
_SAMPLE_COLUMNS = ("sample_name", "sample")


def _read_csv(file: str, lines: Sequence[str]) -> list[NTASample]:
    preamble, header_at = csv_preamble(lines)
    metadata = {_CSV_METADATA[key]: (value, number) for number, key, value in preamble
                if key in _CSV_METADATA}
    if header_at is None:  # detect_format found a header, so this cannot happen
        raise NTAFormatError(file, "no header line: expected a CSV header", line=len(lines))
    sep = sniff_delimiter(lines[header_at - 1])
    names = [c.strip().strip('"').lower() for c in lines[header_at - 1].split(sep)]
    size_col = next((names.index(n) for n in _SIZE_COLUMNS if n in names), None)
    if size_col is None:
        raise NTAFormatError(file, f"no column size_nm in the header split at {sep!r}: "
                             "expected size_nm and concentration, or size_nm alone (one row "
                             "per tracked particle)", line=header_at)
    conc_col = next((names.index(n) for n in _CONCENTRATION_COLUMNS if n in names), None)
    sample_col = next((names.index(n) for n in _SAMPLE_COLUMNS if n in names), None)
    video_col = names.index("video") if "video" in names else None
    numeric = [size_col] + ([conc_col] if conc_col is not None else [])

    def scalar(name: str, what: str) -> float | None:
        if name not in metadata:
            return None
        text, line = metadata[name]
        return float(to_floats(file, [text], sep, what, line)[0])

    groups: dict[str, dict[str, list[tuple[int, list[str]]]]] = {}
    n_rows = 0
    for number in range(header_at + 1, len(lines) + 1):
        line = lines[number - 1]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = [c.strip().strip('"') for c in line.split(sep)]
        if len(cells) != len(names):
            raise NTAFormatError(file, f"row has {len(cells)} cells but the header has "
                                 f"{len(names)}: expected one value per column", line=number)
        sample = cells[sample_col] if sample_col is not None else ""
        video = cells[video_col] if video_col is not None else ""
        groups.setdefault(sample, {}).setdefault(video, []).append(
            (number, [cells[i] for i in numeric]))
        n_rows += 1
    if not n_rows:
        raise NTAFormatError(file, "header but no data rows (file truncated?)", line=header_at)

    dilution = scalar("dilution", "dilution factor")
    if dilution is not None:
        dilution = check_dilution(file, dilution, metadata["dilution"][1])
    volume_ml = scalar("volume_ml", "analysed volume")
    if volume_ml is not None and not 0 < volume_ml < 1:
        raise NTAFormatError(file, f"analysed volume {volume_ml:g} mL is not plausible: "
                             "expected the volume imaged per video, 0-1 mL",
                             line=metadata["volume_ml"][1])
    per_frame = scalar("particles_per_frame", "particles per frame")
    samples = []
    column_names = [names[i] for i in numeric]
    for record, (sample, videos) in enumerate(groups.items(), start=1):
        if len(videos) > MAX_VIDEOS:
            raise NTAFormatError(file, f"sample {quoted(sample)} has {len(videos)} videos: "
                                 f"expected at most {MAX_VIDEOS}", line=header_at,
                                 record=record)
        parsed = []
        for rows in videos.values():
            first = rows[0][0]
            try:
                block = np.array([cells for _, cells in rows], dtype=float)
                if not np.isfinite(block).all():
                    raise ValueError
            except ValueError:
                block = np.array([to_floats(file, cells, sep, "row", line, names=column_names)
                                  for line, cells in rows])
            parsed.append((first, block))
        first_line = parsed[0][0]
        if conc_col is not None:
            diameter = parsed[0][1][:, 0]
            for at, block in parsed:
                check_bins(file, len(block), at)
                check_sizes(file, block[:, 0], at)
                if block.shape[0] != diameter.size or not np.array_equal(block[:, 0], diameter):
                    raise NTAFormatError(file, "videos of one sample have different size bins: "
                                         "expected the same size_nm values in every video",
                                         line=at, record=record)
            concentration = np.array([block[:, 1] for _, block in parsed])
            tracks = None
            known = True
        else:
            diameter, counts = particle_counts(file, [block[:, 0] for _, block in parsed],
                                                first_line, record)
            tracks = counts.sum(axis=1)
            known = volume_ml is not None
            concentration = counts / volume_ml if known else counts
        check_distribution(file, concentration, first_line)
        if dilution is not None and known:
            concentration = concentration * dilution
        samples.append(NTASample(
            file=file, record=record,
            sample_name=sample or metadata.get("sample_name", ("", 0))[0] or Path(file).stem,
            instrument="csv", diameter_nm=diameter, video_concentration_per_ml=concentration,
            video_names=tuple(v or f"video {i}" for i, v in enumerate(videos, start=1)),
            dilution_factor=dilution, concentration_known=known,
            particles_per_frame=None if per_frame is None else np.full(len(videos), per_frame),
            valid_tracks=tracks, temperature_c=scalar("temperature_c", "temperature"),
            viscosity_cp=scalar("viscosity_cp", "viscosity"), line=first_line,
        ))
    return samples


def sniff(text: ExportText) -> bool:
    """A header with a ``size_nm`` (or ``diameter_nm``) column."""
    return bool(header_names(text.lines) & set(_SIZE_COLUMNS))


FORMAT = NTAFormat("csv", sniff, _read_csv)
