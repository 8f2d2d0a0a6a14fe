"""What a lab measures on each simulated preparation, and what the cells do with it.

Counts: NTA (particles/mL; sees particles whose scattering exceeds a camera threshold, with
its own bias) and BCA (all protein; lipids interfere). Markers: Western blot densitometry,
ELISA or label-free proteomics on the protein panel the batch's lab uses. Cargo: let-7a /
let-7b ΔCt. Function: the seven assay readouts, driven by a latent potency model, and the
two labels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from exoqc.simulate.composition import Composition, lognormal_spread
from exoqc.simulate.dls import DIAMETER_GRID_NM, mie_intensity_table, size_distribution
from exoqc.simulate.parameters import POPULATION_INDEX as POP

if TYPE_CHECKING:  # world.py takes its reference values from this module
    from exoqc.simulate.world import World

# --- NTA ------------------------------------------------------------------------------
NTA_WAVELENGTH_NM = 488.0  # NanoSight NS300 blue laser module
NTA_ANGLE_DEG = 90.0  # the camera looks at right angles to the beam
NTA_THRESHOLD_DIAMETER_NM = (50.0, 80.0)  # EV (n = 1.39) detected half the time
NTA_THRESHOLD_SLOPE = 1.5  # logistic in ln(intensity)
NTA_UPPER_DIAMETER_NM = 1000.0  # larger particles settle and leave focus: half are counted
NTA_BATCH_BIAS_SIGMA = 0.15
NTA_REPEATABILITY = 0.07
NTA_MISSING = 0.08

# --- BCA ------------------------------------------------------------------------------
# Lipids reduce Cu(II) too (Kessler & Fanestil, Anal Biochem 1986): 0.1 µg apparent protein
# per µg lipoprotein lipid. Micro BCA reads down to 0.5 µg/mL.
BCA_LIPID_RESPONSE = 0.1
BCA_LIMIT_UG_PER_ML = 0.5
BCA_BATCH_BIAS_SIGMA = 0.08
BCA_REPEATABILITY = 0.05
BCA_MISSING = 0.06
LIPOPROTEIN_PROTEIN_FRACTION = {"hdl": 0.50, "ldl": 0.22, "vldl": 0.10, "chylomicron": 0.015}

# --- Markers ----------------------------------------------------------------------------
PANEL_MARKERS = ("CD63", "CD81", "CD9", "TSG101", "PDCD6IP", "SDCBP", "FLOT1", "APOA1",
                 "APOB", "ALB", "CANX", "GOLGA2", "HSPA5", "H3C1")
# Relative amount of each marker per µg of a population's protein. Small EVs depend on the
# endosomal share e (see :func:`marker_abundance`); the rest are fixed.
_FIXED_ABUNDANCE: dict[str, dict[str, float]] = {
    "microvesicle": {"CD63": 0.2, "CD81": 0.5, "CD9": 0.9, "TSG101": 0.2, "PDCD6IP": 0.2,
                     "SDCBP": 0.2, "FLOT1": 0.8, "CANX": 0.05, "GOLGA2": 0.02, "HSPA5": 0.08,
                     "H3C1": 0.03},
    # Cell fragments hold every compartment, ESCRT proteins included.
    "cell_debris": {"CD63": 0.1, "CD81": 0.1, "CD9": 0.15, "TSG101": 0.15, "PDCD6IP": 0.2,
                    "SDCBP": 0.1, "FLOT1": 0.2, "CANX": 1.0, "GOLGA2": 0.6, "HSPA5": 1.0,
                    "H3C1": 1.2},
    # ApoA-I is ~70 % of HDL protein, ApoB-100 ~95 % of LDL, ApoB ~35 % of VLDL,
    # ApoB-48 ~20 % of chylomicron protein.
    "hdl": {"APOA1": 3.0},
    "ldl": {"APOB": 3.0},
    "vldl": {"APOB": 1.2, "APOA1": 0.05},
    "chylomicron": {"APOB": 0.5, "APOA1": 0.6},
    "serum_protein": {"ALB": 2.0},  # albumin is ~60 % of serum protein
    "secreted_protein": {"HSPA5": 0.02},
}
MARKER_NAMES: dict[str, tuple[str, ...]] = {
    "CD63": ("CD63", "LAMP3"), "CD81": ("CD81", "TAPA1"), "CD9": ("CD9",),
    "TSG101": ("TSG101", "Tsg101"), "PDCD6IP": ("ALIX", "Alix", "PDCD6IP", "AIP1"),
    "SDCBP": ("syntenin-1", "Syntenin", "SDCBP"), "FLOT1": ("flotillin-1", "Flotillin 1", "FLOT1"),
    "APOA1": ("APOA1", "ApoA-I", "apoA1"), "APOB": ("APOB", "ApoB-100", "apo B"),
    "ALB": ("albumin", "BSA", "ALB"), "CANX": ("calnexin", "Calnexin", "CANX", "CNX"),
    "GOLGA2": ("GM130", "GOLGA2"), "HSPA5": ("GRP78", "BiP", "HSPA5"),
    "H3C1": ("histone H3", "Histone H3", "H3"),
}
PANELS: dict[str, tuple[str, tuple[str, ...]]] = {
    "wb_basic": ("wb", ("CD63", "TSG101", "CANX")),
    "wb_misev": ("wb", ("CD63", "CD81", "CD9", "TSG101", "PDCD6IP", "FLOT1", "APOA1", "ALB",
                        "CANX", "GOLGA2")),
    "wb_lipoprotein": ("wb", ("CD63", "CD9", "PDCD6IP", "SDCBP", "APOA1", "APOB", "ALB",
                              "CANX", "HSPA5", "H3C1")),
    "elisa": ("elisa", ("CD63", "CD81", "CD9", "ALB", "APOA1")),
    "ms": ("ms", PANEL_MARKERS),
}
PANEL_PROBABILITIES = {"wb_basic": 0.22, "wb_misev": 0.25, "wb_lipoprotein": 0.18,
                       "elisa": 0.13, "ms": 0.12, "none": 0.10}
PREP_WITHOUT_MARKERS = 0.05
MARKER_MISSING = 0.04  # a lane or antibody that failed: no row
ANTIBODY_LOT_SIGMA = 0.3
WB_LANES_PER_BLOT = 10
WB_MAX_LOAD_UG = 20.0
WB_MAX_VOLUME_UL = 30.0
WB_SATURATION_AU = 5e4
ELISA_LOD_PG_PER_ML = 20.0
ELISA_ULOQ_PG_PER_ML = 5000.0

# --- Cargo ------------------------------------------------------------------------------
CARGO_BATCH_PROBABILITY = 0.55
CARGO_TARGETS = (("let-7a", "let-7b"), ("hsa-let-7a-5p", "hsa-let-7b-5p"),
                 ("let-7a-5p", "let-7b-5p"))
SPIKE_IN_CT = 22.0  # cel-miR-39 spike-in, ΔCt = Ct(let-7) − Ct(spike-in)
CT_LIMIT = 37.0  # later than this the well is "Undetermined"

# --- Function and labels ------------------------------------------------------------------
ASSAY_DOSE_UG_PER_ML = 50.0  # cells receive a fixed total protein dose, as most labs dose
EV_EC50_UG_PER_ML = 5.0
READOUT_SIGNS = {"cck8_fold": 1, "migration_fold": 1, "runx2_fold": 1, "osterix_fold": 1,
                 "tnfa_fold": -1, "il6_fold": -1, "il10_fold": 1}
POTENCY_MIN = 0.25  # mean signed log2 fold change


def _significant(values: np.ndarray, digits: int = 4) -> list[str]:
    return [f"{v:.{digits}g}" for v in values]


# --- counts -----------------------------------------------------------------------------

def nta_efficiency(comp: Composition, threshold_diameter_nm: np.ndarray) -> np.ndarray:
    """Fraction of each population's particles that NTA counts: (n_preps, n_populations).

    A particle is seen when its scattering at 90° (488 nm) exceeds the camera threshold, set
    per batch as the intensity of an EV (n = 1.39) of ``threshold_diameter_nm``: detection
    probability 1 / (1 + (I_threshold / I)^1.5). Particles above 1 µm are counted half the time.
    """
    efficiency = np.empty(comp.number_per_ml.shape)
    for k, seen in nta_seen_fractions(comp, threshold_diameter_nm):
        efficiency[:, k] = seen.sum(axis=1)
    return efficiency


def nta_seen_fractions(comp: Composition, threshold_diameter_nm: np.ndarray):
    """For each population k: (k, the fraction of its particles in each diameter-grid bin
    that NTA counts), shape (n_preps, n_grid); see :func:`nta_efficiency`."""
    indices = np.unique(comp.refractive_index)
    table = np.log(mie_intensity_table(np.append(indices, 1.39), NTA_WAVELENGTH_NM,
                                       NTA_ANGLE_DEG))
    log_threshold = np.interp(np.log(threshold_diameter_nm), np.log(DIAMETER_GRID_NM), table[-1])
    in_range = np.where(DIAMETER_GRID_NM > NTA_UPPER_DIAMETER_NM, 0.5, 1.0)
    for k in range(comp.number_per_ml.shape[1]):
        grid_fraction = size_distribution(comp.median_nm[:, k], comp.sigma_ln[:, k])
        log_intensity = table[np.searchsorted(indices, comp.refractive_index[:, k])]
        seen = 1.0 / (1.0 + np.exp(-NTA_THRESHOLD_SLOPE * (log_intensity - log_threshold[:, None])))
        yield k, grid_fraction * seen * in_range


def measure_counts(comp: Composition, batch_index: np.ndarray, n_batches: int,
                   rng: np.random.Generator) -> pd.DataFrame:
    """NTA particles/mL and BCA protein µg/mL as a lab reports them (NaN: not measured)."""
    n = len(batch_index)
    threshold = rng.uniform(*NTA_THRESHOLD_DIAMETER_NM, n_batches)[batch_index]
    nta_bias = lognormal_spread(rng, NTA_BATCH_BIAS_SIGMA, n_batches)[batch_index]
    seen = (comp.number_per_ml * nta_efficiency(comp, threshold)).sum(axis=1)
    particles = seen * nta_bias * (1 + rng.normal(0, NTA_REPEATABILITY, n))
    particles = np.where(rng.random(n) < NTA_MISSING, np.nan, particles)

    protein = comp.protein_ug_per_ml
    lipid = sum(protein[:, POP[name]] * (1 - f) / f
                for name, f in LIPOPROTEIN_PROTEIN_FRACTION.items())
    bca_bias = lognormal_spread(rng, BCA_BATCH_BIAS_SIGMA, n_batches)[batch_index]
    bca = ((protein.sum(axis=1) + BCA_LIPID_RESPONSE * lipid) * bca_bias
           * (1 + rng.normal(0, BCA_REPEATABILITY, n)) + rng.normal(0, 0.2, n))
    bca = np.maximum(bca, BCA_LIMIT_UG_PER_ML)
    # Which assays reach the file is independent of quality: a lab that does not report
    # its BCA still loaded blots and dosed cells by it (``bca_reading_ug_per_ml``).
    reported = np.where(rng.random(n) < BCA_MISSING, np.nan, bca)
    return pd.DataFrame({"particles_per_ml": particles, "protein_ug_per_ml": reported,
                         "bca_reading_ug_per_ml": bca, "nta_threshold_nm": threshold,
                         "nta_batch_bias": nta_bias})


# --- markers ----------------------------------------------------------------------------

REFERENCE_LAB_SEED = 2018
"""Seed of the reference lab's per-marker antibody affinity and MS detectability."""

