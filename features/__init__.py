"""Feature extraction: DLS analysis, marker, composition and cargo features, the feature table.

``build_features(dataset)`` turns a loaded prep dataset folder into the feature table that
training and scoring share; ``FEATURE_CATALOG`` says what each column means.

The names below are imported on first use, so that importing a subpackage such as
``exoqc.features.dls.physics`` stays light and never pulls in the whole feature stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exoqc.features.build import FeatureTable, build_features
    from exoqc.features.catalog import (
        FEATURE_CATALOG,
        FeatureInfo,
        catalog_frame,
        feature_names,
        label_of,
    )

_PUBLIC = {
    "FeatureTable": "exoqc.features.build",
    "build_features": "exoqc.features.build",
    "FEATURE_CATALOG": "exoqc.features.catalog",
    "FeatureInfo": "exoqc.features.catalog",
    "catalog_frame": "exoqc.features.catalog",
    "feature_names": "exoqc.features.catalog",
    "label_of": "exoqc.features.catalog",
}

__all__ = [
    "FEATURE_CATALOG",
    "FeatureInfo",
    "FeatureTable",
    "build_features",
    "catalog_frame",
    "feature_names",
    "label_of",
]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
