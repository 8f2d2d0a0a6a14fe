"""Training: XGBoost purity and potency models, validation, MLflow tracking, global SHAP."""
