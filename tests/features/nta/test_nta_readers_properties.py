"""Property tests of the NTA readers on the real NanoSight exports, the synthetic ZetaView
export and generic CSVs, mutated (the same guarantees as the DLS readers').

Whatever happens to an export (cut short, lines lost, repeated or swapped, numbers replaced
by NaN, inf, huge numbers, text or decimal commas, delimiters inserted, spans deleted),
exoqc either reads samples that are well formed and can be analysed, or raises
:class:`NTAFormatError` naming the file and the line or record. Re-encoding and other line
ends give the same samples.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from nta_files import (
    BEADS,
    BEADS2,
    all_tracks_text,
    nanosight_particles,
    particle_data_text,
    zetaview_counts,
    zetaview_text,
)

from exoqc.errors import NTAFormatError
from exoqc.features.nta.analysis import analyze_sample
from exoqc.features.nta.readers import (
    DIAMETER_RANGE_NM,
    DILUTION_RANGE,
    MAX_BINS,
    NTASample,
    read_nta_file,
)
from tests.properties import property_settings

_CENTRES, _COUNTS = zetaview_counts(traces=400)
EXPORTS = {
    "nanosight beads2 (real)": BEADS2.read_bytes().decode("latin-1"),
    "nanosight beads (real, spreadsheet)": BEADS.read_bytes().decode("latin-1"),
    "zetaview (synthetic)": zetaview_text(_CENTRES, _COUNTS),
    "csv distribution": "# dilution_factor: 100\nsize_nm,concentration\n"
                        + "".join(f"{d:g},{c:g}\n" for d, c in zip(
                            _CENTRES[:60], _COUNTS[:60] * 1e6, strict=True)),
    "csv particles": "# analysed_volume_ml: 2e-6\nsample_name,video,size_nm\n"
                     + "".join(f"S{i % 2},{i % 3},{80 + (i * 37) % 90}\n" for i in range(90)),
    "nanosight particle data (synthetic)": particle_data_text(nanosight_particles(40, 5)),
    "nanosight all tracks (synthetic)": all_tracks_text(nanosight_particles(8, 2)),
}
PARTICLE_EXPORTS = [name for name in EXPORTS if name.startswith("nanosight particle")
                    or name.startswith("nanosight all tracks")]

NUMBER = re.compile(r"(?<![\w.])[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w.])")
BAD_CELLS = ["", " ", "nan", "inf", "-inf", "1e308", "-1e308", "1e999", "0", "-0", "-1",
             "abc", "0,5", "1.2.3", '"', "Not recorded", "1e308\t1e308"]
JUNK_LINES = ["", ",,,,", "[Size Data]", "Bin centre (nm),Concentration (particles / ml)",
              "Size / nm\tNumber\tConcentration / cm-3", "size_nm", "Dilution::\t0",
              "# dilution_factor: nan", '"', "\x00"]

mutations = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("drop line"), st.integers(0, 10_000)),
    st.tuples(st.just("repeat line"), st.integers(0, 10_000)),
    st.tuples(st.just("swap lines"), st.integers(0, 10_000), st.integers(0, 10_000)),
    st.tuples(st.just("insert line"), st.integers(0, 10_000), st.sampled_from(JUNK_LINES)),
    st.tuples(st.just("replace numbers"), st.lists(st.integers(0, 100_000), min_size=1,
                                                   max_size=5), st.sampled_from(BAD_CELLS)),
    st.tuples(st.just("insert delimiter"), st.floats(0, 1), st.sampled_from([",", ";", "\t"])),
    st.tuples(st.just("delete span"), st.floats(0, 1), st.integers(1, 60)),
)


def mutate(text: str, mutation: tuple) -> str:
    kind, *args = mutation
    lines = text.split("\n")
    if kind == "truncate":
        return text[: int(args[0] * len(text))]
    if kind == "replace numbers":
        found = list(NUMBER.finditer(text))
        if not found:
            return text
        for start, stop in sorted({found[k % len(found)].span() for k in args[0]},
                                  reverse=True):
            text = text[:start] + args[1] + text[stop:]
        return text
    if kind == "insert delimiter":
        at = int(args[0] * len(text))
        return text[:at] + args[1] + text[at:]
    if kind == "delete span":
        at = int(args[0] * len(text))
        return text[:at] + text[at + args[1]:]
    if kind == "drop line":
        del lines[args[0] % len(lines)]
    elif kind == "repeat line":
        i = args[0] % len(lines)
        lines.insert(i, lines[i])
    elif kind == "swap lines":
        i, j = args[0] % len(lines), args[1] % len(lines)
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "insert line":
        lines.insert(args[0] % (len(lines) + 1), args[1])
    return "\n".join(lines)


def check_well_formed(sample: NTASample, path: Path, position: int) -> None:
    assert sample.file == str(path) and sample.record == position
    d, values = sample.diameter_nm, sample.video_concentration_per_ml
    assert 2 <= d.size <= MAX_BINS and values.shape == (sample.n_videos, d.size)
    assert sample.n_videos >= 1 and len(sample.video_names) == sample.n_videos
    assert np.isfinite(d).all() and (np.diff(d) > 0).all()
    assert DIAMETER_RANGE_NM[0] <= d[0] and d[-1] <= DIAMETER_RANGE_NM[1]
    assert np.isfinite(values).all() and (values >= 0).all() and values.sum() > 0
    if sample.dilution_factor is not None:
        assert DILUTION_RANGE[0] <= sample.dilution_factor <= DILUTION_RANGE[1]
    for name in ("reported_concentration_per_ml", "reported_mean_nm", "reported_d50_nm",
                 "temperature_c"):
        value = getattr(sample, name)
        assert value is None or math.isfinite(value), name


def read_and_analyse(path: Path) -> list[NTASample] | None:
    """The samples of ``path`` (None when refused), each checked and analysed. Anything
    but an :class:`NTAFormatError` propagates and fails the test."""
    try:
        samples = read_nta_file(path)
    except NTAFormatError as error:
        assert error.file == str(path) and str(error).startswith(str(path))
        whole_file = any(w in error.detail for w in ("MiB", "binary content", "UTF-16"))
        assert whole_file or error.line is not None or error.record is not None, str(error)
        return None
    assert samples
    for position, sample in enumerate(samples, start=1):
        check_well_formed(sample, path, position)
        result = analyze_sample(sample)
        payload = result.to_json()
        assert set(result.flags) <= set(payload["flags"])
        for key in ("mean_nm", "d50_nm"):
            assert payload[key] is None or math.isfinite(payload[key])
    return samples


@property_settings(120)
@given(name=st.sampled_from(sorted(EXPORTS)), changes=st.lists(mutations, min_size=1,
                                                                max_size=3))
def test_a_mutated_export_is_read_or_refused_naming_file_and_place(tmp_path_factory, name,
                                                                   changes):
    text = EXPORTS[name]
    for change in changes:
        text = mutate(text, change)
    path = tmp_path_factory.mktemp("nta") / "export.csv"
    path.write_bytes(text.encode("latin-1", errors="replace"))
    read_and_analyse(path)


@property_settings(60)
@given(name=st.sampled_from(PARTICLE_EXPORTS), changes=st.lists(mutations, min_size=1,
                                                                max_size=3))
def test_a_mutated_particle_export_is_read_or_refused(tmp_path_factory, name, changes):
    """The per-particle exports under the same mutations: counts of whole particles, each
    once, or an error naming the file and the line."""
    text = EXPORTS[name]
    for change in changes:
        text = mutate(text, change)
    path = tmp_path_factory.mktemp("nta") / "export.csv"
    path.write_bytes(text.encode("latin-1", errors="replace"))
    samples = read_and_analyse(path)
    if samples and samples[0].instrument == "nanosight" and not samples[0].concentration_known:
        counts = samples[0].video_concentration_per_ml
        assert (counts == np.round(counts)).all()
        assert counts.sum() == samples[0].valid_tracks.sum()


@property_settings(20)
@given(name=st.sampled_from(sorted(EXPORTS)),
       encoding=st.sampled_from(["latin-1", "cp1252", "utf-8", "utf-8-sig", "utf-16"]),
       newline=st.sampled_from(["\n", "\r\n"]))
def test_encoding_bom_and_line_endings_do_not_change_the_samples(tmp_path_factory, name,
                                                                 encoding, newline):
    plain = tmp_path_factory.mktemp("nta") / "export.csv"
    plain.write_bytes(EXPORTS[name].encode("latin-1"))
    other = tmp_path_factory.mktemp("nta") / "export.csv"
    other.write_bytes(newline.join(EXPORTS[name].splitlines()).encode(encoding))
    for a, b in zip(read_nta_file(plain), read_nta_file(other), strict=True):
        np.testing.assert_array_equal(a.video_concentration_per_ml,
                                      b.video_concentration_per_ml)
        assert (a.sample_name, a.dilution_factor, a.reported_mean_nm) == (
            b.sample_name, b.dilution_factor, b.reported_mean_nm)


def test_every_export_reads_unchanged(tmp_path):
    for name, text in EXPORTS.items():
        path = tmp_path / f"{len(name)}.csv"
        path.write_bytes(text.encode("latin-1"))
        assert read_and_analyse(path), name


def test_too_many_lines_are_refused_before_splitting(tmp_path):
    path = tmp_path / "long.csv"
    path.write_bytes(b"size_nm\n" + b"1\n" * 2_000_001)
    try:
        read_nta_file(path)
    except NTAFormatError as error:
        assert error.line == 2_000_001 and "lines" in error.detail
    else:
        raise AssertionError("a 2-million-line file was read")
