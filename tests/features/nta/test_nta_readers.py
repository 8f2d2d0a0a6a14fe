"""NTA readers on the real NanoSight exports, a synthetic ZetaView export and generic CSVs.

Reference values: the instrument's own numbers in the real files (../shared/realdata/
README.md). exoqc recomputes them from the distribution; the tolerances are stated where
they are used and explained in docs/nta.md ("Against the instrument").
"""

from __future__ import annotations

import numpy as np
import pytest
from nta_files import (
    BEADS,
    BEADS2,
    ZETAVIEW_CM3_PER_TRACE,
    ZETAVIEW_DILUTION,
    write_zetaview,
    zetaview_counts,
    zetaview_text,
    zetaview_tracks,
)

from exoqc.errors import NTAFormatError
from exoqc.features.nta.analysis import analyze_file, analyze_sample
from exoqc.features.nta.readers import detect_format, read_nta_file

# The instrument writes 0.1 nm: its number is exact to ±0.05 nm. exoqc's per-video mean and
# SD are sums over the same 1 nm bins, so they agree to the printed digit (+ float noise).
PRINTED_NM = 0.051
# The instrument's percentiles come from the tracks, exoqc's from the 1 nm bins: a track
# can sit anywhere in its bin, and NTA 3.2 (beads.csv) bins are offset by about one bin
# from their stated centres; one bin plus the printed digit, rounded up.
PERCENTILE_NM = 1.1
# The instrument's mode is the top of a smoothed curve whose kernel is not documented;
# exoqc smooths with a Gaussian of 2 bins. Within one bin.
MODE_NM = 1.0
# Concentrations are printed with 3 significant digits: ±0.5 in the third digit.
CONCENTRATION_REL = 0.005


def _reported_rows(path) -> dict[str, list[float]]:
    """The per-video and average size rows exactly as written in the file."""
    rows = {}
    for line in path.read_text().splitlines():
        cells = line.split(",")
        if cells[0] in ("Mean", "Mode", "SD", "D10", "D50", "D90"):
            rows[cells[0]] = [float(c) for c in cells[1:] if c.strip()]
    return rows


@pytest.mark.parametrize("path, n_videos", [(BEADS2, 5), (BEADS, 12)])
def test_real_nanosight_values_are_reproduced_from_the_distribution(path, n_videos):
    [sample] = read_nta_file(path)
    assert sample.instrument == "nanosight" and sample.n_videos == n_videos
    result = analyze_sample(sample)
    reported = _reported_rows(path)
    for key, attribute, tolerance in (("Mean", "mean_nm", PRINTED_NM),
                                      ("SD", "sd_nm", PRINTED_NM),
                                      ("Mode", "mode_nm", MODE_NM),
                                      ("D10", "d10_nm", PERCENTILE_NM),
                                      ("D50", "d50_nm", PERCENTILE_NM),
                                      ("D90", "d90_nm", PERCENTILE_NM)):
        own = np.array([getattr(v, attribute) for v in result.videos])
        np.testing.assert_allclose(own, reported[key][:n_videos], atol=tolerance, rtol=0,
                                   err_msg=key)
        # The instrument's "Average" is the mean of its videos' values.
        assert getattr(result, attribute) == pytest.approx(reported[key][n_videos],
                                                           abs=tolerance), key
    assert result.concentration_per_ml == pytest.approx(sample.reported_concentration_per_ml,
                                                        rel=CONCENTRATION_REL)
    np.testing.assert_allclose([v.concentration_per_ml for v in result.videos],
                               sample.reported_video_concentration_per_ml,
                               rtol=CONCENTRATION_REL)
    assert "reported_disagreement" not in result.flags


def test_beads2_reference_values_of_the_readme():
    [result] = analyze_file(BEADS2)
    assert result.concentration_per_ml == pytest.approx(6.09e12, rel=CONCENTRATION_REL)
    assert result.mean_nm == pytest.approx(101.5, abs=PRINTED_NM)
    assert result.mode_nm == pytest.approx(98.4, abs=MODE_NM)
    assert result.d50_nm == pytest.approx(99.8, abs=PERCENTILE_NM)
    assert result.dilution_factor == 1e4
    assert result.settings["software"] == "NTA 3.4 Build 3.4.003"
    assert result.settings["camera_level"] == [11.0]
    assert result.particles_per_frame == pytest.approx(np.mean([109.7, 112.6, 111.7, 116.2,
                                                                116.1]))
    assert result.valid_tracks == 1872 + 1898 + 1879 + 1948 + 1929
    assert result.flags == ()
    assert result.concentration_cv < 0.05


