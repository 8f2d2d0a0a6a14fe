"""Other laboratories: the reference simulator with a lab's own biology, methods and habits.

A :class:`LabProfile` names simulator constants (in ``parameters``, ``assays`` and
``cohort``) and the value this lab has instead. :func:`applied` sets them for the duration
of one simulation and restores them afterwards, so the reference lab (no overrides) is the
simulator exactly as it was: its cohort is byte-identical for its seed. Why each lab
differs as it does, with sources, is in docs/simulator.md ("Other labs").

The overrides are plain module attributes on purpose: a rename in the simulator makes
:func:`applied` fail loudly instead of silently simulating the reference lab.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np

from exoqc.errors import ExoqcInputError
from exoqc.simulate import assays, cohort
from exoqc.simulate import parameters as par

REFERENCE = "reference"
_MODULES: dict[str, ModuleType] = {"par": par, "assays": assays, "cohort": cohort}


@dataclass(frozen=True)
class LabProfile:
    """A lab: its name, cell type as written in ``preps.csv`` and constant overrides.

    ``overrides`` maps ``"module.CONSTANT"`` (module: ``par``, ``assays``, ``cohort``) to
    the lab's value.
    """

    name: str
    cell_type: str
    description: str
    overrides: dict[str, object] = field(default_factory=dict)


LABS: dict[str, LabProfile] = {
    REFERENCE: LabProfile(REFERENCE, cohort.CELL_TYPE,
                          "deer antler stem cells (DASC), the reference cohort"),
    "bm_msc": LabProfile("bm_msc", "hBM-MSC", (
        "human bone-marrow MSC: larger, fewer EVs, UC-based, FBS-depleted medium, "
        "Western blots of CD63/TSG101/calnexin only, 173° Zetasizer, a stricter potency "
        "threshold and a stricter purity label"), {
        "par.SIZE_MEDIAN_NM": {**par.SIZE_MEDIAN_NM, "sev": (90.0, 150.0)},
        "par.CM_SEV_PER_ML": 1.0e9,
        "par.SERUM_MODE_PROBABILITIES": (0.25, 0.65, 0.10),
        "par.ISOLATION_PROBABILITIES": (0.50, 0.10, 0.25, 0.05, 0.05, 0.05),
        "assays.PANEL_PROBABILITIES": {"wb_basic": 0.9, "wb_misev": 0.0,
                                       "wb_lipoprotein": 0.0, "elisa": 0.0, "ms": 0.0,
                                       "none": 0.1},
        "assays.EV_EC50_UG_PER_ML": 8.0,
        "assays.POTENCY_MIN": 0.35,
        "cohort.GENERIC_CSV_SHARE": 0.0,
        "par.PURITY_HIGH_MIN": 0.60,
    }),
    "uc_msc": LabProfile("uc_msc", "hUC-MSC", (
        "human umbilical-cord MSC: high yield of small EVs, serum-free, SEC-based, an "
        "ELISA panel, a 90° instrument at 640 nm exporting CSV, a lenient potency threshold"), {
        "par.SIZE_MEDIAN_NM": {**par.SIZE_MEDIAN_NM, "sev": (55.0, 100.0)},
        "par.CM_SEV_PER_ML": 6.0e9,
        "par.SERUM_MODE_PROBABILITIES": (0.85, 0.12, 0.03),
        "par.ISOLATION_PROBABILITIES": (0.10, 0.50, 0.25, 0.05, 0.05, 0.05),
        "assays.PANEL_PROBABILITIES": {"wb_basic": 0.1, "wb_misev": 0.0,
                                       "wb_lipoprotein": 0.0, "elisa": 0.85, "ms": 0.0,
                                       "none": 0.05},
        "assays.EV_EC50_UG_PER_ML": 3.0,
        "assays.POTENCY_MIN": 0.20,
        "cohort.GENERIC_CSV_SHARE": 1.0,
        "cohort.GENERIC_GEOMETRIES": ((640.0, 90.0),),
    }),
    "hek293": LabProfile("hek293", "HEK293", (
        "HEK293 suspension culture: small EVs, very high yield, chemically defined "
        "serum-free medium, PEG/UC isolation, LC-MS proteomics, no functional potency "
        "assay of MSC type (a higher threshold), a purity label with a wider 'low'"), {
        "par.SIZE_MEDIAN_NM": {**par.SIZE_MEDIAN_NM, "sev": (50.0, 95.0)},
        "par.CM_SEV_PER_ML": 2.0e10,
        "par.SERUM_MODE_PROBABILITIES": (0.95, 0.05, 0.0),
        "par.ISOLATION_PROBABILITIES": (0.35, 0.10, 0.10, 0.05, 0.35, 0.05),
        "assays.PANEL_PROBABILITIES": {"wb_basic": 0.1, "wb_misev": 0.0,
                                       "wb_lipoprotein": 0.0, "elisa": 0.0, "ms": 0.85,
                                       "none": 0.05},
        "assays.EV_EC50_UG_PER_ML": 6.0,
        "assays.POTENCY_MIN": 0.30,
        "par.PURITY_LOW_MAX": 0.20,
    }),
}


def random_lab(lab_seed: int) -> LabProfile:
    """A lab drawn at random (nobody tuned on it): every shift of the named labs, with
    values drawn from ranges that span them (docs/simulator.md, "Random labs")."""
    rng = np.random.default_rng([lab_seed, 1414])
    low = float(rng.uniform(45.0, 100.0))
    isolation = rng.dirichlet(np.full(len(par.ISOLATION_METHODS), 1.0))
    serum = rng.dirichlet((3.0, 2.0, 0.4))
    panel = str(rng.choice(["wb_basic", "wb_misev", "wb_lipoprotein", "elisa", "ms"]))
    panels = {k: 0.0 for k in assays.PANEL_PROBABILITIES}
    panels[panel], panels["wb_basic" if panel != "wb_basic" else "none"] = 0.85, 0.10
    panels["none"] = panels.get("none", 0.0) + 0.05
    csv_share = float(rng.choice([0.0, 0.15, 1.0]))
    return LabProfile(f"random-{lab_seed}", f"lab-{lab_seed}", (
        f"random lab {lab_seed}: small EVs {low:.0f}-{low * 1.6:.0f} nm, "
        f"mostly {par.ISOLATION_METHODS[int(isolation.argmax())]}, panel {panel}"), {
        "par.SIZE_MEDIAN_NM": {**par.SIZE_MEDIAN_NM, "sev": (low, low * 1.6)},
        "par.CM_SEV_PER_ML": float(10 ** rng.uniform(8.8, 10.3)),
        "par.SERUM_MODE_PROBABILITIES": tuple(float(v) for v in serum / serum.sum()),
        "par.ISOLATION_PROBABILITIES": tuple(float(v) for v in isolation / isolation.sum()),
        "assays.PANEL_PROBABILITIES": panels,
        "assays.EV_EC50_UG_PER_ML": float(rng.uniform(2.5, 10.0)),
        "assays.POTENCY_MIN": float(rng.uniform(0.15, 0.40)),
        "cohort.GENERIC_CSV_SHARE": csv_share,
        "par.PURITY_HIGH_MIN": float(rng.uniform(0.40, 0.65)),
        "par.PURITY_LOW_MAX": float(rng.uniform(0.07, 0.20)),
    })


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


@contextmanager
def applied(profile: LabProfile) -> Iterator[None]:
    """Set the lab's constants for the duration of the block (one process, one thread)."""
    saved: list[tuple[ModuleType, str, object]] = []
    overrides = dict(profile.overrides)
    if profile.name != REFERENCE:
        overrides["cohort.CELL_TYPE"] = profile.cell_type
    try:
        for key, value in overrides.items():
            module_name, constant = key.split(".", 1)
            module = _MODULES[module_name]
            if not hasattr(module, constant):
                raise AttributeError(f"lab {profile.name}: the simulator has no {key} any more")
            saved.append((module, constant, getattr(module, constant)))
            setattr(module, constant, value)
        yield
    finally:
        for module, constant, value in reversed(saved):
            setattr(module, constant, value)
