"""The exoqc model: native XGBoost boosters plus a JSON description, nothing pickled.

A trained model is four kinds of files: the classifier booster (XGBoost's own JSON
format), an optional multi-output regressor booster for the assay readouts, the
cross-validation fold boosters its conformal prediction sets are computed with
(``conformal_fold_<j>.json``, :mod:`exoqc.model.conformal`), and ``exoqc_model.json``
with the target, the class order, the feature names, the probability calibration, the
conformal calibration scores and the SHA-256 of each booster file.
:class:`ExoqcPredictor` reads them and refuses files whose checksum does not match. The
MLflow pyfunc (``model_code.py``, logged "from code") is a thin wrapper around it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xgboost as xgb

from exoqc.model.fallback import FallbackModel

META_FILE = "exoqc_model.json"
BOOSTER_FILE = "booster.json"
REGRESSOR_FILE = "regressor.json"


def fold_file(fold: int) -> str:
    """The file name of the conformal fold booster ``fold`` (0-based)."""
    return f"conformal_fold_{fold}.json"

FORMAT_VERSION = 1


class ModelIntegrityError(RuntimeError):
    """Model files that are not the ones exoqc wrote (tampered, truncated or foreign)."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def softmax(margin: np.ndarray) -> np.ndarray:
    shifted = margin - margin.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def sigmoid(margin: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * margin))


