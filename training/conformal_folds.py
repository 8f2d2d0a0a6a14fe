"""The conformal calibration of a model trained on a lab's small dataset
(``training.lab_job``), with its fold boosters.

The lab's candidate model is refitted on each fold of one grouped split of the lab's
preparations (whole batches validated together, the first repeat of the split that chose
the candidate); each fold booster scores the preparations it did not see, and those
scores with the boosters are the CV+ calibration (:mod:`exoqc.model.conformal`), so that
a lab with 50 labelled preparations gets sets whose scores and new preparations' scores
come from the same models. The unadapted reference model never saw the lab's
preparations: it is calibrated on all of them by split conformal prediction, with no fold
boosters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xgboost as xgb

from exoqc.model.conformal import SPLIT, ConformalCalibration, fit_conformal, fit_cv_plus
from exoqc.model.predictor import Calibration
from exoqc.training.candidates import BoosterCandidate
from exoqc.training.fit import to_matrix
from exoqc.training.repeated_cv import repeated_group_folds


def lab_conformal(candidate: BoosterCandidate, x: pd.DataFrame, y: np.ndarray, groups: np.ndarray,
                  n_classes: int, calibration: Calibration, seed: int = 0
                  ) -> tuple[ConformalCalibration, list[xgb.Booster]]:
    """The calibration and the fold boosters (none for the reference model) of an XGBoost
    candidate of ``training.candidates`` (its ``final_booster(x, y)`` fits one booster);
    ``calibration``: the registered model's, which scoring applies to every fold booster."""
    if candidate.mode == "reference":
        booster = candidate.final_booster(x, y)
        return fit_conformal(_probabilities(booster, x, n_classes, calibration), y,
                             method=SPLIT, groups=groups), []
    folds = repeated_group_folds(y, groups, 1, seed)[0]
    oof = np.full((len(y), n_classes), np.nan)
    boosters = []
    for train, valid in folds:
        booster = candidate.final_booster(x.iloc[train], y[train])
        boosters.append(booster)
        oof[valid] = _probabilities(booster, x.iloc[valid], n_classes, calibration)
    return fit_cv_plus(oof, y, [valid for _, valid in folds], groups=groups), boosters


def _probabilities(booster: xgb.Booster, x: pd.DataFrame, n_classes: int,
                   calibration: Calibration) -> np.ndarray:
    """Probabilities calibrated as the registered lab model gives them."""
    margin = booster.predict(to_matrix(x), output_margin=True)
    if n_classes > 2:
        margin = margin.reshape(len(x), n_classes)
    return calibration.probabilities(margin)