def marker_abundance(comp: Composition) -> np.ndarray:
    """Amount of each panel marker per µg of total protein: (n_preps, n_markers).

    Small EVs (cell and bovine, and their clusters) carry CD63 and ESCRT-associated TSG101 /
    ALIX / syntenin in proportion to their endosomal share e, CD9 / CD81 in proportion to
    1 − e; flotillin-1 in both. Immunoaffinity captures tetraspanin-rich vesicles (×1.5).
    """
    n = len(comp.preps)
    e = comp.preps["endosomal_share"].to_numpy()
    immuno = (comp.preps["isolation_method"] == "immunoaffinity").to_numpy()
    share = comp.protein_ug_per_ml / comp.protein_ug_per_ml.sum(axis=1, keepdims=True)
    abundance = np.zeros((n, len(PANEL_MARKERS)))
    col = {m: i for i, m in enumerate(PANEL_MARKERS)}

    def small_ev(endosomal: np.ndarray, tetraspanin_gain: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "CD63": (0.3 + 1.4 * endosomal) * tetraspanin_gain,
            "CD81": (0.3 + 1.4 * (1 - endosomal)) * tetraspanin_gain,
            "CD9": (0.3 + 1.4 * (1 - endosomal)) * tetraspanin_gain,
            "TSG101": 0.2 + 1.0 * endosomal, "PDCD6IP": 0.3 + 1.0 * endosomal,
            "SDCBP": 0.3 + 1.0 * endosomal, "FLOT1": np.full(n, 0.6),
            "CANX": np.full(n, 0.01), "GOLGA2": np.full(n, 0.005),
            "HSPA5": np.full(n, 0.03), "H3C1": np.full(n, 0.01),
        }

    gain = np.where(immuno, 1.5, 1.0)
    cell_ev = small_ev(e, gain)
    bovine_ev = small_ev(np.full(n, 0.6), np.ones(n))
    for marker, values in cell_ev.items():
        abundance[:, col[marker]] += values * (share[:, POP["sev"]] + share[:, POP["ev_cluster"]])
        abundance[:, col[marker]] += bovine_ev[marker] * share[:, POP["bovine_sev"]]
    for population, markers in _FIXED_ABUNDANCE.items():
        for marker, value in markers.items():
            abundance[:, col[marker]] += value * share[:, POP[population]]
    serum_part = comp.preps["serum_share_of_aggregates"].to_numpy()
    aggregate_share = share[:, POP["protein_aggregate"]]
    abundance[:, col["ALB"]] += 2.0 * serum_part * aggregate_share
    abundance[:, col["HSPA5"]] += 0.02 * (1 - serum_part) * aggregate_share
    return abundance


