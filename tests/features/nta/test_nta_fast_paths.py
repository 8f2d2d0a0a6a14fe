"""The readers' fast paths (a whole numeric block read by loadtxt in C) against files they
must not accept as they are: each of these goes to the careful, cell-by-cell path, and the
result or the error is the one stated here by hand.

NanoSight ExperimentSummary: the distribution block is read in one loadtxt call, whole
numbers as integers. Per-particle exports (ParticleData, AllTracks): ids, sizes and the
inclusion flag of every row in one loadtxt call, the row width proven by the delimiter
total.
"""

from __future__ import annotations

import numpy as np
import pytest
from nta_files import PARTICLE_COLUMNS

from exoqc.errors import NTAFormatError
from exoqc.features.nta.analysis import distribution_statistics
from exoqc.features.nta.readers import read_nta_file

# A two-video NanoSight summary; its distribution (bin centre, video 1, video 2, average)
# starts on line 8.
SUMMARY_HEAD = [
    "NTA Experiment Summary File",
    "[Experiment Details]",
    "Sample Description,S1",
    "[Size Data]",
    "Weighting,Number",
    "Filename,v1,v2,Average",
    "Bin centre (nm),Concentration (particles / ml),Concentration (particles / ml),"
    "Concentration average",
]
FIRST_ROW_LINE = len(SUMMARY_HEAD) + 1
ROWS = ["50.5,0,0,0", "100.5,4000,2000,3000", "150.5,2000,1000,1500", "200.5,0,500,250"]


def _summary(tmp_path, rows, sep=",", pad=""):
    lines = [line.replace(",", sep) + pad for line in SUMMARY_HEAD] + \
            [row + pad for row in rows]
    path = tmp_path / "ExperimentSummary.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("pad", ["", ","], ids=["as exported", "padded by a spreadsheet"])
def test_summary_as_exported_is_read_exactly(tmp_path, pad):
    [sample] = read_nta_file(_summary(tmp_path, ROWS, pad=pad))
    np.testing.assert_array_equal(sample.diameter_nm, [50.5, 100.5, 150.5, 200.5])
    np.testing.assert_array_equal(sample.video_concentration_per_ml,
                                  [[0, 4000, 2000, 0], [0, 2000, 1000, 500]])


@pytest.mark.parametrize("pad", ["", ","], ids=["as exported", "padded by a spreadsheet"])
def test_summary_whole_numbers_then_a_decimal_row(tmp_path, pad):
    # The first row makes the video columns whole numbers; a later row is not one.
    rows = [*ROWS[:3], "200.5,1.5e3,0.25,750.125"]
    [sample] = read_nta_file(_summary(tmp_path, rows, pad=pad))
    np.testing.assert_array_equal(sample.video_concentration_per_ml,
                                  [[0, 4000, 2000, 1500], [0, 2000, 1000, 0.25]])


def test_summary_signs_and_spaces_around_whole_numbers(tmp_path):
    rows = ["50.5, 0 ,+0,0", "100.5,+4000, 2000,3000", *ROWS[2:]]
    [sample] = read_nta_file(_summary(tmp_path, rows))
    np.testing.assert_array_equal(sample.video_concentration_per_ml,
                                  [[0, 4000, 2000, 0], [0, 2000, 1000, 500]])


@pytest.mark.parametrize("pad", ["", ","], ids=["as exported", "padded by a spreadsheet"])
def test_summary_ragged_rows_that_balance_out_are_named(tmp_path, pad):
    # Row 2 has one cell too many, row 3 one too few: the delimiters add up to the
    # header's, but the first wide row is an error naming its line.
    rows = [ROWS[0], "100.5,4000,2000,3000,7", "150.5,2000,1000", ROWS[3]]
    path = _summary(tmp_path, rows, pad=pad)
    with pytest.raises(NTAFormatError) as caught:
        read_nta_file(path)
    assert caught.value.file == str(path) and caught.value.line == FIRST_ROW_LINE + 1
    assert "distribution row has 5 cells" in caught.value.detail


