"""Write a simulated, labelled cohort as a prep dataset folder (the input contract, exoqc.folder).

Besides the input files, ``simulation_truth.csv`` records the true composition and latent
facts of each preparation. It is not part of the input contract: the loader ignores it and
features must never read it; benchmarks and tests use it as ground truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from exoqc.dataset import ASSAY_READOUTS, CARGO_FILE, DLS_DIR, MARKERS_FILE, NTA_DIR, PREPS_FILE
from exoqc.errors import ExoqcInputError
from exoqc.features.dls.mie import scattering_intensity
from exoqc.features.dls.physics import scattering_vector_per_m
from exoqc.simulate import assays, dls, nta
from exoqc.simulate import parameters as par
from exoqc.simulate.composition import Composition, sample_composition
from exoqc.simulate.labs import LabProfile, lab_profile
from exoqc.simulate.world import World

TRUTH_FILE = "simulation_truth.csv"

# How a lab writes its isolation method (the loader maps these to the contract's names).
_METHOD_SPELLINGS = {
    "uc": ("uc", "ultracentrifugation", "UC"), "sec": ("sec", "SEC", "size exclusion"),
    "uc_sec": ("uc_sec", "UC+SEC"), "density_gradient": ("density_gradient", "iodixanol"),
    "peg": ("peg", "PEG", "polymer precipitation"),
    "immunoaffinity": ("immunoaffinity", "immunocapture"),
}
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


@dataclass(frozen=True)
class _DLSLab:
    export_format: str
    wavelength_nm: float
    angle_deg: float
    temperature_c: float
    beta0: float


def _prepare_folder(out_dir: Path) -> None:
    """An empty folder, or one this simulator wrote before (its files are replaced)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ExoqcInputError(out_dir, "exists and is not a folder: expected a folder path")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not (out_dir / TRUTH_FILE).is_file():
            raise ExoqcInputError(
                out_dir, "folder is not empty and holds no earlier simulation: expected an "
                "empty or new folder, so that no file of yours is overwritten")
        for name in (PREPS_FILE, MARKERS_FILE, CARGO_FILE, TRUTH_FILE):
            (out_dir / name).unlink(missing_ok=True)
        for folder in (DLS_DIR, NTA_DIR):
            if (out_dir / folder).is_dir():
                for path in (out_dir / folder).iterdir():
                    if path.suffix in (".txt", ".csv") and path.is_file():
                        path.unlink()
    (out_dir / DLS_DIR).mkdir(parents=True, exist_ok=True)


def simulate_cohort(out_dir: Path, n_preps: int, seed: int, nta_share: float = 0.0,
                    lab: str | LabProfile | None = None, lab_seed: int | None = None) -> Path:
    """Simulate ``n_preps`` labelled preparations and write them as a prep dataset folder.

    ``lab`` (a name of :data:`~exoqc.simulate.labs.LABS` or a
    :class:`~exoqc.simulate.labs.LabProfile`) or ``lab_seed`` (a random lab) simulate
    another laboratory; neither: the reference lab.

    Writes ``preps.csv`` (with labels and readouts), ``markers.csv``, ``cargo.csv``, ``dls/``
    (Zetasizer wide exports and generic CSV correlograms) and ``simulation_truth.csv``.
    The same seed gives byte-identical files; batch and preparation ids carry the seed.
    ``nta_share`` > 0 also writes NTA exports (NanoSight or ZetaView, ``nta/``) for about that
    share of the preparations and the ``nta_file``/``nta_record`` columns; their randomness
    has its own stream, so every other file is the same as without them. Returns ``out_dir``.
    """
    profile = lab if isinstance(lab, LabProfile) else lab_profile(lab, lab_seed)
    if n_preps < 1:
        raise ValueError(f"n_preps must be at least 1, got {n_preps}")
    if not 0.0 <= nta_share <= 1.0:
        raise ValueError(f"nta_share must be between 0 and 1, got {nta_share}")
    world = profile.world
    out_dir = Path(out_dir)
    _prepare_folder(out_dir)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7)]
    comp = sample_composition(n_preps, seed, streams[0], world)
    batch_index = comp.preps["batch_index"].to_numpy()
    n_batches = len(comp.batches)
    counts = assays.measure_counts(comp, batch_index, n_batches, streams[1])
    markers, panels = assays.measure_markers(comp, counts, comp.batches, batch_index, streams[2],
                                             world)
    cargo = assays.measure_cargo(comp, comp.batches, batch_index, streams[3])
    function = assays.potency(comp, counts["bca_reading_ug_per_ml"].to_numpy(), batch_index,
                              streams[4], world)
    dls_truth = _write_dls(out_dir, comp, world, streams[5])
    share = comp.ev_protein_share
    purity = world.purity_class(share)
    nta_files = None
    if nta_share > 0:
        # The eighth child of the seed: the first seven streams stay what they were.
        nta_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7,)))
        nta_files = nta.write_nta_exports(
            out_dir, comp, counts["nta_threshold_nm"].to_numpy(),
            counts["nta_batch_bias"].to_numpy(), nta_share, nta_rng)
    _write_preps(out_dir, comp, world, counts, dls_truth, purity, function, streams[6],
                 nta_files)
    markers.to_csv(out_dir / MARKERS_FILE, index=False, lineterminator="\n")
    cargo.to_csv(out_dir / CARGO_FILE, index=False, lineterminator="\n")
    _write_truth(out_dir, comp, counts, share, purity, function, dls_truth,
                 panels.to_numpy()[batch_index])
    return out_dir


