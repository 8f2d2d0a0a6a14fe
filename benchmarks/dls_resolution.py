"""How well the DLS inversion resolves mixtures and avoids spurious peaks (simulated data).

For each case, 20 noise realizations of a 192-lag multi-tau correlogram at 173°
(g2 − 1 = 0.9·g1² + noise; g1 from the tests' independent forward model,
``tests/features/dls/dls_forward.py``, log-normal populations over ±4σ) are analysed with
exoqc's full analysis:

- bimodal 60 nm + 400 nm (log-normal, σ_ln 0.1) at several intensity splits: how often both
  peaks (≥ 5 % each) come out within 15 % of the truth;
- single populations (20–1000 nm, σ_ln 0.02–0.5): how often a spurious second peak ≥ 5 %
  appears.

Two noise models: constant σ on every lag, and σ falling with the channel width of the
multi-tau correlator (σ at the first lags 8× that at 32 µs, Schätzel 1990).

Run: ``.venv/bin/python benchmarks/dls_resolution.py``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from exoqc.features.dls.analysis import analyze_record
from exoqc.features.dls.readers import DLSRecord
from exoqc.features.dls.speed import single_threaded_blas

# The tests' independent forward model (its own physics, no exoqc code), so that a physics
# error shared by exoqc's simulator and its analysis cannot cancel out in the figures.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "features" / "dls"))
from dls_forward import WATER_25C, field_correlation, multitau_lags_s

REALIZATIONS = 20
TAU, WIDTHS = multitau_lags_s()


def analyse(populations, sigma: float, falling: bool, seed: int):
    g1, _ = field_correlation(populations, TAU)
    sd = sigma * np.sqrt(64 * WIDTHS[0] / WIDTHS).clip(max=50) if falling else sigma
    rng = np.random.default_rng(seed)
    g2m1 = 0.9 * g1**2 + rng.normal(0.0, 1.0, TAU.size) * sd
    record = DLSRecord(
        file="sim", record=1, sample_name="sim", temperature_k=WATER_25C["temperature_k"],
        viscosity_pa_s=WATER_25C["viscosity_pa_s"],
        medium_refractive_index=WATER_25C["refractive_index"],
        wavelength_nm=WATER_25C["wavelength_nm"], angle_deg=WATER_25C["angle_deg"],
        tau_s=TAU, g2m1=g2m1)
    return analyze_record(record)


def main() -> None:
    with single_threaded_blas():
        for falling in (False, True):
            model = "noise falling with channel width" if falling else "constant noise"
            for sigma in (1e-3, 3e-3):
                cells = []
                for small in (0.4, 0.5, 0.6, 0.7):
                    resolved = 0
                    for seed in range(REALIZATIONS):
                        result = analyse([(60, 0.1, small), (400, 0.1, 1 - small)], sigma,
                                         falling, seed)
                        big = sorted(p.diameter_nm for p in result.peaks if p.share >= 0.05)
                        resolved += (len(big) == 2 and abs(big[0] / 60 - 1) < 0.15
                                     and abs(big[1] / 400 - 1) < 0.15)
                    cells.append(f"{small:.0%}/{1 - small:.0%}: {resolved}/{REALIZATIONS}")
                print(f"{model}, σ={sigma:g}: 60+400 nm resolved within 15 % — "
                      + ", ".join(cells))
                spurious = 0
                cases = ((20, 0.02), (30, 0.3), (60, 0.2), (100, 0.35), (150, 0.5),
                         (700, 0.3), (1000, 0.02))
                for median, width in cases:
                    for seed in range(REALIZATIONS):
                        result = analyse([(median, width, 1.0)], sigma, falling, 100 + seed)
                        spurious += sum(p.share >= 0.05 for p in result.peaks) > 1
                print(f"{model}, σ={sigma:g}: single populations with a spurious second peak "
                      f"— {spurious}/{REALIZATIONS * len(cases)}")


if __name__ == "__main__":
    main()