@pytest.mark.parametrize("pad", ["", ","], ids=["as exported", "padded by a spreadsheet"])
def test_summary_wide_row_is_named(tmp_path, pad):
    path = _summary(tmp_path, [ROWS[0], ROWS[1], "150.5,2000,1000,1500,9", ROWS[3]], pad=pad)
    with pytest.raises(NTAFormatError) as caught:
        read_nta_file(path)
    assert caught.value.line == FIRST_ROW_LINE + 2
    assert "distribution row has 5 cells" in caught.value.detail


def test_summary_short_row_is_named(tmp_path):
    path = _summary(tmp_path, [ROWS[0], ROWS[1], "150.5,2000", ROWS[3]])
    with pytest.raises(NTAFormatError) as caught:
        read_nta_file(path)
    assert caught.value.line == FIRST_ROW_LINE + 2 and "2 cells" in caught.value.detail


def test_summary_stray_text_cell_names_line_and_column(tmp_path):
    path = _summary(tmp_path, [ROWS[0], ROWS[1], "150.5,2000,n/a,1000", ROWS[3]])
    with pytest.raises(NTAFormatError) as caught:
        read_nta_file(path)
    assert caught.value.line == FIRST_ROW_LINE + 2
    assert "'n/a' is not a number" in caught.value.detail
    assert caught.value.column == "Concentration (particles / ml)"


def test_summary_semicolons_and_decimal_commas(tmp_path):
    rows = ["50,5;0;0;0", "100,5;4000,5;2000;3000,25", "150,5;2000;1000;1500", "200,5;0;500;250"]
    [sample] = read_nta_file(_summary(tmp_path, rows, sep=";"))
    np.testing.assert_array_equal(sample.diameter_nm, [50.5, 100.5, 150.5, 200.5])
    np.testing.assert_array_equal(sample.video_concentration_per_ml,
                                  [[0, 4000.5, 2000, 0], [0, 2000, 1000, 500]])


HEADER = ",".join(PARTICLE_COLUMNS)  # the inclusion flag last, as exported


def _particles(tmp_path, rows, header=HEADER):
    path = tmp_path / "v_ParticleData.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _included_sizes(sample):
    """The 1 nm bin centres of the included particles, one per particle."""
    return np.repeat(sample.diameter_nm, sample.video_concentration_per_ml[0].astype(int))


def test_particles_as_exported(tmp_path):
    rows = ["1,100.2,4e6,7.1,0,20,True", "2,120.7,4e6,7.1,3,20,False",
            "3,90.0,4e6,7.1,5,20,True"]
    [sample] = read_nta_file(_particles(tmp_path, rows))
    np.testing.assert_array_equal(_included_sizes(sample), [90.5, 100.5])
    assert sample.valid_tracks[0] == 2


def test_particles_flags_spelled_otherwise_are_read(tmp_path):
    # Not "True"/"False" as exported: the careful path reads each spelling it knows.
    rows = ["1,100.2,4e6,7.1,0,20,true", "2,120.7,4e6,7.1,3,20,NO",
            "3,90.0,4e6,7.1,5,20, yes ", '4,130.0,4e6,7.1,5,20,"True"',
            "5,140.0,4e6,7.1,5,20,0"]
    [sample] = read_nta_file(_particles(tmp_path, rows))
    np.testing.assert_array_equal(_included_sizes(sample), [90.5, 100.5, 130.5])


def test_particles_quoted_cells_and_text_in_an_unused_column(tmp_path):
    rows = ['"1","100.2",4e6,7.1,0,20,True', "2,120.7,n/a,7.1,3,20,True"]
    [sample] = read_nta_file(_particles(tmp_path, rows))
    np.testing.assert_array_equal(_included_sizes(sample), [100.5, 120.5])


def test_particles_semicolons_and_decimal_commas(tmp_path):
    rows = ["1;100,2;4e6;7,1;0;20;True", "2;120,7;4e6;7,1;3;20;True"]
    [sample] = read_nta_file(_particles(tmp_path, rows, header=HEADER.replace(",", ";")))
    np.testing.assert_array_equal(_included_sizes(sample), [100.5, 120.5])