def test_spreadsheet_resaved_beads_is_read_and_flagged_for_what_it_lacks():
    [result] = analyze_file(BEADS)
    assert result.mean_nm == pytest.approx(100.5, abs=PRINTED_NM)
    assert result.mode_nm == pytest.approx(95.3, abs=MODE_NM)
    assert result.d50_nm == pytest.approx(96.4, abs=PERCENTILE_NM)
    assert result.concentration_per_ml == pytest.approx(1.47e9, rel=CONCENTRATION_REL)
    assert result.dilution_factor is None and "dilution_missing" in result.flags
    # Four experiments at camera levels 10 and 15: the videos disagree (1.18e9 - 2.51e9).
    assert result.settings["camera_level"] == [10.0, 15.0]
    assert "replicate_disagreement" in result.flags and result.concentration_cv > 0.2
    # One video holds 397 particles per frame, above the counting range.
    assert "particles_per_frame_out_of_range" in result.flags
    assert result.settings["software"] == "NTA 3.2 Dev Build 3.2.16"  # "Unknown" in the file


def test_semicolon_and_decimal_comma_resave_gives_the_same_sample(tmp_path):
    text = BEADS2.read_text()
    european = "\n".join(
        ";".join(cell.replace(".", ",") if cell.replace(".", "").replace("e+", "").replace(
            "-", "").isdigit() else cell for cell in line.split(","))
        for line in text.splitlines())
    path = tmp_path / "ExperimentSummary.csv"
    path.write_bytes(european.encode("cp1252"))
    [original], [resaved] = read_nta_file(BEADS2), read_nta_file(path)
    np.testing.assert_array_equal(resaved.diameter_nm, original.diameter_nm)
    np.testing.assert_array_equal(resaved.video_concentration_per_ml,
                                  original.video_concentration_per_ml)
    assert resaved.dilution_factor == original.dilution_factor
    assert resaved.reported_mean_nm == original.reported_mean_nm


def test_synthetic_zetaview_export(tmp_path):
    centres, counts = zetaview_counts()
    path = write_zetaview(tmp_path / "EV_prep_11.txt", zetaview_text(centres, counts))
    assert detect_format(path.read_text(encoding="latin-1").splitlines()) == "zetaview"
    [sample] = read_nta_file(path)
    assert sample.instrument == "zetaview" and sample.sample_name == "EV prep 11"
    assert sample.dilution_factor == ZETAVIEW_DILUTION
    assert sample.temperature_c == 23.91 and sample.camera_level == (80.0,)
    assert sample.software == "ZetaView (version 8.05.16 SP3)"
    np.testing.assert_allclose(sample.diameter_nm, centres)
    # The concentration column is of the diluted suspension: × dilution.
    expected = counts * ZETAVIEW_CM3_PER_TRACE * ZETAVIEW_DILUTION
    np.testing.assert_allclose(sample.video_concentration_per_ml[0], expected, rtol=1e-3)
    result = analyze_sample(sample)
    assert result.valid_tracks == counts.sum()
    assert result.particles_per_frame == 121.4
    assert result.concentration_per_ml == pytest.approx(expected.sum(), rel=1e-3)
    assert result.mean_nm == pytest.approx((centres @ counts) / counts.sum(), rel=1e-3)
    assert result.flags == ()
    # The measurement settings the export states (header "Sensitivity:\t80.0",
    # "Shutter:\t100", "Minimum Brightness:\t30").
    settings = result.to_json()["settings"]
    assert (settings["camera_level"], settings["shutter"]) == ([80.0], [100.0])
    assert settings["detection_threshold"] == [30.0]


def test_zetaview_stated_median_is_kept_apart_and_reproduced(tmp_path):
    # "Median Number (D50):" is the instrument's median of its traced particles (docs/nta.md
    # cites the public code that reads the line); exoqc's D50 comes from the 5 nm classes.
    centres, counts = zetaview_counts()
    stated = float(np.median(zetaview_tracks()))
    text = zetaview_text(centres, counts, median_number_nm=stated)
    [sample] = read_nta_file(write_zetaview(tmp_path / "z.txt", text))
    assert sample.reported_d50_nm == pytest.approx(stated, abs=1e-6)
    assert sample.reported_mean_nm is None and sample.reported_concentration_per_ml is None
    result = analyze_sample(sample)
    assert result.reported["d50_nm"] == sample.reported_d50_nm
    assert result.d50_nm == pytest.approx(stated, rel=0.01)
    assert "reported_disagreement" not in result.flags


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_zetaview_stated_median_that_disagrees_is_flagged(tmp_path, factor):
    centres, counts = zetaview_counts()
    stated = float(np.median(zetaview_tracks())) * factor
    text = zetaview_text(centres, counts, median_number_nm=stated)
    [result] = analyze_file(write_zetaview(tmp_path / "z.txt", text))
    assert "reported_disagreement" in result.flags
    assert result.to_json()["reported_d50_nm"] == pytest.approx(stated, abs=1e-6)


