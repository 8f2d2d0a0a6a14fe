"""DLS analysis: instrument readers, cumulants, regularized inversion, Mie weighting."""
