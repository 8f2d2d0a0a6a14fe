"""Every number of the reference cohort simulator, with its source or reasoning.

Particle populations are log-normal number distributions of hydrodynamic diameter. Each
carries an effective refractive index (for Mie scattering in DLS and NTA) and a protein
density (grams of protein per cm³ of particle volume), so that protein per particle scales
with particle volume. docs/simulator.md explains each value; the comments here name the
source in a word.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Population:
    """One kind of particle (or dissolved protein) that can end up in a preparation.

    name: column stem used in ``simulation_truth.csv``.
    is_ev: its protein counts as EV protein for the purity label.
    refractive_index: effective index of the particle; ``None`` when it varies per batch
        (small EVs, see :data:`EV_REFRACTIVE_INDEX_RANGE`).
    protein_density_g_per_cm3: median protein mass per particle volume.
    """

    name: str
    label: str
    is_ev: bool
    refractive_index: float | None
    protein_density_g_per_cm3: float


POPULATIONS: tuple[Population, ...] = (
    # Cell small EVs: 0.02-0.08 g protein/cm³ puts a 100 nm vesicle at 10-40 ag of protein and
    # a pure preparation at 3e10-1e11 particles/µg (Webber & Clayton, JEV 2013: > 3e10 = pure).
    Population("sev", "small EVs (cell-derived)", True, None, 0.04),
    # Bovine EVs of fetal bovine serum: EVs all the same (a purity assay cannot tell species).
    Population("bovine_sev", "small EVs from fetal bovine serum", True, 1.39, 0.04),
    # Clusters of small EVs after freeze-thaw (fractal, mostly water: lower effective index).
    Population("ev_cluster", "EV clusters (freeze-thaw)", True, 1.37, 0.04),
    # Large EVs budding from the plasma membrane (MISEV2018 "medium/large EVs").
    Population("microvesicle", "microvesicles", True, 1.39, 0.04),
    # Apoptotic bodies and cell fragments: cytoplasm ~0.15-0.2 g/cm³ protein, nuclear
    # fragments raise the index (1.40-1.42 for cells and organelles).
    Population("cell_debris", "apoptotic bodies / cell debris", False, 1.42, 0.15),
    # Exomeres: non-vesicular ~35 nm protein-rich particles (Zhang et al., Nat Cell Biol 2018).
    Population("exomere", "exomeres", False, 1.45, 0.30),
    # Lipoproteins (Feingold, Endotext 2021): protein mass fraction × particle density:
    # HDL 50 % × 1.12 g/mL, LDL 22 % × 1.04, VLDL 10 % × 0.97, chylomicrons 1.5 % × 0.93.
    # Index 1.45-1.50 for their lipid cores (de Rond et al., JEV 2019, flow-cytometry indices).
    Population("hdl", "HDL", False, 1.48, 0.50 * 1.12),
    Population("ldl", "LDL", False, 1.48, 0.22 * 1.04),
    Population("vldl", "VLDL", False, 1.47, 0.10 * 0.97),
    Population("chylomicron", "chylomicrons", False, 1.46, 0.015 * 0.93),
    # Dissolved protein: albumin has a hydrodynamic diameter of ~7 nm and 66.5 kDa, i.e.
    # 0.6 g protein per cm³ of its hydrodynamic sphere.
    Population("serum_protein", "soluble serum protein (albumin-rich)", False, 1.45, 0.6),
    Population("secreted_protein", "soluble protein secreted by the cells", False, 1.45, 0.6),
    # Protein aggregates from pelleting, concentration and low-pH elution: loose, hydrated.
    Population("protein_aggregate", "protein aggregates", False, 1.45, 0.08),
)
POPULATION_INDEX = {p.name: i for i, p in enumerate(POPULATIONS)}
N_POPULATIONS = len(POPULATIONS)
EV_POPULATIONS = np.array([p.is_ev for p in POPULATIONS])

EV_REFRACTIVE_INDEX_RANGE = (1.37, 1.40)  # van der Pol 2014; Gardiner 2014
REFRACTIVE_INDEX_STEP = 0.005  # indices are rounded so that Mie tables are reused

# Median diameter (nm) range per batch and log-normal width (sigma of ln d) range.
SIZE_MEDIAN_NM: dict[str, tuple[float, float]] = {
    "sev": (60.0, 120.0),  # the 60-120 nm; NTA modes of MSC sEVs are 80-130 nm
    "bovine_sev": (70.0, 110.0),
    "microvesicle": (150.0, 300.0),  # what passes the 10,000 g spin of 100 nm - 1 µm
    "cell_debris": (700.0, 1800.0),  # fragments left by the 2,000 g spin (apoptotic bodies 1-5 µm)
    "exomere": (30.0, 40.0),  # ~35 nm
    "hdl": (9.0, 11.0),  # 8-12 nm
    "ldl": (20.0, 24.0),  # 18-25 nm
    "vldl": (40.0, 60.0),  # 30-80 nm
    "chylomicron": (150.0, 350.0),  # 75-1200 nm
    "serum_protein": (6.5, 7.5),  # albumin 7 nm; serum globulins 10-12 nm
    "secreted_protein": (6.0, 9.0),
    "protein_aggregate": (150.0, 450.0),
}
SIZE_SIGMA: dict[str, tuple[float, float]] = {
    "sev": (0.22, 0.35),
    "bovine_sev": (0.25, 0.35),
    "microvesicle": (0.30, 0.40),
    "cell_debris": (0.30, 0.45),
    "exomere": (0.15, 0.22),
    "hdl": (0.10, 0.12),
    "ldl": (0.06, 0.08),
    "vldl": (0.20, 0.28),
    "chylomicron": (0.45, 0.60),
    "serum_protein": (0.12, 0.16),
    "secreted_protein": (0.15, 0.25),
    "protein_aggregate": (0.45, 0.65),
}
# Freeze-thaw EV clusters: k vesicles (k uniform 3-20) in a cluster of
# fractal dimension 2.1 (reaction-limited aggregation; Lin et al., Nature 1989) has a
# diameter d_ev · k^(1/2.1).
CLUSTER_SIZE_RANGE = (3, 20)
CLUSTER_FRACTAL_DIMENSION = 2.1
CLUSTER_SIGMA = 0.35

# --- Culture: conditioned medium (CM), per mL, 48 h collection ---------------------------
CELL_TYPE = "DASC"  # deer antler stem cells
# Cell sEVs: MSC-like cells release 1e3-1e4 EVs per cell and day; 5e5 cells/mL of medium over
# 48 h gives ~1e9-1e10 per mL.
CM_SEV_PER_ML = 2.5e9
CM_MICROVESICLE_PER_SEV = 0.005  # left after the 10,000 g preclearing spin of most protocols
CM_DEBRIS_PER_ML = 2e4  # left after the 300 g / 2,000 g spins; ×20-60 when viability is poor
CM_EXOMERE_PER_SEV = 2.0
CM_SECRETED_PROTEIN_UG_PER_ML = 25.0  # serum-free secretome of MSC cultures, 10-50 µg/mL
# 10 % fetal bovine serum: FBS holds ~35 g/L protein (23 g/L albumin) and about a quarter
# of adult plasma lipoproteins; adult plasma: HDL 1.5e16/mL, LDL 1e15/mL, VLDL 5e13/mL
# (Johnsen et al., Biochim Biophys Acta Rev Cancer 2019; Simonsen, Circ Res 2017).
SERUM_PROTEIN_10PCT_FBS_UG_PER_ML = 3500.0
LIPOPROTEIN_10PCT_FBS_PER_ML = {
    "hdl": 4e14,
    "ldl": 2e13,
    "vldl": 5e11,
    "chylomicron": 1e8,  # fetal serum carries almost no chylomicrons
}
# FBS is rich in bovine EVs (Shelke et al., JEV 2014); ~1e10/mL assumed, 1e9/mL at 10 %.
BOVINE_SEV_10PCT_FBS_PER_ML = 1e9

# Serum in the collection medium. EV-depleted FBS (18 h at 100,000 g) loses most bovine EVs,
# not its soluble protein or lipoproteins; "not depleted" is the failure of using complete
# medium. Serum-free collection still carries traces from the growth phase.
SERUM_MODES = ("serum_free", "ev_depleted_fbs", "fbs_not_depleted")
SERUM_MODE_PROBABILITIES = (0.60, 0.32, 0.08)
SERUM_LEVEL = {"serum_free": 0.006, "ev_depleted_fbs": 1.0, "fbs_not_depleted": 1.0}
BOVINE_SEV_LEVEL = {"serum_free": 0.003, "ev_depleted_fbs": 0.05, "fbs_not_depleted": 1.0}

# --- Isolation: fraction of each CM population recovered in the final preparation ---------
ISOLATION_METHODS = ("uc", "sec", "uc_sec", "density_gradient", "peg", "immunoaffinity")
ISOLATION_PROBABILITIES = (0.26, 0.22, 0.14, 0.10, 0.17, 0.11)
# Sources: Böing et al., JEV 2014 (SEC removes >99 % of protein, >95 % of HDL); Sódar et al., Sci
# Rep 2016 (LDL co-isolates with UC and SEC); Yuana et al., JEV 2014 and Karimi et al., Cell
# Mol Life Sci 2018 (density gradient separates LDL/VLDL, not HDL); Takov et al., JEV 2019
# (UC vs SEC); Lobb et al., JEV 2015 (UF+SEC); Rider et al., Sci Rep 2016 and Gámez-Valero
# et al., Sci Rep 2016 (polymer precipitation co-precipitates protein and lipoproteins);
# Zhang et al., Nat Cell Biol 2018 (exomeres need > 167,000 g).
RECOVERY: dict[str, dict[str, float]] = {
    "uc": {
        "sev": 0.30, "bovine_sev": 0.30, "microvesicle": 0.6, "cell_debris": 0.9,
        "exomere": 0.03, "hdl": 3e-5, "ldl": 1e-3, "vldl": 4e-3, "chylomicron": 0.02,
        "serum_protein": 2e-4, "secreted_protein": 2e-4,
    },
    "sec": {
        "sev": 0.45, "bovine_sev": 0.45, "microvesicle": 0.6, "cell_debris": 0.3,
        "exomere": 0.10, "hdl": 3e-5, "ldl": 0.02, "vldl": 0.4, "chylomicron": 0.4,
        "serum_protein": 4e-4, "secreted_protein": 4e-4,
    },
    "uc_sec": {
        "sev": 0.16, "bovine_sev": 0.16, "microvesicle": 0.4, "cell_debris": 0.3,
        "exomere": 0.01, "hdl": 1e-6, "ldl": 3e-4, "vldl": 2e-3, "chylomicron": 0.01,
        "serum_protein": 1e-5, "secreted_protein": 1e-5,
    },
    "density_gradient": {
        "sev": 0.12, "bovine_sev": 0.12, "microvesicle": 0.3, "cell_debris": 0.05,
        "exomere": 0.02, "hdl": 2e-4, "ldl": 2e-4, "vldl": 1e-4, "chylomicron": 1e-4,
        "serum_protein": 2e-5, "secreted_protein": 2e-5,
    },
    "peg": {
        "sev": 0.70, "bovine_sev": 0.70, "microvesicle": 0.8, "cell_debris": 0.9,
        "exomere": 0.60, "hdl": 2e-3, "ldl": 0.05, "vldl": 0.2, "chylomicron": 0.2,
        "serum_protein": 4e-3, "secreted_protein": 8e-3,
    },
    # Anti-CD63/CD81/CD9 beads capture tetraspanin-positive EVs; the rest sticks unspecifically.
    "immunoaffinity": {
        "sev": 0.15, "bovine_sev": 0.05, "microvesicle": 0.2, "cell_debris": 0.02,
        "exomere": 1e-3, "hdl": 1e-6, "ldl": 2e-5, "vldl": 5e-5, "chylomicron": 5e-5,
        "serum_protein": 1e-5, "secreted_protein": 1e-5,
    },
}
# CM volume over final volume (60 mL of CM; UC pellets in 100 µL; SEC fractions pooled in
# 1.5 mL; PEG pellets in 200 µL; immunoaffinity eluates of 10 mL CM in 100 µL).
CONCENTRATION_FACTOR = {
    "uc": 600.0, "sec": 40.0, "uc_sec": 40.0, "density_gradient": 300.0, "peg": 300.0,
    "immunoaffinity": 100.0,
}
# Share of the recovered soluble protein that ends up in aggregates (pelleting, PEG, low-pH
# elution aggregate protein; Linares et al., JEV 2015: high-speed centrifugation aggregates).
AGGREGATED_PROTEIN_SHARE = {
    "uc": 0.25, "sec": 0.05, "uc_sec": 0.08, "density_gradient": 0.05, "peg": 0.30,
    "immunoaffinity": 0.20,
}
# Log-normal spread (sigma of ln) of recoveries between batches and between preparations.
RECOVERY_BATCH_SIGMA = 0.5
RECOVERY_PREP_SIGMA = 0.3
# Vesicle integrity after isolation: UC shear and pelleting, low-pH elution of immunoaffinity.
INTEGRITY_RANGE = {
    "uc": (0.80, 0.95), "sec": (0.92, 1.0), "uc_sec": (0.80, 0.93),
    "density_gradient": (0.85, 0.97), "peg": (0.85, 0.97), "immunoaffinity": (0.65, 0.85),
}

# --- Failures ---------------------------------------------------------------------------
LOW_VIABILITY_PROBABILITY = 0.10  # per batch: debris ×20-60, histones, DAMPs
LOW_VIABILITY_DEBRIS_FACTOR = (20.0, 60.0)
ENDOTOXIN_PROBABILITY = 0.12  # per batch: unseen by every characterization assay
FREEZE_THAW_PROBABILITY = 0.12  # per preparation
FREEZE_THAW_CLUSTERED_SHARE = (0.2, 0.6)  # of the small EVs
SEC_OVERLOAD_PROBABILITY = 0.15  # per SEC / UC+SEC preparation
SEC_OVERLOAD_FACTOR = (10.0, 40.0)  # on soluble protein, HDL and LDL recovery

# --- The lab's DLS instruments (per batch) ----------------------------------------------
# Most labs export Zetasizer tables; some a generic CSV from another instrument (a 90°
# instrument at 640 nm such as the NanoBrook 90Plus, or a 173° one).
DLS_MISSING = 0.10  # per preparation
GENERIC_CSV_SHARE = 0.15
ZETASIZER = ("zetasizer", 632.8, 173.0)
GENERIC_GEOMETRIES = ((640.0, 90.0), (632.8, 173.0))
TEMPERATURES_C = (25.0, 20.0, 37.0)
TEMPERATURE_PROBABILITIES = (0.85, 0.07, 0.08)
REPLICATES = (2, 3, 4, 5, 6)
REPLICATE_PROBABILITIES = (0.10, 0.70, 0.10, 0.05, 0.05)

# --- Labels ------------------------------------------------------------------------------
# purity: share of EV protein in total protein.
PURITY_HIGH_MIN = 0.50
PURITY_LOW_MAX = 0.10


def purity_class(ev_protein_share: np.ndarray, high_min: float = PURITY_HIGH_MIN,
                 low_max: float = PURITY_LOW_MAX) -> np.ndarray:
    """high when ≥ ``high_min`` of the protein is EV protein (reference: 50 %), low below
    ``low_max`` (10 %), medium between."""
    share = np.asarray(ev_protein_share, dtype=float)
    return np.where(share >= high_min, "high", np.where(share < low_max, "low", "medium"))
