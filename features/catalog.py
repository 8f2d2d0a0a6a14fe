"""The feature catalog: what every column of the feature table means, in a lab's words.

Each feature extractor declares its columns as :class:`FeatureInfo` entries; the catalog
is their concatenation in the feature table's column order. SHAP plots and scoring
reasons show ``label`` rather than the column name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FeatureInfo:
    """One column of the feature table.

    name: the column name (snake_case, unit suffix where there is one).
    label: a short readable name for plots and reasons ("EV / co-isolate marker ratio").
    unit: physical or mathematical unit ("nm", "log10 particles/µg", "fraction", "0/1").
    description: what it means and how it is computed, for a lab scientist.
    source: the measurement it comes from ("DLS", "markers", "NTA/BCA", "qPCR", "prep record").
    """

    name: str
    label: str
    unit: str
    description: str
    source: str
