"""NanoSight per-particle exports (``..._ParticleData.csv``, ``..._AllTracks.csv``).

The fixtures in tests/data/nta are synthetic (no public real export was found); their
columns follow what public code reads from real NTA 3.4 exports (see nta_files.py: a
NanoSight 3.4 CSV-pack importer and a particle-level intensity analysis). Expected values
are computed here from the particles the fixture was written from, not by the reader.
"""

from __future__ import annotations

import numpy as np
import pytest
from nta_files import (
    ALL_TRACKS,
    PARTICLE_COLUMNS,
    PARTICLE_DATA,
    all_tracks_text,
    nanosight_particles,
    particle_data_text,
)

from exoqc.dataset import load_dataset
from exoqc.errors import NTAFormatError
from exoqc.features.build import build_features
from exoqc.features.nta.analysis import analyze_file
from exoqc.features.nta.readers import read_nta_file

PARTICLES = nanosight_particles()


def test_fixtures_are_the_documented_particles():
    # The committed files are what nta_files writes: the tests below describe them.
    assert PARTICLE_DATA.read_text() == particle_data_text(PARTICLES).replace("\r\n", "\n")
    assert ALL_TRACKS.read_text() == all_tracks_text(PARTICLES).replace("\r\n", "\n")


@pytest.mark.parametrize("path", [PARTICLE_DATA, ALL_TRACKS], ids=["ParticleData",
                                                                   "AllTracks"])
def test_included_particles_make_the_number_distribution(path):
    (sample,) = read_nta_file(path)
    included = PARTICLES["size_nm"][PARTICLES["included"]]
    assert sample.instrument == "nanosight" and sample.sample_name == "EV_prep_3_video1"
    assert sample.n_videos == 1 and not sample.concentration_known
    assert sample.valid_tracks.tolist() == [included.size]
    # 1 nm bins [k, k+1): the count in each is the number of included sizes that fall in it.
    expected = np.bincount(np.floor(included).astype(int), minlength=sample.diameter_nm.size)
    np.testing.assert_array_equal(sample.video_concentration_per_ml[0], expected)
    np.testing.assert_array_equal(sample.diameter_nm, np.arange(sample.diameter_nm.size) + 0.5)
    assert any("12 of 150" in note for note in sample.notes)


def test_both_exports_of_one_video_give_the_same_result():
    by_particle, by_frame = (analyze_file(p)[0].to_json() for p in (PARTICLE_DATA, ALL_TRACKS))
    for key in ("mean_nm", "mode_nm", "d10_nm", "d50_nm", "d90_nm", "valid_tracks"):
        assert by_particle[key] == by_frame[key], key


def test_analysis_gives_sizes_but_no_concentration():
    (result,) = analyze_file(PARTICLE_DATA)
    payload = result.to_json()
    included = PARTICLES["size_nm"][PARTICLES["included"]]
    # Bin centres stand for the sizes: each moves by at most half a bin (0.5 nm).
    assert abs(payload["mean_nm"] - included.mean()) <= 0.5
    assert abs(payload["d50_nm"] - np.median(included)) <= 1.5
    assert payload["concentration_per_ml"] is None
    assert "no_concentration" in payload["flags"] and "dilution_missing" not in payload["flags"]


def _write(tmp_path, text, name="v_ParticleData.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


HEADER = ",".join(PARTICLE_COLUMNS)


@pytest.mark.parametrize(("rows", "line", "expected"), [
    (["1,100.5,4e6,7.1,0,20,True", "1,120.0,4e6,7.1,3,20,True"], 3, "repeated"),
    (["1,100.5,4e6,7.1,0,20,True", "2,abc,4e6,7.1,3,20,True"], 3, "not a number"),
    (["1,100.5,4e6,7.1,0,20,Maybe"], 2, "True or False"),
    (["1.5,100.5,4e6,7.1,0,20,True"], 2, "whole number"),
    (["1,100.5,4e6,7.1,0,20,True", "2,90.0,4e6,7.1,0,20"], 3, "cells"),
    (["1,100.5,4e6,7.1,0,3,False"], 1, "no particle is included"),
    (["1,0,4e6,7.1,0,20,True"], 2, "not a particle diameter"),
    ([], 1, "no particle rows"),
])
def test_malformed_particle_data_names_the_line_and_what_was_expected(tmp_path, rows, line,
                                                                      expected):
    path = _write(tmp_path, "\n".join([HEADER, *rows]) + "\n")
    with pytest.raises(NTAFormatError) as caught:
        read_nta_file(path)
    assert caught.value.file == str(path) and caught.value.line == line
    assert expected in caught.value.detail


def test_a_track_whose_size_changes_between_frames_is_refused(tmp_path):
    lines = all_tracks_text(nanosight_particles(n=5, n_excluded=1)).splitlines()
    parts = lines[3].split(",")
    parts[1] = "999.9"
    lines[3] = ",".join(parts)
    path = _write(tmp_path, "\n".join(lines), "v_AllTracks.csv")
    with pytest.raises(NTAFormatError) as caught:
        read_nta_file(path)
    assert caught.value.line == 4 and "every frame" in caught.value.detail


def test_a_particle_export_as_nta_file_gives_size_features_and_nan_concentration(tmp_path):
    root = tmp_path / "ds"
    (root / "nta").mkdir(parents=True)
    (root / "nta" / "v1_ParticleData.csv").write_bytes(PARTICLE_DATA.read_bytes())
    (root / "preps.csv").write_text("prep_id,nta_file,protein_ug_per_ml\n"
                                    "P1,nta/v1_ParticleData.csv,100\n")
    table = build_features(load_dataset(root, errors="collect"), n_jobs=1)
    assert table.errors == {}
    row = table.frame.loc["P1"]
    included = PARTICLES["size_nm"][PARTICLES["included"]]
    assert abs(row["nta_mean_nm"] - included.mean()) <= 0.5
    # No analysed volume in the file: no concentration, so nothing per µg protein either.
    assert np.isnan(row["nta_concentration_per_ml"])
    assert np.isnan(row["nta_log10_particles_per_ug"])