def _timestamp(day: int, minutes: float) -> str:
    start = pd.Timestamp("2018-03-05 09:00:00")
    moment = start + pd.Timedelta(days=int(day)) + pd.Timedelta(seconds=round(minutes * 60))
    return (f"{moment.day:02d} {_MONTHS[moment.month - 1]} {moment.year} "
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}")


def _write_dls(out_dir: Path, comp: Composition, world: World,
               rng: np.random.Generator) -> pd.DataFrame:
    """DLS files of the preparations that have one; per prep: file, format, ideal cumulants."""
    n_batches = len(comp.batches)
    labs = []
    geometries = world.generic_geometries
    for _ in range(n_batches):
        if rng.random() < world.generic_csv_share:
            wavelength, angle = geometries[rng.integers(len(geometries))]
            export = "csv"
        else:
            export, wavelength, angle = par.ZETASIZER
        labs.append(_DLSLab(export, wavelength, angle,
                            float(rng.choice(par.TEMPERATURES_C,
                                             p=par.TEMPERATURE_PROBABILITIES)),
                            float(rng.uniform(0.65, 0.95))))
    record_counter = rng.integers(1, 400, n_batches)
    mie_tables: dict[tuple[float, float], tuple[np.ndarray, dict[float, int], float]] = {}
    indices = np.unique(comp.refractive_index)
    out: dict[str, list[str | float]] = {
        "dls_file": [], "dls_format": [], "dls_ideal_z_average_nm": [], "dls_ideal_pdi": []}
    batch_index = comp.preps["batch_index"].to_numpy()
    prep_in_batch = comp.preps.groupby("batch_index").cumcount().to_numpy()
    for i, prep_id in enumerate(comp.preps["prep_id"]):
        b = batch_index[i]
        lab = labs[b]
        geometry = (lab.wavelength_nm, lab.angle_deg)
        if geometry not in mie_tables:
            table = dls.mie_intensity_table(indices, *geometry)
            reference = float(scattering_intensity(100.0, 1.39, dls.WATER_RI, *geometry)[0])
            mie_tables[geometry] = (table, {float(r): k for k, r in enumerate(indices)},
                                    reference)
        table, row_of, reference = mie_tables[geometry]
        fraction = dls.size_distribution(comp.median_nm[i], comp.sigma_ln[i])
        mie = table[[row_of[float(r)] for r in comp.refractive_index[i]]]
        temperature_k = lab.temperature_c + 273.15
        z_average, pdi, _ = dls.cumulant_moments(
            dls.DIAMETER_GRID_NM, comp.number_per_ml[i] @ (fraction * mie),
            temperature_k=temperature_k, viscosity_pa_s=dls.water_viscosity_pa_s(temperature_k),
            q_per_m=scattering_vector_per_m(lab.wavelength_nm, lab.angle_deg, dls.WATER_RI))
        if rng.random() < par.DLS_MISSING:
            out["dls_file"].append("")
            out["dls_format"].append("")
        else:
            n_records = 1 if lab.export_format == "csv" else int(
                rng.choice(par.REPLICATES, p=par.REPLICATE_PROBABILITIES))
            start = 20.0 * prep_in_batch[i]
            records = dls.measure_records(
                sample_name=prep_id, number_per_ml=comp.number_per_ml[i],
                size_fraction=fraction, mie=mie, reference_intensity=reference,
                temperature_c=lab.temperature_c, beta0=lab.beta0,
                wavelength_nm=lab.wavelength_nm, angle_deg=lab.angle_deg,
                n_records=n_records, first_record=int(record_counter[b]),
                timestamps=[_timestamp(3 * b, start + 3.5 * r) for r in range(n_records)],
                rng=rng)
            record_counter[b] += n_records
            if lab.export_format == "csv":
                name = f"{DLS_DIR}/{prep_id}.csv"
                dls.write_generic_csv(out_dir / name, records[0], with_counts=rng.random() < 0.8)
            else:
                name = f"{DLS_DIR}/{prep_id}.txt"
                dls.write_zetasizer_export(out_dir / name, records)
            out["dls_file"].append(name)
            out["dls_format"].append(lab.export_format)
        out["dls_ideal_z_average_nm"].append(z_average)
        out["dls_ideal_pdi"].append(pdi)
    return pd.DataFrame(out)


