"""Feature extraction: DLS analysis, marker, composition and cargo features, the feature table."""