def measure_markers(comp: Composition, counts: pd.DataFrame, batches: pd.DataFrame,
                    batch_index: np.ndarray, rng: np.random.Generator, world: World
                    ) -> tuple[pd.DataFrame, pd.Series]:
    """markers.csv rows (prep_id, marker, intensity, assay, run, unit) and each batch's panel.

    Every batch uses ``world.marker_panel`` when it is set, as a production lab's SOP does;
    otherwise each batch draws its panel from ``world.panel_probabilities``.
    """
    abundance = marker_abundance(comp)
    total_protein = comp.protein_ug_per_ml.sum(axis=1)
    # The lab loads and dilutes by its own BCA reading, reported or not.
    believed_protein = counts["bca_reading_ug_per_ml"].to_numpy()
    prep_ids = comp.preps["prep_id"].to_numpy()
    # The lab's antibodies and mass spectrometer are the same for every cohort: cohorts of
    # different seeds are new batches of one lab, so a model trained on one can score the
    # others (antibody lots still vary per batch, below).
    lab = np.random.default_rng(REFERENCE_LAB_SEED)
    affinity = dict(zip(PANEL_MARKERS, lognormal_spread(lab, 0.5, len(PANEL_MARKERS)),
                        strict=True))
    detectability = dict(zip(PANEL_MARKERS, lognormal_spread(lab, 0.7, len(PANEL_MARKERS)),
                             strict=True))
    panel_of_batch = (np.full(len(batches), world.marker_panel)
                      if world.marker_panel is not None else
                      rng.choice(list(world.panel_probabilities), len(batches),
                                 p=list(world.panel_probabilities.values())))
    rows: list[tuple[str, str, str, str, str, str]] = []
    for b, panel in enumerate(panel_of_batch):
        members = np.flatnonzero(batch_index == b)
        members = members[rng.random(len(members)) >= PREP_WITHOUT_MARKERS]
        if panel == "none" or len(members) == 0:
            continue
        assay, markers = PANELS[panel]
        spelling = {m: m if assay == "ms" else str(rng.choice(MARKER_NAMES[m])) for m in markers}
        batch = str(batches.at[b, "batch"])
        columns = np.array([PANEL_MARKERS.index(m) for m in markers])
        per_ug = abundance[np.ix_(members, columns)]
        if assay == "ms":
            runs = [(f"{batch}-MS1", members, _proteomics(
                per_ug * np.array([detectability[m] for m in markers]), rng))]
            units = ["LFQ intensity"] * len(markers)
        else:
            lot = lognormal_spread(rng, ANTIBODY_LOT_SIGMA, len(markers))
            signal = per_ug * np.array([affinity[m] for m in markers]) * lot
            if assay == "wb":
                runs = _western_blots(batch, members, signal, total_protein, believed_protein,
                                      rng)
                units = ["AU"] * len(markers)
            else:
                values = _elisa(signal * total_protein[members, None] * 1000.0,
                                believed_protein[members], rng)
                units = ["ng/mL" if m in ("ALB", "APOA1") else "pg/mL" for m in markers]
                values = np.where(np.array(units) == "ng/mL", values / 1000.0, values)
                runs = [(f"{batch}-ELISA1", members, values)]
        for run, lanes, values in runs:
            for i, lane in enumerate(lanes):
                for j, marker in enumerate(markers):
                    if rng.random() < MARKER_MISSING:
                        continue
                    text = "0" if values[i, j] <= 0 else f"{values[i, j]:.4g}"
                    rows.append((prep_ids[lane], spelling[marker], text, assay, run, units[j]))
    table = pd.DataFrame(rows, columns=["prep_id", "marker", "intensity", "assay", "run", "unit"])
    return table, pd.Series(panel_of_batch, index=batches["batch"])


