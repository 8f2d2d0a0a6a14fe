"""Production histories: one lab's batches over time, with a documented process change.

A production history is what ``exoqc monitor`` watches: one preparation per production
batch (lot), made by one standard operating procedure (SOP) of the reference lab, two
batches a week, each with a ``production_date``. The SOP: one master cell bank (one
donor), passage 4-6, collection in EV-depleted FBS from one qualified serum lot, SEC
isolation with a fixed column load (never overloaded, recoveries spread 0.2 in log
rather than the reference lab's 0.58) and no freeze-thaw, the MISEV
Western blot panel, DLS on one Zetasizer (173°, 632.8 nm, 25 °C, three records).

Each scenario injects one process change at a known batch (default: the middle one):

``in_control``
    nothing changes.
``serum_lot``
    a new FBS lot, lipoprotein-rich: 3× the lipoproteins and bovine EVs of the qualified
    lot (the ``serum_lot`` factor of the simulator) from the change on.
``sec_aging``
    an aging SEC column: soluble protein, HDL, LDL and their aggregates come through
    1 + 0.1·k times more at the k-th batch after the change (a slow drift).
``passage_creep``
    the cells are kept in culture longer: passage rises by one every 3 batches after the
    change (more EVs per cell, less bioactivity; the simulator's passage effects).
``dls_instrument``
    a new DLS instrument: a 90° instrument at 640 nm exporting generic CSV correlograms
    (one record) instead of the 173° Zetasizer.

``simulation_truth.csv`` holds the true composition of each batch (as for a cohort) plus
``production_date``, ``process_change`` (the scenario's change where it acts, else empty),
``change_start_batch`` (1-based batch number of the first changed batch; empty for
``in_control``) and ``change_start_date``.

The SOP is a :class:`~exoqc.simulate.world.World` (:data:`SOP_WORLD`: the reference lab's
values but failure rates, recovery spread and marker panel) and a table of culture facts
per batch (``batches`` of :func:`~exoqc.simulate.composition.sample_composition`); the
reference cohort is unchanged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from exoqc.dataset import CARGO_FILE, DLS_DIR, MARKERS_FILE, PREPS_FILE
from exoqc.features.dls.mie import scattering_intensity
from exoqc.features.dls.physics import scattering_vector_per_m
from exoqc.simulate import assays, dls
from exoqc.simulate import parameters as par
from exoqc.simulate.cohort import TRUTH_FILE, _prepare_folder, _text, _timestamp
from exoqc.simulate.composition import Composition, lognormal_spread, sample_composition
from exoqc.simulate.parameters import POPULATION_INDEX as P
from exoqc.simulate.world import World

SCENARIOS = ("in_control", "serum_lot", "sec_aging", "passage_creep", "dls_instrument")
START_DATE = pd.Timestamp("2026-01-05")
DAYS_PER_BATCH = 3.5  # two batches a week
SOP_METHOD = "sec"
SOP_SERUM_MODE = "ev_depleted_fbs"
SOP_PANEL = "wb_misev"
SOP_DLS_RECORDS = 3
SOP_RECOVERY_SIGMA = 0.2  # one column type, one load: 0.5 + 0.3 in the reference lab
NEW_SERUM_LOT_FACTOR = 3.0
SEC_AGING_PER_BATCH = 0.10
PASSAGE_CREEP_BATCHES = 3
# (export format, wavelength nm, angle deg, temperature °C, beta0)
ZETASIZER_SOP = ("zetasizer", 632.8, 173.0, 25.0, 0.85)
NEW_DLS_INSTRUMENT = ("csv", 640.0, 90.0, 25.0, 0.70)
_LEAKING = ("serum_protein", "secreted_protein", "hdl", "ldl", "protein_aggregate")
SOP_WORLD = World(sec_overload_probability=0.0, freeze_thaw_probability=0.0,
                  recovery_batch_sigma=SOP_RECOVERY_SIGMA, recovery_prep_sigma=0.0,
                  marker_panel=SOP_PANEL)
"""The production lab: the reference lab under its SOP (a fixed column load, no
freeze-thaw, one recovery spread, the MISEV panel for every batch)."""


def simulate_history(out_dir: Path, n_batches: int, seed: int, scenario: str = "in_control",
                     change_at: int | None = None) -> Path:
    """Write a production history of ``n_batches`` batches as a prep dataset folder.

    Parameters
    ----------
    out_dir : folder to write (empty, new, or an earlier simulation).
    n_batches : number of production batches (one preparation each).
    seed : random seed; the same seed, scenario and change give the same files.
    scenario : one of :data:`SCENARIOS`.
    change_at : 1-based number of the first changed batch; default the middle one.

    Returns
    -------
    Path
        ``out_dir``.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}: expected one of {', '.join(SCENARIOS)}")
    if n_batches < 2:
        raise ValueError(f"a history needs at least 2 batches, got {n_batches}")
    start = n_batches // 2 + 1 if change_at is None else change_at
    if not 1 <= start <= n_batches:
        raise ValueError(f"change_at must be between 1 and {n_batches}, got {change_at}")
    out_dir = Path(out_dir)
    _prepare_folder(out_dir)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7)]
    # k: batches since the change (1 = first changed batch); 0 before it.
    k = np.arange(1, n_batches + 1) - start + 1
    k = np.where((k > 0) & (scenario != "in_control"), k, 0)
    world = SOP_WORLD
    batches = _sop_batches(n_batches, seed, scenario, k, world, streams[0])
    comp = sample_composition(n_batches, seed, streams[0], world, batches)
    leak = 1.0 + SEC_AGING_PER_BATCH * k if scenario == "sec_aging" else np.ones(n_batches)
    for name in _LEAKING:
        comp.number_per_ml[:, P[name]] *= leak
    batch_index = np.arange(n_batches)
    counts = assays.measure_counts(comp, batch_index, n_batches, streams[1])
    markers, _ = assays.measure_markers(comp, counts, batches, batch_index, streams[2], world)
    cargo = assays.measure_cargo(comp, batches, batch_index, streams[3])
    function = assays.potency(comp, counts["protein_ug_per_ml"].to_numpy(), batch_index,
                              streams[4], world)
    new_instrument = (k > 0) & (scenario == "dls_instrument")
    dls_files, ideal_z = _write_dls(out_dir, comp, new_instrument, streams[5])
    dates = [START_DATE + pd.Timedelta(days=round(DAYS_PER_BATCH * j))
             for j in range(n_batches)]
    date_text = [d.date().isoformat() for d in dates]
    preps = pd.DataFrame({
        "prep_id": comp.preps["prep_id"],
        "batch": comp.preps["batch"],
        "production_date": date_text,
        "isolation_method": SOP_METHOD,
        "cell_type": world.cell_type,
        "donor": comp.preps["donor"],
        "passage": [f"P{v}" for v in comp.preps["passage"]],
        "particles_per_ml": _text(counts["particles_per_ml"], ".4g"),
        "protein_ug_per_ml": _text(counts["protein_ug_per_ml"], ".4g"),
        "dls_file": dls_files,
        "dls_record": "",
    })
    preps.to_csv(out_dir / PREPS_FILE, index=False, lineterminator="\n")
    markers.to_csv(out_dir / MARKERS_FILE, index=False, lineterminator="\n")
    cargo.to_csv(out_dir / CARGO_FILE, index=False, lineterminator="\n")

    truth = comp.preps.drop(columns=["batch_index"]).copy()
    share = comp.ev_protein_share
    truth["production_date"] = date_text
    truth["process_change"] = np.where(k > 0, scenario, "")
    changed = scenario != "in_control"
    truth["change_start_batch"] = start if changed else ""
    truth["change_start_date"] = date_text[start - 1] if changed else ""
    truth["serum_lot"] = batches["serum_lot"].to_numpy()
    truth["sec_leak_factor"] = leak
    truth["dls_instrument"] = np.where(new_instrument, "new_90deg_csv", "zetasizer_173deg")
    truth["ev_protein_share"] = share
    truth["purity_class"] = world.purity_class(share)
    truth["potency_class"] = function["potency_class"]
    truth["potency_composite"] = function["potency_composite"]
    truth["dls_ideal_z_average_nm"] = ideal_z
    truth.to_csv(out_dir / TRUTH_FILE, index=False, float_format="%.6g", lineterminator="\n")
    return out_dir


