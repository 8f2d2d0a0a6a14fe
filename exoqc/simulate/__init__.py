"""Reference cohort simulator: physically grounded, labelled exosome preparations."""