def _western_blots(batch: str, members: np.ndarray, signal_per_ug: np.ndarray,
                   total_protein: np.ndarray, believed_protein: np.ndarray,
                   rng: np.random.Generator) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(run, lanes, band values) of each blot of up to 10 lanes of one batch.

    Equal loading of 20 µg by the lab's BCA value, limited by the well volume: dilute
    preparations load less, and a BCA error loads more or less than intended.
    """
    blots = []
    for k, start in enumerate(range(0, len(members), WB_LANES_PER_BLOT), start=1):
        lanes = members[start:start + WB_LANES_PER_BLOT]
        load_ug = np.minimum(WB_MAX_LOAD_UG * total_protein[lanes] / believed_protein[lanes],
                             WB_MAX_VOLUME_UL * 1e-3 * total_protein[lanes])
        signal = signal_per_ug[start:start + WB_LANES_PER_BLOT] * load_ug[:, None]
        blots.append((f"{batch}-WB{k}", lanes, _western_blot(signal, rng)))
    return blots


def _proteomics(abundance: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Label-free intensities of one MS run: a run scale of 1e7-1e9, 25 % noise and
    intensity-dependent detection (logistic in ln intensity around the run's 10th
    percentile); undetected proteins are 0."""
    lfq = abundance * 10 ** rng.uniform(7, 9) * lognormal_spread(rng, 0.25, abundance.shape)
    positive = lfq[lfq > 0]
    if positive.size == 0:
        return lfq
    log_threshold = np.log(np.quantile(positive, 0.1)) + rng.normal(0, 0.3)
    with np.errstate(divide="ignore"):
        detection = 1 / (1 + np.exp(-(np.log(lfq) - log_threshold) / 0.4))
    return np.where(rng.random(lfq.shape) < detection, lfq, 0.0)