def _sop_batches(n: int, seed: int, scenario: str, k: np.ndarray, world: World,
                 rng: np.random.Generator) -> pd.DataFrame:
    """Culture facts of each production batch under the SOP (and the change)."""
    passage = rng.integers(4, 7, n)
    if scenario == "passage_creep":
        passage = passage + (k + PASSAGE_CREEP_BATCHES - 1) // PASSAGE_CREEP_BATCHES
    serum_lot = np.where((k > 0) & (scenario == "serum_lot"), NEW_SERUM_LOT_FACTOR, 1.0)
    ev_ri = rng.uniform(1.38, 1.39, n)
    ev_ri = np.round(ev_ri / par.REFRACTIVE_INDEX_STEP) * par.REFRACTIVE_INDEX_STEP
    return pd.DataFrame({
        "batch": [f"LOT{seed}-{j + 1:04d}" for j in range(n)],
        "n_preps": 1,
        "donor": f"MCB-{seed}",  # one master cell bank
        "donor_bioactivity": 1.0,
        "let7_loading": lognormal_spread(rng, 0.15, n),
        "passage": passage,
        "serum_mode": SOP_SERUM_MODE,
        "method_primary": SOP_METHOD,
        "method_secondary": SOP_METHOD,
        "low_viability": False,
        "endotoxin": 0.0,
        "ev_median_nm": rng.uniform(88.0, 96.0, n),
        "ev_sigma": rng.uniform(0.26, 0.30, n),
        "ev_refractive_index": ev_ri,
        "ev_protein_density": par.POPULATIONS[0].protein_density_g_per_cm3
        * lognormal_spread(rng, 0.1, n),
        "endosomal_share": np.clip(rng.normal(0.62, 0.03, n), 0.05, 0.95),
        # The simulator's passage effect on EV release (cohort.sample_batches).
        "sev_per_ml_cm": world.cm_sev_per_ml * lognormal_spread(rng, 0.2, n)
        * (1 + 0.08 * (passage - 3)),
        "serum_lot": serum_lot,
    })


