"""Production monitoring (``exoqc monitor``): control charts, drift, certificates."""