def test_nanosight_shutter_per_video_is_kept():
    # beads2.csv: "Shutter/ms,22.250000" for each of its 5 videos; beads.csv: 30.15 and 17.4.
    assert read_nta_file(BEADS2)[0].shutter == (22.25,)
    assert read_nta_file(BEADS)[0].shutter == (17.4, 30.15)


def test_zetaview_without_dilution_and_a_failed_drift_check_is_flagged(tmp_path):
    centres, counts = zetaview_counts()
    text = zetaview_text(centres, counts, dilution=None, drift_result="Too high")
    [result] = analyze_file(write_zetaview(tmp_path / "z.txt", text))
    assert {"dilution_missing", "instrument_warning"} <= set(result.flags)
    assert result.instrument_warnings == ("Particle Drift Check Result: Too high",)


def test_generic_distribution_csv_with_samples_and_videos(tmp_path):
    path = tmp_path / "nta.csv"
    path.write_text(
        "# dilution_factor: 100\n# particles_per_frame: 50\n"
        "sample_name,video,size_nm,concentration\n"
        "A,1,90,1e8\nA,1,100,2e8\nA,1,110,1e8\n"
        "A,2,90,1e8\nA,2,100,2e8\nA,2,110,1e8\n"
        "B,1,90,3e8\nB,1,100,0\nB,1,110,1e8\n")
    samples = read_nta_file(path)
    assert [s.sample_name for s in samples] == ["A", "B"]
    assert [s.n_videos for s in samples] == [2, 1]
    assert samples[0].video_concentration_per_ml.sum() == pytest.approx(2 * 4e8 * 100)
    assert samples[1].record == 2


def test_generic_particle_list_counts_tracks_into_1_nm_bins(tmp_path):
    path = tmp_path / "tracks.csv"
    sizes = [99.2, 99.7, 100.1, 100.4, 150.0]
    path.write_text("# analysed_volume_ml: 1e-6\n# dilution_factor: 10\nsize_nm\n"
                    + "".join(f"{s}\n" for s in sizes))
    [sample] = read_nta_file(path)
    [result] = [analyze_sample(sample)]
    assert result.valid_tracks == 5
    assert result.concentration_per_ml == pytest.approx(5 / 1e-6 * 10)
    assert sample.video_concentration_per_ml[0, 99] == pytest.approx(2 / 1e-6 * 10)
    without_volume = tmp_path / "tracks2.csv"
    without_volume.write_text("size_nm\n" + "".join(f"{s}\n" for s in sizes))
    [result] = analyze_file(without_volume)
    assert result.concentration_per_ml is None and "no_concentration" in result.flags
    assert "dilution_missing" not in result.flags


@pytest.mark.parametrize("text, line, expected", [
    ("size_nm,concentration\n90,1e8\n100,abc\n", 3, "'abc' is not a number"),
    ("size_nm,concentration\n90,1e8\n80,1e8\n", 2, "not increasing"),
    ("size_nm,concentration\n90,0\n100,0\n", 2, "all zero"),
    ("size_nm,concentration\n90,1e8\n100,-1\n", 2, "not a concentration"),
    ("size_nm,concentration\n90,1e8\n100\n", 3, "row has 1 cells"),
    ("# dilution_factor: 0.5\nsize_nm,concentration\n90,1e8\n100,1e8\n", 1,
     "dilution factor 0.5"),
    ("size_nm,concentration\n", 1, "no data rows"),
    ("tau_us,g2m1\n1,0.9\n", 1, "not an NTA export"),
])
def test_malformed_generic_csv_names_the_line_and_what_was_expected(tmp_path, text, line,
                                                                     expected):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(NTAFormatError) as caught:
        read_nta_file(path)
    assert caught.value.file == str(path) and caught.value.line == line
    assert expected in str(caught.value)


def test_a_damaged_nanosight_distribution_row_is_named(tmp_path):
    lines = BEADS2.read_text().splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("100.5,"))
    lines[at] = lines[at].replace("100.5,", "100.5,x", 1)
    path = tmp_path / "summary.csv"
    path.write_text("\n".join(lines))
    with pytest.raises(NTAFormatError) as caught:
        read_nta_file(path)
    assert caught.value.line == at + 1 and "is not a number" in str(caught.value)
    assert "Concentration (particles / ml)" in str(caught.value)
