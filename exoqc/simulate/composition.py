"""What is in each simulated preparation: batches, isolation, failures, particle populations.

A batch is one culture run (donor, passage, collection medium) whose conditioned medium is
split into several preparations. Each preparation is isolated with one method; the method
and the batch set how much of every population of the conditioned medium is recovered, with
batch-to-batch and preparation-to-preparation spread and occasional failures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from exoqc.simulate import parameters as par
from exoqc.simulate.parameters import N_POPULATIONS, POPULATIONS
from exoqc.simulate.parameters import POPULATION_INDEX as P

if TYPE_CHECKING:  # world.py imports assays, which imports this module
    from exoqc.simulate.world import World

_NM3_TO_CM3 = 1e-21
_G_TO_UG = 1e6
MEAN_PREPS_PER_BATCH = 6


@dataclass
class Composition:
    """The true content of each preparation (one row per preparation, one column per population).

    ``preps`` holds the identifiers and the latent per-preparation facts (batch, method,
    donor, failures, integrity...), ``batches`` the culture facts of each batch. The arrays
    have shape (n_preps, n_populations), in the order of
    :data:`exoqc.simulate.parameters.POPULATIONS`.
    """

    preps: pd.DataFrame
    batches: pd.DataFrame
    number_per_ml: np.ndarray
    median_nm: np.ndarray
    sigma_ln: np.ndarray
    refractive_index: np.ndarray
    protein_density_g_per_cm3: np.ndarray

    @property
    def protein_per_particle_ug(self) -> np.ndarray:
        """Mean protein per particle: ρ·(π/6)·E[d³], E[d³] = median³·exp(4.5σ²) (log-normal)."""
        mean_volume_cm3 = (np.pi / 6 * self.median_nm**3 * np.exp(4.5 * self.sigma_ln**2)
                           * _NM3_TO_CM3)
        return self.protein_density_g_per_cm3 * mean_volume_cm3 * _G_TO_UG

    @property
    def protein_ug_per_ml(self) -> np.ndarray:
        return self.number_per_ml * self.protein_per_particle_ug

    @property
    def ev_protein_share(self) -> np.ndarray:
        protein = self.protein_ug_per_ml
        return protein[:, par.EV_POPULATIONS].sum(axis=1) / protein.sum(axis=1)


def lognormal_spread(rng: np.random.Generator, sigma: float, size) -> np.ndarray:
    """Multiplicative spread with median 1: exp(N(0, sigma²))."""
    return np.exp(rng.normal(0.0, sigma, size))


def _uniform(rng: np.random.Generator, bounds: tuple[float, float], size) -> np.ndarray:
    return rng.uniform(bounds[0], bounds[1], size)


def sample_batches(n_preps: int, seed: int, rng: np.random.Generator,
                   world: World) -> pd.DataFrame:
    """One row per batch of ``world``'s lab: culture facts shared by all its preparations.

    Batch ids carry the seed (``B<seed>-0001``) so that cohorts of different seeds never
    share a batch.
    """
    sizes: list[int] = []
    while sum(sizes) < n_preps:
        sizes.append(1 + int(rng.poisson(MEAN_PREPS_PER_BATCH - 1)))
    sizes[-1] -= sum(sizes) - n_preps
    n_batches = len(sizes)
    n_donors = max(3, n_batches // 4)
    donor_bioactivity = lognormal_spread(rng, 0.45, n_donors)
    donor_let7 = lognormal_spread(rng, 0.35, n_donors)
    donor = rng.integers(0, n_donors, n_batches)
    passage = rng.integers(3, 11, n_batches)
    serum_mode = rng.choice(par.SERUM_MODES, n_batches, p=world.serum_mode_probabilities)
    methods = np.array(par.ISOLATION_METHODS)
    primary = rng.choice(methods, n_batches, p=world.isolation_probabilities)
    # One batch in five compares two isolation methods on the same conditioned medium.
    secondary = np.where(rng.random(n_batches) < 0.2,
                         rng.choice(methods, n_batches, p=world.isolation_probabilities), primary)
    ev_ri = _uniform(rng, par.EV_REFRACTIVE_INDEX_RANGE, n_batches)
    ev_ri = np.round(ev_ri / par.REFRACTIVE_INDEX_STEP) * par.REFRACTIVE_INDEX_STEP
    return pd.DataFrame({
        "batch": [f"B{seed}-{j + 1:04d}" for j in range(n_batches)],
        "n_preps": sizes,
        "donor": [f"stag-{seed}-{d + 1:02d}" for d in donor],
        "donor_bioactivity": donor_bioactivity[donor],
        "let7_loading": donor_let7[donor] * lognormal_spread(rng, 0.2, n_batches),
        "passage": passage,
        "serum_mode": serum_mode,
        "method_primary": primary,
        "method_secondary": secondary,
        "low_viability": rng.random(n_batches) < par.LOW_VIABILITY_PROBABILITY,
        "endotoxin": np.where(rng.random(n_batches) < par.ENDOTOXIN_PROBABILITY,
                              rng.uniform(0.3, 1.0, n_batches), 0.0),
        "ev_median_nm": _uniform(rng, world.sev_median_nm, n_batches),
        "ev_sigma": _uniform(rng, par.SIZE_SIGMA["sev"], n_batches),
        "ev_refractive_index": ev_ri,
        "ev_protein_density": par.POPULATIONS[0].protein_density_g_per_cm3
        * lognormal_spread(rng, 0.3, n_batches),
        # Share of endosome-derived (CD63/ESCRT-high) vs plasma-membrane-derived (CD9/CD81-
        # high) small EVs (Kowal et al., PNAS 2016; Mathieu et al., Nat Commun 2021).
        "endosomal_share": rng.beta(5.0, 3.0, n_batches),
        # Late passages: more EVs per cell, less bioactivity (replicative senescence).
        "sev_per_ml_cm": world.cm_sev_per_ml * lognormal_spread(rng, 0.5, n_batches)
        * (1 + 0.08 * (passage - 3)),
        "serum_lot": lognormal_spread(rng, 0.3, n_batches),
    })


def sample_composition(n_preps: int, seed: int, rng: np.random.Generator, world: World,
                       batches: pd.DataFrame | None = None) -> Composition:
    """Batches, then preparations: identifiers, latent facts and particle populations.

    ``world``: the lab's culture, isolation and failure rates. ``batches`` (same columns as
    :func:`sample_batches`) replaces the drawn culture facts, as a production SOP fixes
    them (:mod:`exoqc.simulate.history`).
    """
    if batches is None:
        batches = sample_batches(n_preps, seed, rng, world)
    b = np.repeat(np.arange(len(batches)), batches["n_preps"].to_numpy())
    batch = batches.iloc[b].reset_index(drop=True)
    n = n_preps
    method = np.where(rng.random(n) < 0.5, batch["method_secondary"], batch["method_primary"])
    comp = Composition(
        preps=pd.DataFrame(), batches=batches, number_per_ml=np.zeros((n, N_POPULATIONS)),
        **_particle_properties(batch, rng),
    )
    recovery, sec_overload = _recovery(method, b, len(batches), rng, world)
    concentration = (np.array([par.CONCENTRATION_FACTOR[m] for m in method])
                     * lognormal_spread(rng, 0.25, n))
    number = _conditioned_medium(batch, comp.protein_per_particle_ug, rng) * recovery
    number *= concentration[:, None]
    serum_share_of_aggregates = _aggregate_soluble_protein(comp, number, method, rng)
    clustered = _freeze_thaw(comp, number, rng, world.freeze_thaw_probability)

    lo, hi = np.array([par.INTEGRITY_RANGE[m] for m in method]).T
    comp.number_per_ml = number
    comp.preps = pd.DataFrame({
        "prep_id": [f"P{seed}-{i + 1:05d}" for i in range(n)],
        "batch": batch["batch"],
        "batch_index": b,
        "isolation_method": method,
        "donor": batch["donor"],
        "passage": batch["passage"],
        "serum_mode": batch["serum_mode"],
        "low_viability": batch["low_viability"],
        "endotoxin": batch["endotoxin"],
        "sec_overloaded": sec_overload,
        "freeze_thaw": clustered > 0,
        "clustered_ev_share": clustered,
        "integrity": rng.uniform(lo, hi) * (1 - 0.6 * clustered),
        # Late passages lose bioactivity (replicative senescence of MSC-like cells).
        "donor_bioactivity": batch["donor_bioactivity"]
        * np.exp(-0.06 * (batch["passage"].to_numpy() - 3)),
        "let7_loading": batch["let7_loading"] * lognormal_spread(rng, 0.15, n),
        "endosomal_share": np.clip(batch["endosomal_share"] + rng.normal(0, 0.05, n), 0.05, 0.95),
        "serum_share_of_aggregates": serum_share_of_aggregates,
    })
    return comp


def _particle_properties(batch: pd.DataFrame, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Size distribution, refractive index and protein density of every population."""
    n = len(batch)
    median = np.zeros((n, N_POPULATIONS))
    sigma = np.zeros((n, N_POPULATIONS))
    # Small EVs are drawn here too and replaced by their batch's below: the draw keeps the
    # random stream, and so every cohort, as it was.
    for name, k in P.items():
        if name in par.SIZE_MEDIAN_NM:
            median[:, k] = _uniform(rng, par.SIZE_MEDIAN_NM[name], n)
            sigma[:, k] = _uniform(rng, par.SIZE_SIGMA[name], n)
    median[:, P["sev"]] = batch["ev_median_nm"].to_numpy() * lognormal_spread(rng, 0.04, n)
    sigma[:, P["sev"]] = batch["ev_sigma"].to_numpy()
    ri = np.tile([p.refractive_index or 0.0 for p in POPULATIONS], (n, 1))
    ri[:, P["sev"]] = batch["ev_refractive_index"].to_numpy()
    rho = np.tile([p.protein_density_g_per_cm3 for p in POPULATIONS], (n, 1))
    rho[:, P["sev"]] = batch["ev_protein_density"].to_numpy()
    rho[:, P["microvesicle"]] = rho[:, P["sev"]]
    rho[:, P["bovine_sev"]] *= lognormal_spread(rng, 0.2, n)
    return {"median_nm": median, "sigma_ln": sigma, "refractive_index": ri,
            "protein_density_g_per_cm3": rho}


