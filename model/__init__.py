"""The model layer, shared by training and inference (which never import each other).

What a trained exoqc model is and how it is read back: its files and predictor
(``predictor``), its pyfunc code (``model_code``), conformal calibration (``conformal``),
applicability domain (``domain``), verified loading from MLflow (``load``) and the way its
explanations print values and labels (``values``)."""