def test_particles_flag_column_not_last(tmp_path):
    names = list(PARTICLE_COLUMNS)
    names.insert(2, names.pop())  # Particle ID, Size/nm, Included..., the rest
    rows = ["1,100.2,False,4e6,7.1,0,20", "2,120.7,True,4e6,7.1,3,20"]
    [sample] = read_nta_file(_particles(tmp_path, rows, header=",".join(names)))
    np.testing.assert_array_equal(_included_sizes(sample), [120.5])


@pytest.mark.parametrize(("rows", "line", "expected"), [
    # One cell short, the next row one too many: the delimiters add up, the rows do not.
    (["1,100.2,4e6,7.1,0,20,True", "2,120.7,4e6,7.1,3,True", "3,90.0,4e6,7.1,5,20,True,x"],
     3, "row has 6 cells but the header has 7"),
    # One cell too many (the flag column still holds a flag).
    (["1,100.2,4e6,7.1,0,20,True", "2,120.7,4e6,7.1,3,20,True,x"], 3,
     "row has 8 cells but the header has 7"),
    # Whole-number ids, then one that is not.
    (["1,100.2,4e6,7.1,0,20,True", "2.5,120.7,4e6,7.1,3,20,True"], 3, "whole number"),
    (["1,100.2,4e6,7.1,0,20,True", "2,nan,4e6,7.1,3,20,True"], 3, "'nan' is not a number"),
    (["1,100.2,4e6,7.1,0,20,True", "2,,4e6,7.1,3,20,True"], 3, "an empty cell"),
    (["1,100.2,4e6,7.1,0,20,True", "2,120.7,4e6,7.1,3,20,Tru"], 3, "'Tru' is not a yes/no"),
    # A blank line is passed over; the lines after it keep their numbers.
    (["1,100.2,4e6,7.1,0,20,True", "", "2,abc,4e6,7.1,3,20,True"], 4, "'abc' is not a number"),
])
def test_particles_malformed_rows_are_named(tmp_path, rows, line, expected):
    path = _particles(tmp_path, rows)
    with pytest.raises(NTAFormatError) as caught:
        read_nta_file(path)
    assert caught.value.file == str(path) and caught.value.line == line
    assert expected in caught.value.detail


# The analysis sums the first 256 bins first, for the percentiles and the mode: a
# distribution whose upper percentiles or mode lie beyond them must still have them there.
CENTRES_NM = np.arange(1000) + 0.5  # NanoSight's 1 nm bins


def _two_peaks(first_bin, first_count, second_bin, second_count):
    counts = np.zeros(1000)
    counts[first_bin], counts[second_bin] = first_count, second_count
    return distribution_statistics(CENTRES_NM, counts)


@pytest.mark.parametrize(("peaks", "expected"), [
    # 100 particles at 100-101 nm, 300 at 700-701 nm: 40 / 200 / 360 of 400 particles.
    ((100, 100, 700, 300), {"mode_nm": 700.5, "d10_nm": 100.4, "d50_nm": 700 + 100 / 300,
                            "d90_nm": 700 + 260 / 300}),
    # 300 at 100 nm, 100 at 700 nm: the mode near the start, D90 far beyond it.
    ((100, 300, 700, 100), {"mode_nm": 100.5, "d10_nm": 100 + 40 / 300,
                            "d50_nm": 100 + 200 / 300, "d90_nm": 700.6}),
    # Everything within the first 256 bins.
    ((100, 300, 200, 100), {"mode_nm": 100.5, "d10_nm": 100 + 40 / 300,
                            "d50_nm": 100 + 200 / 300, "d90_nm": 200.6}),
])
def test_percentiles_and_mode_anywhere_in_1000_bins(peaks, expected):
    stats = _two_peaks(*peaks)
    for key, value in expected.items():
        assert stats[key] == pytest.approx(value, abs=1e-9), key
