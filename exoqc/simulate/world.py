"""What one simulated lab (or one production SOP) does differently from the reference lab.

A :class:`World` is the one way to shift the simulator: an immutable set of the values a
lab or a production process may change, each defaulting to the reference lab's value (the
constants of :mod:`~exoqc.simulate.parameters` and :mod:`~exoqc.simulate.assays`, with
their sources). The cohort generator, the composition, the assays and the DLS export
writer take it as an argument and read these values from it, never from the module
constants, so a simulation changes no global state: two labs can be simulated side by side
in one process. ``World()`` is the reference lab; its cohort is byte-identical for its seed.

Other labs (:mod:`~exoqc.simulate.labs`) and production histories
(:mod:`~exoqc.simulate.history`) are each a ``World``; docs/simulator.md says why each
lab differs as it does. A new knob is a new field here, defaulting to the reference value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from exoqc.simulate import assays
from exoqc.simulate import parameters as par


def _reference_panels() -> Mapping[str, float]:
    return dict(assays.PANEL_PROBABILITIES)


@dataclass(frozen=True)
class World:
    """The values a lab or a production SOP sets; defaults: the reference lab.

    Culture and isolation (:mod:`~exoqc.simulate.composition`):

    cell_type : as written in ``preps.csv``.
    sev_median_nm : range of the per-batch median diameter of the cell's small EVs.
    cm_sev_per_ml : small EVs per mL of conditioned medium (before the passage effect).
    serum_mode_probabilities : per batch, in the order of ``parameters.SERUM_MODES``.
    isolation_probabilities : per batch, in the order of ``parameters.ISOLATION_METHODS``.
    recovery_batch_sigma, recovery_prep_sigma : log-normal spread of recoveries.
    sec_overload_probability, freeze_thaw_probability : per-preparation failure rates.

    Measurements and labels (:mod:`~exoqc.simulate.assays`, :mod:`~exoqc.simulate.cohort`):

    panel_probabilities : marker panel of each batch (keys of ``assays.PANELS`` or
        ``"none"``).
    marker_panel : every batch uses this panel, as a production SOP does (no draw);
        ``None``: each batch draws from ``panel_probabilities``.
    generic_csv_share : share of batches measured on a generic-CSV DLS instrument, at one
        of ``generic_geometries`` (wavelength nm, angle deg); the rest on the Zetasizer.
    ev_ec50_ug_per_ml : effective EV dose of half the maximal response of the cells.
    potency_min : potency threshold on the mean signed log2 fold change.
    purity_high_min, purity_low_max : EV protein share of the purity classes.
    """

    cell_type: str = par.CELL_TYPE
    sev_median_nm: tuple[float, float] = par.SIZE_MEDIAN_NM["sev"]
    cm_sev_per_ml: float = par.CM_SEV_PER_ML
    serum_mode_probabilities: tuple[float, ...] = par.SERUM_MODE_PROBABILITIES
    isolation_probabilities: tuple[float, ...] = par.ISOLATION_PROBABILITIES
    recovery_batch_sigma: float = par.RECOVERY_BATCH_SIGMA
    recovery_prep_sigma: float = par.RECOVERY_PREP_SIGMA
    sec_overload_probability: float = par.SEC_OVERLOAD_PROBABILITY
    freeze_thaw_probability: float = par.FREEZE_THAW_PROBABILITY
    panel_probabilities: Mapping[str, float] = field(default_factory=_reference_panels)
    marker_panel: str | None = None
    generic_csv_share: float = par.GENERIC_CSV_SHARE
    generic_geometries: tuple[tuple[float, float], ...] = par.GENERIC_GEOMETRIES
    ev_ec50_ug_per_ml: float = assays.EV_EC50_UG_PER_ML
    potency_min: float = assays.POTENCY_MIN
    purity_high_min: float = par.PURITY_HIGH_MIN
    purity_low_max: float = par.PURITY_LOW_MAX

    def __post_init__(self) -> None:
        # A copy: the caller's dict can change afterwards without changing this world.
        object.__setattr__(self, "panel_probabilities", dict(self.panel_probabilities))
        for name, probabilities, n in (
                ("serum_mode_probabilities", self.serum_mode_probabilities, len(par.SERUM_MODES)),
                ("isolation_probabilities", self.isolation_probabilities,
                 len(par.ISOLATION_METHODS)),
                ("panel_probabilities", tuple(self.panel_probabilities.values()),
                 len(self.panel_probabilities))):
            if len(probabilities) != n or not np.isclose(sum(probabilities), 1.0):
                raise ValueError(f"World.{name}: expected {n} probabilities summing to 1, "
                                 f"got {probabilities}")
        unknown = set(self.panel_probabilities) - {*assays.PANELS, "none"}
        if self.marker_panel is not None:
            unknown |= {self.marker_panel} - set(assays.PANELS)
        if unknown:
            raise ValueError(f"unknown marker panel {sorted(unknown)}: expected one of "
                             f"{', '.join(assays.PANELS)}")
        if not 0.0 <= self.purity_low_max <= self.purity_high_min <= 1.0:
            raise ValueError("World purity thresholds: expected 0 <= purity_low_max <= "
                             f"purity_high_min <= 1, got {self.purity_low_max}, "
                             f"{self.purity_high_min}")

    def purity_class(self, ev_protein_share: np.ndarray) -> np.ndarray:
        """high when the EV protein share is ≥ ``purity_high_min``, low below
        ``purity_low_max``, medium between."""
        return par.purity_class(ev_protein_share, self.purity_high_min, self.purity_low_max)


REFERENCE_WORLD = World()
"""The reference lab: deer antler stem cells, the values of the simulator's modules."""
