"""Composition features from the preparation record: NTA and BCA counts, isolation method.

The particle-to-protein ratio (NTA particles per µg of BCA protein) is the field's common
purity metric: free protein and protein aggregates add protein without adding countable
vesicles, so contaminated preparations have fewer particles per µg (Webber & Clayton,
J Extracell Vesicles 2013: above ~3e10 particles/µg is high purity, below ~1.5e9 impure).
The isolation method is one-hot encoded for the methods of the input contract
(``exoqc.folder.ISOLATION_METHODS``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from exoqc.dataset import ISOLATION_METHODS, PREPS_FILE
from exoqc.features.catalog import FeatureInfo

_METHOD_NAMES = {
    "uc": "differential ultracentrifugation",
    "sec": "size-exclusion chromatography",
    "uc_sec": "ultracentrifugation followed by size-exclusion chromatography",
    "density_gradient": "density-gradient ultracentrifugation",
    "peg": "polymer (PEG) precipitation",
    "immunoaffinity": "immunoaffinity capture",
    "other": "another method",
}

COMPOSITION_FEATURES: tuple[FeatureInfo, ...] = (
    FeatureInfo(
        "particles_per_ml",
        "Particle concentration (NTA)",
        "particles/mL",
        "Particle concentration measured by nanoparticle tracking analysis, as written in "
        "preps.csv; when that cell is empty, the NTA export's dilution-corrected "
        "concentration (nta_file). NTA sees particles above roughly 50 nm.",
        "NTA",
    ),
    FeatureInfo(
        "protein_ug_per_ml",
        "Protein concentration (BCA)",
        "µg/mL",
        "Total protein concentration (BCA assay), as written in preps.csv: EV protein plus "
        "every co-isolated protein.",
        "BCA",
    ),
    FeatureInfo(
        "log10_particles_per_ug",
        "Particles per µg protein",
        "log10 particles/µg",
        "log10 of NTA particles per µg of BCA protein (particle-to-protein ratio); higher is "
        "purer. Empty when either count is missing or zero.",
        "NTA/BCA",
    ),
)

PREP_RECORD_FEATURES: tuple[FeatureInfo, ...] = tuple(
    FeatureInfo(
        f"isolation_{method}",
        f"Isolated by {_METHOD_NAMES[method]}",
        "0/1",
        f"1 when the preparation was isolated by {_METHOD_NAMES[method]} "
        f"(isolation_method '{method}'), 0 for another method, empty when no method is stated.",
        "prep record",
    )
    for method in ISOLATION_METHODS
)


def composition_features(preps: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Particle and protein concentrations and log10 particles per µg, per preparation.

    ``preps`` is :attr:`exoqc.dataset.Dataset.preps`. A zero count leaves the ratio empty
    (log10 of 0 or of a division by 0 is no measurement) and is reported as a warning.
    """
    names = [f.name for f in COMPOSITION_FEATURES]
    frame = pd.DataFrame(np.nan, index=preps.index, columns=names)
    particles = _count(preps, "particles_per_ml")
    protein = _count(preps, "protein_ug_per_ml")
    frame["particles_per_ml"] = particles
    frame["protein_ug_per_ml"] = protein
    usable = (particles > 0) & (protein > 0)
    frame["log10_particles_per_ug"] = np.log10(particles.where(usable) / protein.where(usable))

    warnings: dict[str, list[str]] = {}
    for column, values in (("particles_per_ml", particles), ("protein_ug_per_ml", protein)):
        for prep_id in preps.index[(values == 0).to_numpy()]:
            warnings.setdefault(prep_id, []).append(
                f"{PREPS_FILE}, column '{column}': 0 (below detection?), so particles per µg "
                "protein is left empty")
    return frame, warnings


def prep_record_features(preps: pd.DataFrame) -> pd.DataFrame:
    """One-hot isolation method per preparation; all empty when no method is stated."""
    method = preps["isolation_method"] if "isolation_method" in preps else pd.Series(
        np.nan, index=preps.index)
    stated = method.isin(ISOLATION_METHODS)
    frame = pd.DataFrame(
        {f"isolation_{m}": (method == m).astype("float64") for m in ISOLATION_METHODS},
        index=preps.index,
    )
    return frame.where(stated)


def _count(preps: pd.DataFrame, column: str) -> pd.Series:
    if column not in preps:
        return pd.Series(np.nan, index=preps.index, dtype="float64")
    return preps[column].astype("float64")