def _recovery(method: np.ndarray, batch_index: np.ndarray, n_batches: int,
              rng: np.random.Generator, world: World) -> tuple[np.ndarray, np.ndarray]:
    """Recovered fraction of each population: the method's value × batch × prep spread,
    with overloaded SEC columns letting through 10-40 × more soluble protein, HDL and LDL."""
    n = len(method)
    recovery = np.array([[par.RECOVERY[m].get(p.name, 0.0) for p in POPULATIONS]
                         for m in method])
    recovery *= lognormal_spread(rng, world.recovery_batch_sigma,
                                 (n_batches, N_POPULATIONS))[batch_index]
    recovery *= lognormal_spread(rng, world.recovery_prep_sigma, (n, N_POPULATIONS))
    sec_overload = (np.isin(method, ("sec", "uc_sec"))
                    & (rng.random(n) < world.sec_overload_probability))
    overload = np.where(sec_overload, _uniform(rng, par.SEC_OVERLOAD_FACTOR, n), 1.0)
    for name in ("serum_protein", "secreted_protein", "hdl", "ldl"):
        recovery[:, P[name]] *= overload
    return np.minimum(recovery, 1.0), sec_overload


def _conditioned_medium(batch: pd.DataFrame, protein_per_particle_ug: np.ndarray,
                        rng: np.random.Generator) -> np.ndarray:
    """Particles per mL of conditioned medium, per population (dissolved protein as
    molecules of the population's size)."""
    n = len(batch)
    serum_level = np.array([par.SERUM_LEVEL[m] for m in batch["serum_mode"]])
    bovine_level = np.array([par.BOVINE_SEV_LEVEL[m] for m in batch["serum_mode"]])
    serum_lot = batch["serum_lot"].to_numpy()
    low_viability = batch["low_viability"].to_numpy()
    sev = batch["sev_per_ml_cm"].to_numpy()
    cm = np.zeros((n, N_POPULATIONS))
    cm[:, P["sev"]] = sev
    cm[:, P["bovine_sev"]] = par.BOVINE_SEV_10PCT_FBS_PER_ML * bovine_level * serum_lot
    cm[:, P["microvesicle"]] = (sev * par.CM_MICROVESICLE_PER_SEV
                                * lognormal_spread(rng, 0.4, n))
    cm[:, P["cell_debris"]] = (par.CM_DEBRIS_PER_ML * lognormal_spread(rng, 0.7, n)
                               * np.where(low_viability,
                                          _uniform(rng, par.LOW_VIABILITY_DEBRIS_FACTOR, n), 1.0))
    cm[:, P["exomere"]] = sev * par.CM_EXOMERE_PER_SEV * lognormal_spread(rng, 0.5, n)
    for name, per_ml in par.LIPOPROTEIN_10PCT_FBS_PER_ML.items():
        cm[:, P[name]] = per_ml * serum_level * serum_lot
    serum_ug = (par.SERUM_PROTEIN_10PCT_FBS_UG_PER_ML * serum_level
                * lognormal_spread(rng, 0.15, n))
    # Dying cells release more of their protein.
    secreted_ug = (par.CM_SECRETED_PROTEIN_UG_PER_ML * lognormal_spread(rng, 0.4, n)
                   * np.where(low_viability, 2.0, 1.0))
    cm[:, P["serum_protein"]] = serum_ug / protein_per_particle_ug[:, P["serum_protein"]]
    cm[:, P["secreted_protein"]] = secreted_ug / protein_per_particle_ug[:, P["secreted_protein"]]
    return cm


