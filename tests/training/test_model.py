"""The exoqc model files: native boosters + JSON spec, verified by checksum on load."""

import json

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from exoqc.model.predictor import (
    Calibration,
    ExoqcPredictor,
    ModelIntegrityError,
    ModelSpec,
    save_model_files,
    sha256_of,
)
from exoqc.training.calibrate import brier_score, choose_calibration, fit_calibration


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(400, 4)), columns=["a", "b", "c", "d"])
    frame.loc[::9, "c"] = np.nan
    return frame


def three_class_model(features):
    labels = (features["a"] > 0).astype(int) + (features["b"] > 0.5).astype(int)
    booster = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3},
                        xgb.DMatrix(features, labels), 30)
    spec = ModelSpec(target="purity", classes=("high", "medium", "low"),
                     feature_names=tuple(features.columns),
                     calibration=Calibration("temperature", 0.7))
    return spec, booster


def test_saved_model_predicts_like_the_booster(tmp_path, features):
    spec, booster = three_class_model(features)
    files = save_model_files(tmp_path, spec, booster)
    predictor = ExoqcPredictor.from_files(files["meta"], files["booster"],
                                          expected_meta_sha256=sha256_of(files["meta"]))
    frame = predictor.predict_frame(features)
    margin = booster.predict(xgb.DMatrix(features), output_margin=True)
    expected = np.exp(0.7 * margin) / np.exp(0.7 * margin).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(frame[["p_high", "p_medium", "p_low"]], expected, rtol=1e-5)
    np.testing.assert_allclose(frame[["p_high", "p_medium", "p_low"]].sum(axis=1), 1, rtol=1e-6)
    assert (frame["label"] == np.array(["high", "medium", "low"])[expected.argmax(1)]).all()


def test_column_order_of_the_input_does_not_matter(tmp_path, features):
    spec, booster = three_class_model(features)
    files = save_model_files(tmp_path, spec, booster)
    predictor = ExoqcPredictor.from_files(files["meta"], files["booster"])
    shuffled = features[["d", "b", "a", "c"]].assign(extra=1.0)
    pd.testing.assert_frame_equal(predictor.predict_frame(shuffled),
                                  predictor.predict_frame(features))


def test_missing_feature_is_a_clear_error(tmp_path, features):
    spec, booster = three_class_model(features)
    files = save_model_files(tmp_path, spec, booster)
    predictor = ExoqcPredictor.from_files(files["meta"], files["booster"])
    with pytest.raises(ValueError, match=r"needs feature.*c.*retrain"):
        predictor.predict_frame(features.drop(columns="c"))


def test_tampered_booster_is_refused(tmp_path, features):
    spec, booster = three_class_model(features)
    files = save_model_files(tmp_path, spec, booster)
    model = json.loads(files["booster"].read_text())
    tree = model["learner"]["gradient_booster"]["model"]["trees"][0]
    tree["base_weights"][0] += 5.0
    files["booster"].write_text(json.dumps(model))
    with pytest.raises(ModelIntegrityError, match="checksum"):
        ExoqcPredictor.from_files(files["meta"], files["booster"])


def test_tampered_spec_is_refused_against_the_registry_checksum(tmp_path, features):
    spec, booster = three_class_model(features)
    files = save_model_files(tmp_path, spec, booster)
    recorded = sha256_of(files["meta"])
    meta = json.loads(files["meta"].read_text())
    meta["calibration"]["scale"] = 50.0
    files["meta"].write_text(json.dumps(meta))
    with pytest.raises(ModelIntegrityError, match="checksum"):
        ExoqcPredictor.from_files(files["meta"], files["booster"], expected_meta_sha256=recorded)


def test_platt_scaling_recovers_an_overconfident_margin():
    rng = np.random.default_rng(1)
    margin = rng.normal(0, 4, size=20000)
    # The truth is three times less confident than the margin claims.
    positive = rng.random(margin.size) < 1 / (1 + np.exp(-margin / 3))
    calibration = fit_calibration(margin, np.where(positive, 0, 1))
    assert calibration.kind == "platt"
    assert calibration.scale == pytest.approx(1 / 3, rel=0.08)
    assert abs(calibration.shift) < 0.1


def test_temperature_scaling_recovers_the_temperature():
    rng = np.random.default_rng(2)
    margin = rng.normal(0, 3, size=(20000, 3))
    true_p = np.exp(0.4 * margin) / np.exp(0.4 * margin).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(3, p=p) for p in true_p])
    calibration = fit_calibration(margin, labels)
    assert calibration.kind == "temperature"
    assert calibration.scale == pytest.approx(0.4, rel=0.08)


def test_calibration_applied_only_when_it_lowers_out_of_fold_brier():
    rng = np.random.default_rng(3)
    margin = rng.normal(0, 4, size=3000)
    labels = np.where(rng.random(margin.size) < 1 / (1 + np.exp(-margin / 3)), 0, 1)
    folds = [(None, np.arange(k, margin.size, 5)) for k in range(5)]
    check = choose_calibration(margin, labels, folds)
    assert check.applied
    assert check.brier_calibrated < check.brier_uncalibrated
    raw = brier_score(Calibration().probabilities(margin), labels)
    assert check.brier_uncalibrated == pytest.approx(raw)
