"""Other laboratories: the reference simulator with a lab's own biology, methods and habits.

A :class:`LabProfile` names a lab and holds its :class:`~exoqc.simulate.world.World`: the
values in which it differs from the reference lab, every other value the reference one.
The simulator takes the world as an argument (no module state changes), so the reference
lab (``World()``) is the simulator exactly as it was: its cohort is byte-identical for its
seed. Why each lab differs as it does, with sources, is in docs/simulator.md ("Other labs").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from exoqc.errors import ExoqcInputError
from exoqc.simulate import parameters as par
from exoqc.simulate.world import REFERENCE_WORLD, World

REFERENCE = "reference"


@dataclass(frozen=True)
class LabProfile:
    """A lab: its name, what it is, and its world (cell type, biology, methods, habits)."""

    name: str
    description: str
    world: World = field(default_factory=World)


LABS: dict[str, LabProfile] = {
    REFERENCE: LabProfile(REFERENCE, "deer antler stem cells (DASC), the reference cohort",
                          REFERENCE_WORLD),
    "bm_msc": LabProfile("bm_msc", (
        "human bone-marrow MSC: larger, fewer EVs, UC-based, FBS-depleted medium, "
        "Western blots of CD63/TSG101/calnexin only, 173° Zetasizer, a stricter potency "
        "threshold and a stricter purity label"), World(
        cell_type="hBM-MSC",
        sev_median_nm=(90.0, 150.0),
        cm_sev_per_ml=1.0e9,
        serum_mode_probabilities=(0.25, 0.65, 0.10),
        isolation_probabilities=(0.50, 0.10, 0.25, 0.05, 0.05, 0.05),
        panel_probabilities={"wb_basic": 0.9, "wb_misev": 0.0, "wb_lipoprotein": 0.0,
                             "elisa": 0.0, "ms": 0.0, "none": 0.1},
        ev_ec50_ug_per_ml=8.0,
        potency_min=0.35,
        generic_csv_share=0.0,
        purity_high_min=0.60,
    )),
    "uc_msc": LabProfile("uc_msc", (
        "human umbilical-cord MSC: high yield of small EVs, serum-free, SEC-based, an "
        "ELISA panel, a 90° instrument at 640 nm exporting CSV, a lenient potency threshold"),
        World(
        cell_type="hUC-MSC",
        sev_median_nm=(55.0, 100.0),
        cm_sev_per_ml=6.0e9,
        serum_mode_probabilities=(0.85, 0.12, 0.03),
        isolation_probabilities=(0.10, 0.50, 0.25, 0.05, 0.05, 0.05),
        panel_probabilities={"wb_basic": 0.1, "wb_misev": 0.0, "wb_lipoprotein": 0.0,
                             "elisa": 0.85, "ms": 0.0, "none": 0.05},
        ev_ec50_ug_per_ml=3.0,
        potency_min=0.20,
        generic_csv_share=1.0,
        generic_geometries=((640.0, 90.0),),
    )),
    "hek293": LabProfile("hek293", (
        "HEK293 suspension culture: small EVs, very high yield, chemically defined "
        "serum-free medium, PEG/UC isolation, LC-MS proteomics, no functional potency "
        "assay of MSC type (a higher threshold), a purity label with a wider 'low'"), World(
        cell_type="HEK293",
        sev_median_nm=(50.0, 95.0),
        cm_sev_per_ml=2.0e10,
        serum_mode_probabilities=(0.95, 0.05, 0.0),
        isolation_probabilities=(0.35, 0.10, 0.10, 0.05, 0.35, 0.05),
        panel_probabilities={"wb_basic": 0.1, "wb_misev": 0.0, "wb_lipoprotein": 0.0,
                             "elisa": 0.0, "ms": 0.85, "none": 0.05},
        ev_ec50_ug_per_ml=6.0,
        potency_min=0.30,
        purity_low_max=0.20,
    )),
}


def random_lab(lab_seed: int) -> LabProfile:
    """A lab drawn at random (nobody tuned on it): every shift of the named labs, with
    values drawn from ranges that span them (docs/simulator.md, "Random labs")."""
    rng = np.random.default_rng([lab_seed, 1414])
    low = float(rng.uniform(45.0, 100.0))
    isolation = rng.dirichlet(np.full(len(par.ISOLATION_METHODS), 1.0))
    serum = rng.dirichlet((3.0, 2.0, 0.4))
    panel = str(rng.choice(["wb_basic", "wb_misev", "wb_lipoprotein", "elisa", "ms"]))
    panels = {k: 0.0 for k in REFERENCE_WORLD.panel_probabilities}
    panels[panel], panels["wb_basic" if panel != "wb_basic" else "none"] = 0.85, 0.10
    panels["none"] = panels.get("none", 0.0) + 0.05
    csv_share = float(rng.choice([0.0, 0.15, 1.0]))
    return LabProfile(f"random-{lab_seed}", (
        f"random lab {lab_seed}: small EVs {low:.0f}-{low * 1.6:.0f} nm, "
        f"mostly {par.ISOLATION_METHODS[int(isolation.argmax())]}, panel {panel}"), World(
        cell_type=f"lab-{lab_seed}",
        sev_median_nm=(low, low * 1.6),
        cm_sev_per_ml=float(10 ** rng.uniform(8.8, 10.3)),
        serum_mode_probabilities=tuple(float(v) for v in serum / serum.sum()),
        isolation_probabilities=tuple(float(v) for v in isolation / isolation.sum()),
        panel_probabilities=panels,
        ev_ec50_ug_per_ml=float(rng.uniform(2.5, 10.0)),
        potency_min=float(rng.uniform(0.15, 0.40)),
        generic_csv_share=csv_share,
        purity_high_min=float(rng.uniform(0.40, 0.65)),
        purity_low_max=float(rng.uniform(0.07, 0.20)),
    ))


def lab_profile(name: str | None = None, lab_seed: int | None = None) -> LabProfile:
    """The named lab, or a random one for ``lab_seed``; the reference lab when neither."""
    if lab_seed is not None:
        if name not in (None, "random"):
            raise ExoqcInputError(name, "--lab-seed draws a random lab: give no --lab, or "
                                  "--lab random")
        return random_lab(lab_seed)
    name = name or REFERENCE
    if name not in LABS:
        raise ExoqcInputError(name, f"unknown lab: expected one of {', '.join(LABS)}, or "
                              "--lab-seed S for a random lab")
    return LABS[name]
