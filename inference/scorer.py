"""The models and their explainers, loaded once, turning feature rows into scores rows.

The steps every engine shares, in order: which rows can be scored (:meth:`Scorer.
scorable`), each model's predictions (:meth:`Scorer.predict`; an engine may predict
elsewhere, Spark with ``mlflow.pyfunc.spark_udf``, and hand the same frames in), then the
scores rows (:meth:`Scorer.rows`: classes and probabilities, SHAP reasons, applicability
domain, release decision). A new score column is filled in :meth:`Scorer.rows` and
nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException

from exoqc.contracts import DEFAULT_MODEL_URIS, RELEASE_COLUMNS, SCORE_COLUMNS, TARGETS, Target
from exoqc.errors import ExoqcInputError
from exoqc.features.groups import INSUFFICIENT_MESSAGE, has_enough_data
from exoqc.inference.explain import Explained, ModelExplainer
from exoqc.inference.release import check_limits, decide
from exoqc.model.load import LoadedModel, load_model
from exoqc.spec import Spec

INSUFFICIENT = "insufficient"
"""Status of a preparation with too little data for a call (see docs/scoring.md)."""

ABSENT_MODEL = "absent: no model registered"
"""The model column of a target whose default model is not registered."""


class Scorer:
    """The models and their explainers, loaded once, scoring feature rows.

    A model may be absent (``None``: none registered yet); its columns are then empty and
    :attr:`absent` names it.
    """

    def __init__(self, purity: LoadedModel | None, potency: LoadedModel | None,
                 n_reasons: int = 3, spec: Spec | None = None) -> None:
        given: dict[Target, LoadedModel | None] = {"purity": purity, "potency": potency}
        self.models = {name: m for name, m in given.items() if m is not None}
        if not self.models:
            raise ValueError("Scorer needs at least one model")
        self.absent: list[Target] = [name for name, m in given.items() if m is None]
        self.explainers = {name: ModelExplainer(m.predictor) for name, m in self.models.items()}
        self.n_reasons = n_reasons
        self.spec = spec or Spec()
        check_limits(self.spec, {name: m.predictor.spec for name, m in self.models.items()})

    @classmethod
    def from_models(cls, models: Mapping[str, LoadedModel], n_reasons: int = 3,
                    spec: Spec | None = None) -> Scorer:
        """A scorer of the models given by target (a target not given is absent)."""
        return cls(models.get("purity"), models.get("potency"), n_reasons, spec)

    @classmethod
    def load(cls, settings) -> Scorer:
        """Both models of ``settings`` (:class:`~exoqc.inference.score.ScoreSettings`); a
        default one (``models:/exoqc-*@champion``) not registered is absent when the other
        loads. Each model must serve the target it is named for."""
        loaded: dict[str, LoadedModel] = {}
        not_found: list[MlflowException] = []
        for target, uri in model_uris(settings).items():
            try:
                loaded[target] = load_for_target(uri, target)
            except MlflowException as error:
                if not is_absent_default(error, uri, target):
                    raise
                not_found.append(error)
        if not loaded:
            raise not_found[0]
        return cls.from_models(loaded, settings.n_reasons, settings.spec)

    def scorable(self, features: pd.DataFrame, errors: Mapping[str, object]) -> pd.Series:
        """True for the rows a model may score: no input error, enough data for a call."""
        failed = features.index.astype(str).isin(list(errors))
        return pd.Series(~failed & has_enough_data(features).to_numpy(), index=features.index)

    def predict(self, rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """Each model's ``predict_frame`` of ``rows`` (index kept)."""
        return {name: model.predictor.predict_frame(rows)
                for name, model in self.models.items()}

    def score_features(self, features: pd.DataFrame, errors: Mapping[str, list[str]],
                       warnings: Mapping[str, list[str]]
                       ) -> tuple[pd.DataFrame, dict[str, Explained]]:
        """Scores of feature rows, the models predicting here (:meth:`rows`)."""
        ok = self.scorable(features, errors)
        return self.rows(features, errors, warnings, self.predict(features[ok]))

    def rows(
        self,
        features: pd.DataFrame,
        errors: Mapping[str, list[str]],
        warnings: Mapping[str, list[str]],
        predictions: Mapping[str, pd.DataFrame],
    ) -> tuple[pd.DataFrame, dict[str, Explained]]:
        """Scores in ``features``' row order (index prep_id), and the SHAP explanations of
        the rows that were scored (same order as the ``ok`` rows).

        ``predictions``: each model's :meth:`predict` output for the rows
        :meth:`scorable` selects (index prep_id), wherever it was computed."""
        ids = features.index.astype(str)
        failed = ids.isin(list(errors))
        # No call without evidence: a row with status 'insufficient' and no class.
        usable = self.scorable(features, errors).to_numpy()
        thin = ~failed & ~usable
        ok = features[usable]
        out = pd.DataFrame(index=features.index)
        out["prep_id"] = ids
        out["status"] = np.select([failed, thin], ["error", INSUFFICIENT], "ok")
        out["error"] = ["; ".join(errors.get(p, [])) for p in ids]
        out.loc[thin, "error"] = INSUFFICIENT_MESSAGE
        explained: dict[str, Explained] = {}
        words: dict[str, list[str]] = {}
        probabilities: dict[str, np.ndarray] = {}
        for name, model in self.models.items():
            predicted = predictions[name].loc[ok.index]
            probabilities[name] = predicted[model.predictor.spec.probability_columns].to_numpy()
            positions = probabilities[name].argmax(1)
            explained[name] = self.explainers[name].explain(ok, positions)
            words[name] = self.explainers[name].reasons(explained[name], self.n_reasons)
            if name == "purity":
                out["purity_class"] = predicted["label"]
                for cls in model.predictor.spec.classes:
                    out[f"p_purity_{cls}"] = predicted[f"p_{cls}"]
            else:
                out["potency_class"] = predicted["label"]
                out["p_potent"] = predicted["p_potent"]
                for column in predicted.columns:
                    if column.startswith("pred_"):
                        out[column] = predicted[column]
        reasons = pd.Series(
            [" | ".join(f"{name}: {text}" for name, text in zip(words, row, strict=True))
             for row in zip(*words.values(), strict=True)],
            index=ok.index, dtype=object,
        )
        domain = next(iter(self.explainers.values())).domain.check(ok)
        out["in_domain"] = domain["in_domain"].astype("boolean")
        notes = domain["domain_note"].astype(object).reindex(features.index).fillna("")
        input_notes = pd.Series(["; ".join(warnings.get(p, [])) for p in ids],
                                index=features.index)
        out["domain_note"] = _join(notes, input_notes)
        out["reasons"] = reasons.reindex(features.index).fillna("")
        for name in TARGETS:
            out[f"{name}_model"] = self.models[name].label if name in self.models else ABSENT_MODEL
        # spec limits look at features and predictions alike
        attributes = pd.concat([ok, out.loc[ok.index]], axis=1) if self.spec.limits else ok
        release = decide({n: m.predictor.conformal_probabilities(ok)
                          for n, m in self.models.items()},
                         {n: m.predictor.spec for n, m in self.models.items()},
                         out.loc[ok.index, "in_domain"], attributes, self.spec)
        for column in RELEASE_COLUMNS[:-1]:
            out[column] = release[column].astype(object).reindex(features.index).fillna("")
        out["assay_priority"] = pd.Series(pd.NA, index=features.index, dtype="Int64")
        extra = [c for c in out.columns if c not in SCORE_COLUMNS]
        out = out.reindex(columns=SCORE_COLUMNS + extra)
        return out.reset_index(drop=True), explained


def _join(first: pd.Series, second: pd.Series) -> pd.Series:
    both = (first != "") & (second != "")
    return (first + np.where(both, "; ", "") + second).astype(str)


def model_uris(settings) -> dict[Target, str]:
    """The model URI of each target in ``settings``."""
    return {"purity": settings.purity_model, "potency": settings.potency_model}


def is_absent_default(error: MlflowException, uri: str, target: Target) -> bool:
    """Whether ``error`` says that the default model of ``target`` is not registered."""
    return uri == DEFAULT_MODEL_URIS[target] and error.error_code == "RESOURCE_DOES_NOT_EXIST"


def load_for_target(uri: str, target: str) -> LoadedModel:
    """The model at ``uri``, refused unless its own spec says it serves ``target`` (a
    potency model given as the purity model would fill purity_class with potency labels)."""
    model = load_model(uri)
    served = model.predictor.spec.target
    if served != target:
        raise ExoqcInputError(uri, f"is a {served} model: expected a {target} model for "
                              f"--{target}-model")
    return model