def _write_dls(out_dir: Path, comp: Composition, new_instrument: np.ndarray,
               rng: np.random.Generator) -> tuple[list[str], list[float]]:
    """One DLS export per batch on the SOP instrument (or the new one); file names and the
    ideal (noise-free) Z-average of each batch on the instrument that measured it."""
    indices = np.unique(comp.refractive_index)
    tables = {}
    names: list[str] = []
    ideal: list[float] = []
    for i, prep_id in enumerate(comp.preps["prep_id"]):
        export, wavelength, angle, temperature_c, beta0 = (
            NEW_DLS_INSTRUMENT if new_instrument[i] else ZETASIZER_SOP)
        if (wavelength, angle) not in tables:
            tables[(wavelength, angle)] = (
                dls.mie_intensity_table(indices, wavelength, angle),
                float(scattering_intensity(100.0, 1.39, dls.WATER_RI, wavelength, angle)[0]))
        table, reference = tables[(wavelength, angle)]
        rows = np.searchsorted(indices, comp.refractive_index[i])
        fraction = dls.size_distribution(comp.median_nm[i], comp.sigma_ln[i])
        mie = table[rows]
        temperature_k = temperature_c + 273.15
        z_average, _, _ = dls.cumulant_moments(
            dls.DIAMETER_GRID_NM, comp.number_per_ml[i] @ (fraction * mie),
            temperature_k=temperature_k, viscosity_pa_s=dls.water_viscosity_pa_s(temperature_k),
            q_per_m=scattering_vector_per_m(wavelength, angle, dls.WATER_RI))
        n_records = 1 if export == "csv" else SOP_DLS_RECORDS
        records = dls.measure_records(
            sample_name=prep_id, number_per_ml=comp.number_per_ml[i], size_fraction=fraction,
            mie=mie, reference_intensity=reference, temperature_c=temperature_c, beta0=beta0,
            wavelength_nm=wavelength, angle_deg=angle, n_records=n_records,
            first_record=1 + SOP_DLS_RECORDS * i,
            timestamps=[_timestamp(round(DAYS_PER_BATCH * i), 3.5 * r)
                        for r in range(n_records)],
            rng=rng)
        if export == "csv":
            name = f"{DLS_DIR}/{prep_id}.csv"
            dls.write_generic_csv(out_dir / name, records[0])
        else:
            name = f"{DLS_DIR}/{prep_id}.txt"
            dls.write_zetasizer_export(out_dir / name, records)
        names.append(name)
        ideal.append(float(z_average))
    return names, ideal
