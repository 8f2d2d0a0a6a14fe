"""Inference: batch scoring, per-preparation SHAP, applicability domain."""
