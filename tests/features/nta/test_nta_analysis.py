"""exoqc's NTA statistics on distributions whose values are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from exoqc.features.nta.analysis import (
    analyze_sample,
    bin_edges_nm,
    distribution_statistics,
)
from exoqc.features.nta.readers import NTASample


def _sample(videos, *, diameter=(90.0, 100.0, 110.0), dilution=10.0, **extra) -> NTASample:
    values = np.array(videos, dtype=float)
    return NTASample(file="f.csv", record=1, sample_name="s", instrument="csv",
                     diameter_nm=np.array(diameter),
                     video_concentration_per_ml=values,
                     video_names=tuple(f"v{i}" for i in range(len(values))),
                     dilution_factor=dilution, **extra)


def test_three_bins_by_hand():
    # Bins 90, 100, 110 nm (edges 85, 95, 105, 115) holding 1, 2, 1 (×1e8 /mL):
    # mean 100; SD √((100 + 0 + 100)/4) = √50; cumulative at the edges 0, 1, 3, 4:
    # D10 = 85 + 0.4·10 = 89, D50 = 95 + (2 − 1)/2·10 = 100, D90 = 105 + 0.6·10 = 111.
    stats = distribution_statistics(np.array([90.0, 100.0, 110.0]), np.array([1e8, 2e8, 1e8]))
    assert stats["mean_nm"] == pytest.approx(100.0)
    assert stats["sd_nm"] == pytest.approx(math.sqrt(50.0))
    assert stats["d10_nm"] == pytest.approx(89.0)
    assert stats["d50_nm"] == pytest.approx(100.0)
    assert stats["d90_nm"] == pytest.approx(111.0)
    assert stats["span"] == pytest.approx(22.0 / 100.0)
    assert stats["mode_nm"] == 100.0


def test_edges_of_uneven_bins():
    np.testing.assert_allclose(bin_edges_nm(np.array([10.0, 20.0, 40.0])),
                               [5.0, 15.0, 30.0, 50.0])


def test_sample_values_are_means_over_videos_and_shares_by_band():
    # Video 1 as above (total 4e8); video 2 all at 160 nm (total 2e8).
    result = analyze_sample(_sample([[1e8, 2e8, 1e8, 0], [0, 0, 0, 2e8]],
                                    diameter=(90.0, 100.0, 110.0, 160.0)))
    assert result.concentration_per_ml == pytest.approx(3e8)  # mean of 4e8 and 2e8
    assert [v.concentration_per_ml for v in result.videos] == [4e8, 2e8]
    assert result.mean_nm == pytest.approx((100.0 + 160.0) / 2)
    assert result.d50_nm == pytest.approx((100.0 + 160.0) / 2)
    # CV of (4e8, 2e8): SD √2·1e8 over mean 3e8.
    assert result.concentration_cv == pytest.approx(math.sqrt(2) / 3)
    assert "replicate_disagreement" in result.flags
    # Pooled: 0.5e8 at 90 (50-100 band), 1e8 + 0.5e8 at 100 and 110 (100-150), 1e8 at 160.
    assert result.band_shares == pytest.approx({
        "below_50nm": 0.0, "50_100nm": 0.5 / 3, "100_150nm": 1.5 / 3, "150_300nm": 1 / 3,
        "above_300nm": 0.0})


def test_validity_flags_follow_their_rules():
    clean = analyze_sample(_sample([[1e8, 2e8, 1e8]] * 3,
                                    particles_per_frame=np.array([50.0, 60.0, 55.0]),
                                    valid_tracks=np.array([900.0, 900.0, 900.0])))
    assert clean.flags == ()
    crowded = analyze_sample(_sample([[1e8, 2e8, 1e8]] * 2, dilution=None,
                                     particles_per_frame=np.array([50.0, 250.0]),
                                     valid_tracks=np.array([300.0, 300.0]),
                                     instrument_warnings=("Particles per frame: High",)))
    assert set(crowded.flags) == {"particles_per_frame_out_of_range", "few_tracks",
                                  "dilution_missing", "instrument_warning"}
    stated = analyze_sample(_sample([[1e8, 2e8, 1e8]], reported_mean_nm=110.0))
    assert stated.reported["mean_nm"] == 110.0 and stated.mean_nm == pytest.approx(100.0)
    assert "reported_disagreement" in stated.flags
    assert stated.concentration_cv is None  # one video: no agreement to measure


def test_json_has_the_design_fields_and_no_nan():
    result = analyze_sample(_sample([[1e8, 2e8, 1e8]]))
    payload = result.to_json()
    assert {"file", "record", "sample_name", "concentration_per_ml", "mean_nm", "mode_nm",
            "d10_nm", "d50_nm", "d90_nm", "n_videos", "flags", "reported_mean_nm",
            "videos", "band_shares"} <= set(payload)
    assert payload["concentration_cv"] is None and payload["reported_mean_nm"] is None