def _text(values, fmt: str) -> list[str]:
    return ["" if (v is None or (isinstance(v, float) and math.isnan(v))) else format(v, fmt)
            for v in values]


def _write_preps(out_dir: Path, comp: Composition, world: World, counts: pd.DataFrame,
                 dls_truth: pd.DataFrame, purity: np.ndarray, function: pd.DataFrame,
                 rng: np.random.Generator, nta_files: list[str] | None = None) -> None:
    p = comp.preps
    spelling_of_batch = [
        {m: str(rng.choice(s)) if rng.random() < 0.25 else m for m, s in _METHOD_SPELLINGS.items()}
        for _ in range(len(comp.batches))]
    table = pd.DataFrame({
        "prep_id": p["prep_id"],
        "batch": p["batch"],
        "isolation_method": [spelling_of_batch[b][m]
                             for b, m in zip(p["batch_index"], p["isolation_method"], strict=True)],
        "cell_type": world.cell_type,
        "donor": p["donor"],
        "passage": [f"P{v}" for v in p["passage"]],
        "particles_per_ml": _text(counts["particles_per_ml"], ".4g"),
        "protein_ug_per_ml": _text(counts["protein_ug_per_ml"], ".4g"),
        "dls_file": dls_truth["dls_file"],
        "dls_record": "",
        **({} if nta_files is None else {"nta_file": nta_files, "nta_record": ""}),
        "purity_class": purity,
        "potency_class": function["potency_class"],
    })
    for column in ASSAY_READOUTS:
        table[column] = _text(function[column], ".3f")
    table.to_csv(out_dir / PREPS_FILE, index=False, lineterminator="\n")


def _write_truth(out_dir: Path, comp: Composition, counts: pd.DataFrame, share: np.ndarray,
                 purity: np.ndarray, function: pd.DataFrame, dls_truth: pd.DataFrame,
                 panel: np.ndarray) -> None:
    p = comp.preps
    truth = p.drop(columns=["batch_index"]).copy()
    truth["ev_protein_share"] = share
    truth["purity_class"] = purity
    truth["potency_composite"] = function["potency_composite"]
    truth["potency_class"] = function["potency_class"]
    truth["effective_ev_dose_ug_per_ml"] = function["effective_ev_dose_ug_per_ml"]
    protein = comp.protein_ug_per_ml
    truth["total_protein_ug_per_ml"] = protein.sum(axis=1)
    for k, population in enumerate(par.POPULATIONS):
        truth[f"{population.name}_per_ml"] = comp.number_per_ml[:, k]
        truth[f"{population.name}_protein_ug_per_ml"] = protein[:, k]
        truth[f"{population.name}_median_nm"] = comp.median_nm[:, k]
    truth["ev_refractive_index"] = comp.refractive_index[:, par.POPULATION_INDEX["sev"]]
    truth["nta_threshold_nm"] = counts["nta_threshold_nm"]
    truth["marker_panel"] = panel
    for column in dls_truth:
        truth[column] = dls_truth[column]
    truth.to_csv(out_dir / TRUTH_FILE, index=False, float_format="%.6g", lineterminator="\n")


def summary_lines(root: Path) -> list[str]:
    """A short account of a simulated folder: classes, measurements and where they are."""
    preps = pd.read_csv(root / PREPS_FILE, dtype=str, keep_default_na=False)
    markers = pd.read_csv(root / MARKERS_FILE, dtype=str)
    cargo = pd.read_csv(root / CARGO_FILE, dtype=str)
    dls_files = preps["dls_file"][preps["dls_file"] != ""]
    nta_files = preps.get("nta_file", pd.Series(dtype=str))
    nta_files = nta_files[nta_files != ""]

    def counts(column: str, labels: tuple[str, ...]) -> str:
        found = preps[column].value_counts()
        return ", ".join(f"{label} {found.get(label, 0)}" for label in labels)

    return [
        f"{len(preps)} preparations in {preps['batch'].nunique()} batches written to {root}",
        f"purity: {counts('purity_class', ('high', 'medium', 'low'))}",
        f"potency: {counts('potency_class', ('potent', 'subpotent'))}",
        f"DLS exports: {dls_files.str.endswith('.txt').sum()} Zetasizer, "
        f"{dls_files.str.endswith('.csv').sum()} generic CSV; "
        f"{(preps['particles_per_ml'] != '').sum()} with NTA, "
        f"{(preps['protein_ug_per_ml'] != '').sum()} with BCA"
        + (f"; NTA exports: {nta_files.str.endswith('.csv').sum()} NanoSight, "
           f"{nta_files.str.endswith('.txt').sum()} ZetaView" if len(nta_files) else ""),
        f"markers: {markers['prep_id'].nunique()} preparations, {len(markers)} measurements; "
        f"cargo: {cargo['prep_id'].nunique()} preparations",
        f"ground truth (not an input): {root / TRUTH_FILE}",
    ]