def _aggregate_soluble_protein(comp: Composition, number: np.ndarray, method: np.ndarray,
                               rng: np.random.Generator) -> np.ndarray:
    """Move part of the recovered soluble protein into aggregates (in place); returns the
    serum share of the aggregated protein (it sets their albumin content)."""
    soluble = [P["serum_protein"], P["secreted_protein"]]
    per_particle = comp.protein_per_particle_ug
    aggregated = np.minimum(np.array([par.AGGREGATED_PROTEIN_SHARE[m] for m in method])
                            * lognormal_spread(rng, 0.5, len(method)), 0.8)
    soluble_ug = number[:, soluble] * per_particle[:, soluble]
    number[:, soluble] *= (1 - aggregated)[:, None]
    number[:, P["protein_aggregate"]] = (soluble_ug.sum(axis=1) * aggregated
                                         / per_particle[:, P["protein_aggregate"]])
    return soluble_ug[:, 0] / np.maximum(soluble_ug.sum(axis=1), 1e-30)


def _freeze_thaw(comp: Composition, number: np.ndarray, rng: np.random.Generator,
                 probability: float) -> np.ndarray:
    """Cluster part of the small EVs of some preparations into fractal aggregates of k
    vesicles (in place); returns the clustered share of small EVs (0 without freeze-thaw)."""
    n = len(number)
    sev, cluster = P["sev"], P["ev_cluster"]
    clustered = np.where(rng.random(n) < probability,
                         _uniform(rng, par.FREEZE_THAW_CLUSTERED_SHARE, n), 0.0)
    k = rng.integers(par.CLUSTER_SIZE_RANGE[0], par.CLUSTER_SIZE_RANGE[1] + 1, n)
    ev_protein_ug = comp.protein_per_particle_ug[:, sev]
    comp.median_nm[:, cluster] = comp.median_nm[:, sev] * k ** (1 / par.CLUSTER_FRACTAL_DIMENSION)
    comp.sigma_ln[:, cluster] = par.CLUSTER_SIGMA
    cluster_volume_cm3 = (np.pi / 6 * comp.median_nm[:, cluster] ** 3
                          * np.exp(4.5 * par.CLUSTER_SIGMA**2) * _NM3_TO_CM3)
    comp.protein_density_g_per_cm3[:, cluster] = k * ev_protein_ug / _G_TO_UG / cluster_volume_cm3
    number[:, cluster] = number[:, sev] * clustered / k
    number[:, sev] *= 1 - clustered
    return clustered