def _western_blot(signal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Densitometry of one blot: one exposure for the membrane, background, saturation.

    The exposure brings the strongest band to 0.4-1.5 × the saturation level (a scientist
    exposes for the bands of interest). Background subtraction leaves an error of 3 % of the
    background; bands under three times that are not detected (0).
    """
    exposure = rng.uniform(0.4, 1.5) * WB_SATURATION_AU / max(signal.max(), 1e-30)
    background = rng.uniform(500.0, 3000.0)
    band = WB_SATURATION_AU * (1 - np.exp(-signal * exposure / WB_SATURATION_AU))
    residual_sd = 0.03 * background
    measured = (band * (1 + rng.normal(0, 0.05, signal.shape))
                + rng.normal(0, residual_sd, signal.shape))
    return np.where(measured > 3 * residual_sd, measured, 0.0)


def _elisa(concentration: np.ndarray, believed_protein: np.ndarray,
           rng: np.random.Generator) -> np.ndarray:
    """Sandwich ELISA of one plate: the lab dilutes by its BCA value (10^⌈log10(µg/mL / 20)⌉),
    reads inside LoD-ULOQ (saturating at the ULOQ) and back-calculates."""
    dilution = 10.0 ** np.clip(np.ceil(np.log10(believed_protein / 20.0)), 0, 4)
    reading = concentration / dilution[:, None] * lognormal_spread(rng, 0.1, 1)[0]
    reading = reading * (1 + rng.normal(0, 0.08, reading.shape))
    reading = np.minimum(reading, ELISA_ULOQ_PG_PER_ML)
    return np.where(reading >= ELISA_LOD_PG_PER_ML, reading * dilution[:, None], 0.0)


# --- cargo ------------------------------------------------------------------------------

def measure_cargo(comp: Composition, batches: pd.DataFrame, batch_index: np.ndarray,
                  rng: np.random.Generator) -> pd.DataFrame:
    """cargo.csv rows: let-7a / let-7b ΔCt vs a spike-in, from RNA of a fixed protein input.

    Relative let-7 per µg of total protein: cell EVs carry the batch's loading (less when
    vesicles leaked: × (0.5 + 0.5·integrity)), serum EVs 0.3, cell debris 2.0 (cellular RNA).
    ΔCt = 4 − log2(amount) + plate offset + well noise (pure EVs: Ct ≈ 26 for a spike-in at
    Ct 22); later than Ct 37 is "Undetermined".
    """
    share = comp.protein_ug_per_ml / comp.protein_ug_per_ml.sum(axis=1, keepdims=True)
    integrity = comp.preps["integrity"].to_numpy()
    loading = comp.preps["let7_loading"].to_numpy()
    cell_ev = share[:, POP["sev"]] + share[:, POP["ev_cluster"]] + share[:, POP["microvesicle"]]
    measured_batch = rng.random(len(batches)) < CARGO_BATCH_PROBABILITY
    targets = rng.integers(0, len(CARGO_TARGETS), len(batches))
    let7b_ratio = lognormal_spread(rng, 0.3, len(batches))
    plate = rng.normal(0, 0.3, len(batches))
    rows = []
    for i, prep_id in enumerate(comp.preps["prep_id"]):
        b = batch_index[i]
        if not measured_batch[b] or rng.random() < 0.1:
            continue
        for t, ratio in enumerate((1.0, let7b_ratio[b])):
            amount = (cell_ev[i] * loading[i] * ratio * (0.5 + 0.5 * integrity[i])
                      + 0.3 * share[i, POP["bovine_sev"]] + 2.0 * share[i, POP["cell_debris"]]
                      + 1e-5)
            delta_ct = 4.0 - np.log2(amount) + plate[b] + rng.normal(0, 0.3)
            text = "Undetermined" if delta_ct + SPIKE_IN_CT > CT_LIMIT else f"{delta_ct:.2f}"
            rows.append((prep_id, CARGO_TARGETS[targets[b]][t], text))
    return pd.DataFrame(rows, columns=["prep_id", "target", "delta_ct"])


# --- function ---------------------------------------------------------------------------

def potency(comp: Composition, measured_protein: np.ndarray, batch_index: np.ndarray,
            rng: np.random.Generator, world: World) -> pd.DataFrame:
    """Latent potency, the seven readouts (fold change vs control) and ``potency_class``.

    Cells receive 50 µg/mL of total protein as measured by the lab's BCA. Effects (log2 fold):
    a saturating response h(E) = E/(E + 10 µg/mL) to the effective dose E of cell-EV protein
    (× integrity × donor bioactivity); osteogenic genes respond to E × let-7 loading;
    co-dosed serum proteins raise proliferation and migration; endotoxin and DAMPs (debris,
    histones, aggregates) raise TNF-α and IL-6 and lower IL-10 / osteogenesis.
    """
    n = len(comp.preps)
    protein = comp.protein_ug_per_ml
    total = protein.sum(axis=1)
    dose = ASSAY_DOSE_UG_PER_ML * total / measured_protein
    share = protein / total[:, None]
    p = comp.preps
    cell_ev = share[:, POP["sev"]] + share[:, POP["ev_cluster"]] + share[:, POP["microvesicle"]]
    effective = dose * cell_ev * p["integrity"].to_numpy() * p["donor_bioactivity"].to_numpy()
    loading = p["let7_loading"].to_numpy()

    def h(x: np.ndarray) -> np.ndarray:
        return x / (x + world.ev_ec50_ug_per_ml)

    serum = dose * share[:, [POP[k] for k in ("serum_protein", "hdl", "ldl", "vldl")]].sum(axis=1)
    serum_boost = serum / (serum + 20.0)
    debris = dose * share[:, POP["cell_debris"]]
    aggregates = dose * share[:, POP["protein_aggregate"]]
    damp = debris / (debris + 1.0) + 0.5 * aggregates / (aggregates + 20.0)
    endotoxin = p["endotoxin"].to_numpy() + np.where(p["isolation_method"] == "peg", 0.05, 0.0)
    plate = rng.normal(0, 0.1, (batch_index.max() + 1, 7))[batch_index]

    def noise(k: int, sd: float) -> np.ndarray:
        return plate[:, k] + rng.normal(0, sd, n)

    log2 = {
        "cck8_fold": 0.9 * h(effective) + 0.35 * serum_boost - 0.4 * endotoxin + noise(0, 0.12),
        "migration_fold": 0.8 * h(effective) + 0.25 * serum_boost + noise(1, 0.20),
        "runx2_fold": 1.1 * h(effective * loading) - 0.3 * damp + noise(2, 0.20),
        "osterix_fold": 1.0 * h(effective * loading) - 0.3 * damp + noise(3, 0.22),
        "tnfa_fold": -0.8 * h(effective) + 2.0 * endotoxin + 0.9 * damp + noise(4, 0.25),
        "il6_fold": -0.6 * h(effective) + 1.5 * endotoxin + 0.6 * damp + noise(5, 0.25),
        "il10_fold": 0.9 * h(effective) - 0.5 * endotoxin + noise(6, 0.25),
    }
    folds = pd.DataFrame({k: np.round(2.0 ** v, 3) for k, v in log2.items()})
    folds = folds.clip(lower=0.001)
    composite = sum(sign * np.log2(folds[k]) for k, sign in READOUT_SIGNS.items()) / 7
    folds["potency_class"] = np.where(composite >= world.potency_min, "potent", "subpotent")
    folds["potency_composite"] = composite
    folds["effective_ev_dose_ug_per_ml"] = effective
    return folds
