"""Drift windows on synthetic features whose shift is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exoqc.monitor.drift import drift_windows


def _features(rng, n, z_mean):
    return pd.DataFrame({"dls_z_average_nm": rng.normal(z_mean, 5.0, n),
                         "dls_pdi": rng.normal(0.2, 0.03, n),
                         "isolation_sec": np.ones(n)})


@pytest.fixture
def history():
    """30 baseline batches, 20 in control, 20 with Z-average 4 SD higher."""
    rng = np.random.default_rng(5)
    frame = pd.concat([_features(rng, 50, 90.0), _features(rng, 20, 110.0)],
                      ignore_index=True)
    frame.index = [f"P{i:03d}" for i in range(len(frame))]
    return frame


def test_the_window_after_a_shift_names_the_feature_that_moved(history):
    in_domain = pd.Series(True, index=history.index)
    windows = drift_windows(history, np.arange(30), np.arange(30, 70), in_domain, None)
    assert [w.alarm for w in windows] == [False, True]
    assert windows[1].moved.index.tolist() == ["dls_z_average_nm"]
    assert "DLS Z-average" in windows[1].message
    assert "against the baseline only" in windows[1].notes[0]


def test_a_window_like_the_training_data_is_not_a_model_drift(history):
    """Moved since the baseline but like the training data: the model still knows it."""
    rng = np.random.default_rng(6)
    training = _features(rng, 200, 110.0)
    in_domain = pd.Series(True, index=history.index)
    windows = drift_windows(history, np.arange(30), np.arange(30, 70), in_domain, training)
    assert windows[1].moved.empty
    far = _features(np.random.default_rng(7), 200, 60.0)
    windows = drift_windows(history, np.arange(30), np.arange(30, 70), in_domain, far)
    assert windows[1].moved.index.tolist() == ["dls_z_average_nm"]
    assert windows[1].moved["training_percentile"].iloc[0] == 100.0


def test_a_rising_share_outside_the_domain_alarms(history):
    in_domain = pd.Series(True, index=history.index)
    in_domain.iloc[50:60] = False
    windows = drift_windows(history[["dls_pdi"]], np.arange(30), np.arange(30, 70),
                            in_domain, None)
    assert windows[1].alarm and "outside the model's applicability domain" in windows[1].message
    assert windows[1].outside_domain_share == pytest.approx(0.5)
