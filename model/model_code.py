"""The MLflow pyfunc of an exoqc model, logged "from code" (MLflow models-from-code).

MLflow copies this file into the model; it holds no state of its own. The model's
artifacts are the native XGBoost boosters and ``exoqc_model.json`` (see ``model.py``).
"""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel, PythonModelContext

from exoqc.model.predictor import ExoqcPredictor


class ExoqcPyfunc(PythonModel):
    """Class probabilities, the label and (potency) predicted readouts for feature rows."""

    def load_context(self, context: PythonModelContext) -> None:
        artifacts = context.artifacts
        self.predictor = ExoqcPredictor.from_files(
            artifacts["meta"], artifacts.get("booster"), artifacts.get("regressor")
        )

    def predict(
        self, context: PythonModelContext, model_input: pd.DataFrame, params=None
    ) -> pd.DataFrame:
        return self.predictor.predict_frame(model_input).reset_index(drop=True)


mlflow.models.set_model(ExoqcPyfunc())