@dataclass(frozen=True)
class Calibration:
    """Probability calibration on the booster's margin (log-odds).

    ``temperature`` (multi-class): p = softmax(margin · scale) — Guo et al., ICML 2017.
    ``platt`` (binary): p = sigmoid(margin · scale + shift) — Platt 1999.
    ``none``: p = softmax(margin) or sigmoid(margin).
    """

    kind: Literal["none", "temperature", "platt"] = "none"
    scale: float = 1.0
    shift: float = 0.0

    def probabilities(self, margin: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (n, n_classes); binary margins give (p_pos, p_neg)."""
        if margin.ndim == 1:
            positive = sigmoid(margin * self.scale + self.shift)
            return np.column_stack([positive, 1.0 - positive])
        return softmax(margin * self.scale)


@dataclass(frozen=True)
class ModelSpec:
    """Everything but the boosters: how to read inputs and turn margins into labels.

    For a binary model the booster's margin is the log-odds of ``classes[0]``.
    ``readouts`` names the regressor's outputs (assay fold changes, predicted as log2).
    ``domain`` is the applicability domain fitted on the training split
    (``exoqc.model.domain.ApplicabilityDomain.to_dict``). ``estimator``: empty for an
    XGBoost model (the booster file); otherwise the parameters of a model of another kind
    (``exoqc.model.fallback``: a logistic regression, a rule), which has no booster file.
    ``conformal`` holds the conformal calibration scores and α
    (``exoqc.model.conformal.ConformalCalibration.to_dict``); empty for a model trained
    before exoqc made prediction sets.
    """

    target: str
    classes: tuple[str, ...]
    feature_names: tuple[str, ...]
    calibration: Calibration = field(default_factory=Calibration)
    readouts: tuple[str, ...] = ()
    domain: dict = field(default_factory=dict)
    conformal: dict = field(default_factory=dict)
    sha256: dict[str, str] = field(default_factory=dict)
    exoqc_version: str = ""
    estimator: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        raw = json.loads(text)
        if raw.get("format_version") != FORMAT_VERSION:
            raise ModelIntegrityError(
                f"{META_FILE}: format version {raw.get('format_version')!r}, "
                f"this exoqc reads {FORMAT_VERSION}"
            )
        return cls(
            target=raw["target"],
            classes=tuple(raw["classes"]),
            feature_names=tuple(raw["feature_names"]),
            calibration=Calibration(**raw["calibration"]),
            readouts=tuple(raw["readouts"]),
            domain=dict(raw["domain"]),
            conformal=dict(raw.get("conformal", {})),
            sha256=dict(raw["sha256"]),
            exoqc_version=raw["exoqc_version"],
            estimator=dict(raw.get("estimator", {})),
            format_version=raw["format_version"],
        )

    @property
    def probability_columns(self) -> list[str]:
        return [f"p_{c}" for c in self.classes]


def save_model_files(
    folder: Path,
    spec: ModelSpec,
    booster: xgb.Booster | None,
    regressor: xgb.Booster | None = None,
    fold_boosters: Sequence[xgb.Booster] = (),
) -> dict[str, Path]:
    """Write the boosters and the spec (with their checksums) into ``folder``; the keys
    of the result name the files' roles (``booster``, ``regressor``, ``meta`` and
    ``conformal_fold_<j>``). A model whose spec has an ``estimator`` has no classifier
    booster."""
    if (booster is None) != bool(spec.estimator):
        raise ValueError("a model is either a booster or a spec's estimator, not both")
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    if booster is not None:
        files["booster"] = folder / BOOSTER_FILE
        booster.save_model(files["booster"])
    if regressor is not None:
        files["regressor"] = folder / REGRESSOR_FILE
        regressor.save_model(files["regressor"])
    for j, fold in enumerate(fold_boosters):
        path = folder / fold_file(j)
        files[path.stem] = path
        fold.save_model(path)
    checksums = {path.name: sha256_of(path) for path in files.values()}
    spec = replace(spec, sha256=checksums)
    files["meta"] = folder / META_FILE
    files["meta"].write_text(spec.to_json())
    return files


class ExoqcPredictor:
    """Class probabilities, labels and readouts from the native boosters, or from the
    spec's ``estimator`` (``exoqc.model.fallback``) for a model of another kind."""

    def __init__(
        self, spec: ModelSpec, booster: xgb.Booster | None,
        regressor: xgb.Booster | None = None, fold_boosters: Sequence[xgb.Booster] = (),
    ) -> None:
        self.spec = spec
        self.booster = booster
        self.regressor = regressor
        self.fold_boosters = tuple(fold_boosters)
        self.fallback = (FallbackModel(spec.estimator, spec.feature_names, spec.classes)
                         if spec.estimator else None)
        if (booster is None) == (self.fallback is None):
            raise ModelIntegrityError(f"the {spec.target} model has neither a booster nor "
                                      "an estimator in its spec (or both)")

    @property
    def kind(self) -> str:
        """``xgboost``, or the fallback's kind (``linear``, ``misev_rule``, ...)."""
        return "xgboost" if self.fallback is None else self.fallback.kind

    def explainer(self) -> Any:
        """SHAP values of the model's margin: ``shap.TreeExplainer`` of the booster, or the
        exact contributions of a fallback (the same interface)."""
        if self.fallback is not None:
            return self.fallback.explainer()
        import shap

        return shap.TreeExplainer(self.booster)

    @classmethod
    def from_files(
        cls,
        meta_path: Path,
        booster_path: Path | None,
        regressor_path: Path | None = None,
        expected_meta_sha256: str | None = None,
        other_files: Sequence[Path] | None = None,
    ) -> ExoqcPredictor:
        """Load and verify: each booster's SHA-256 must match the one in the spec, and the
        spec's own SHA-256 must match ``expected_meta_sha256`` when the caller has it from
        a trusted place (the model registry).

        ``other_files``: the model folder's other files, among which the conformal fold
        boosters the spec names are looked up by name (each must be there); ``None``:
        they are not loaded (probabilities only, as the MLflow pyfunc needs)."""
        meta_path = Path(meta_path)
        if expected_meta_sha256 is not None and sha256_of(meta_path) != expected_meta_sha256:
            raise ModelIntegrityError(
                f"{meta_path}: checksum differs from the one recorded at training time; "
                "the model files were changed after registration"
            )
        spec = ModelSpec.from_json(meta_path.read_text())
        paths: dict[str, Path] = {}
        if not spec.estimator:
            if booster_path is None:
                raise ModelIntegrityError(f"{meta_path}: the booster file is missing")
            paths[BOOSTER_FILE] = Path(booster_path)
        if spec.readouts:
            if regressor_path is None:
                raise ModelIntegrityError(f"{meta_path}: the readout regressor file is missing")
            paths[REGRESSOR_FILE] = Path(regressor_path)
        folds = [fold_file(j) for j in range(int(spec.conformal.get("n_fold_boosters", 0)))]
        if other_files is not None:
            by_name = {Path(f).name: Path(f) for f in other_files}
            missing = [name for name in folds if name not in by_name]
            if missing:
                raise ModelIntegrityError(f"{meta_path}: the conformal fold booster file(s) "
                                          f"{', '.join(missing)} are missing")
            paths.update({name: by_name[name] for name in folds})
        for name, path in paths.items():
            if sha256_of(path) != spec.sha256.get(name):
                raise ModelIntegrityError(
                    f"{path}: checksum differs from the one recorded at training time; "
                    "refusing to load a model file exoqc did not write"
                )
        booster = (xgb.Booster(model_file=str(paths[BOOSTER_FILE])) if BOOSTER_FILE in paths
                   else None)
        fold_boosters = [xgb.Booster(model_file=str(paths[name]))
                         for name in folds if name in paths]
        try:
            return cls(spec, booster, _regressor(spec, paths), fold_boosters)
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelIntegrityError(f"{meta_path}: not a readable model ({exc})") from exc

    def _check_columns(self, features: pd.DataFrame) -> None:
        missing = [f for f in self.spec.feature_names if f not in features.columns]
        if missing:
            raise ValueError(
                f"the {self.spec.target} model needs feature(s) {', '.join(missing[:5])}"
                f"{' ...' if len(missing) > 5 else ''} that the input lacks; the feature "
                "catalog changed since training: retrain the model"
            )

    def matrix(self, features: pd.DataFrame) -> xgb.DMatrix:
        self._check_columns(features)
        values = features.loc[:, list(self.spec.feature_names)].to_numpy(dtype=np.float32)
        return xgb.DMatrix(values, feature_names=list(self.spec.feature_names), missing=np.nan)

    def margin(self, features: pd.DataFrame | xgb.DMatrix) -> np.ndarray:
        if self.fallback is not None:
            if isinstance(features, xgb.DMatrix):
                raise TypeError("a fallback model reads the feature table, not a DMatrix")
            self._check_columns(features)
            return self.fallback.margin(
                features.loc[:, list(self.spec.feature_names)].to_numpy(dtype=float))
        data = features if isinstance(features, xgb.DMatrix) else self.matrix(features)
        assert self.booster is not None  # no fallback: __init__ checked
        return self._margin_of(self.booster, data)

    def predict_proba(self, features: pd.DataFrame | xgb.DMatrix) -> np.ndarray:
        return self.spec.calibration.probabilities(self.margin(features))

    def conformal_probabilities(self, features: pd.DataFrame | xgb.DMatrix) -> np.ndarray:
        """What the model's conformal p-values are computed from
        (``ConformalCalibration.p_values``): each fold booster's calibrated probabilities,
        (n_folds, n, n_classes), for a CV+ calibration; else the registered booster's."""
        expected = int(self.spec.conformal.get("n_fold_boosters", 0))
        if expected == 0:
            return self.predict_proba(features)
        if len(self.fold_boosters) != expected:
            raise ModelIntegrityError(
                f"the {self.spec.target} model's prediction sets need its {expected} "
                "conformal fold boosters, which were not loaded (load it with "
                "exoqc.model.load.load_model)")
        data = features if isinstance(features, xgb.DMatrix) else self.matrix(features)
        return np.stack([self.spec.calibration.probabilities(self._margin_of(b, data))
                         for b in self.fold_boosters])

    def _margin_of(self, booster: xgb.Booster, data: xgb.DMatrix) -> np.ndarray:
        margin = booster.predict(data, output_margin=True)
        if len(self.spec.classes) > 2:  # XGBoost flattens a prediction of zero rows
            margin = margin.reshape(data.num_row(), len(self.spec.classes))
        return margin

    def predict_frame(self, features: pd.DataFrame) -> pd.DataFrame:
        """One row per input row: ``p_<class>`` for each class, ``label``, and
        ``pred_<readout>`` (fold change) when the model has a readout regressor."""
        data = self.matrix(features)
        proba = self.predict_proba(data if self.fallback is None else features)
        out = pd.DataFrame(proba, columns=self.spec.probability_columns, index=features.index)
        out["label"] = np.asarray(self.spec.classes)[proba.argmax(axis=1)]
        if self.regressor is not None:
            log2_fold = self.regressor.predict(data).reshape(len(features),
                                                             len(self.spec.readouts))
            for i, readout in enumerate(self.spec.readouts):
                out[f"pred_{readout}"] = np.exp2(log2_fold[:, i])
        return out


def _regressor(spec: ModelSpec, paths: dict[str, Path]) -> xgb.Booster | None:
    return xgb.Booster(model_file=str(paths[REGRESSOR_FILE])) if spec.readouts else None
