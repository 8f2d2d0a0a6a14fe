"""DLS analysis speed: per correlogram on one core, and per preparation end to end.

1. 2,000 realistic 192-lag correlograms (multi-tau lags from 0.5 µs; an EV population of
   60–150 nm, σ_ln 0.2–0.45, with aggregates and lipoprotein-sized particles in some;
   correlator noise after Schätzel), from the tests' independent forward model
   (``tests/features/dls/dls_forward.py``): each is analysed completely (noise estimate, ISO 22412
   cumulants, regularized inversion with GCV, Mie intensity/volume/number, peaks) on one
   core, BLAS single-threaded. Prints the median, 10th/90th percentiles and throughput.
2. ``dls_feature_table`` on a simulated reference cohort (``exoqc simulate``, ~3 replicate
   Zetasizer records per prep): reading, analysis and aggregation, with 1 and with
   ``--jobs`` processes. Prints preparations per second (wall clock) and, single-process,
   the CPU time per prep, which does not depend on what else the machine is running.

Run: ``.venv/bin/python benchmarks/dls_speed.py [--correlograms 2000] [--preps 1000]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from exoqc.dataset import load_dataset
from exoqc.features.dls.analysis import analyze_record
from exoqc.features.dls.readers import DLSRecord
from exoqc.features.dls.speed import single_threaded_blas
from exoqc.features.dls.table import dls_feature_table
from exoqc.simulate import simulate_cohort

# The tests' independent forward model (its own physics, no exoqc code), so that a physics
# error shared by exoqc's simulator and its analysis cannot cancel out in the figures.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "features" / "dls"))
from dls_forward import WATER_25C, correlogram, multitau_lags_s


def realistic_records(count: int, seed: int) -> list[DLSRecord]:
    rng = np.random.default_rng(seed)
    tau, widths = multitau_lags_s()
    records = []
    for i in range(count):
        populations = [(rng.uniform(60, 150), rng.uniform(0.2, 0.45), 1.0)]
        if rng.random() < 0.4:
            populations.append((rng.uniform(300, 1200), 0.2, rng.uniform(0.02, 0.3)))
        if rng.random() < 0.3:
            populations.append((rng.uniform(15, 30), 0.15, rng.uniform(0.01, 0.05)))
        beta, counts, duration = rng.uniform(0.75, 0.95), rng.uniform(1e5, 5e5), 100.0
        _, g2m1 = correlogram(populations, seed=int(rng.integers(2**31)), beta=beta,
                              count_rate_kcps=counts / 1e3, duration_s=duration, tau_s=tau,
                              widths_s=widths)
        records.append(DLSRecord(
            file="benchmark", record=i + 1, sample_name=f"S{i}",
            temperature_k=WATER_25C["temperature_k"],
            viscosity_pa_s=WATER_25C["viscosity_pa_s"],
            medium_refractive_index=WATER_25C["refractive_index"],
            wavelength_nm=WATER_25C["wavelength_nm"], angle_deg=WATER_25C["angle_deg"],
            count_rate_kcps=counts / 1e3, tau_s=tau, g2m1=g2m1))
    return records


def per_correlogram(count: int) -> None:
    records = realistic_records(count, seed=2024)
    with single_threaded_blas():
        analyze_record(records[0])  # Mie table and kernel caches, as in any long batch
        seconds = []
        for record in records:
            start = time.perf_counter()
            analyze_record(record)
            seconds.append(time.perf_counter() - start)
    ms = np.array(seconds) * 1e3
    print(f"per correlogram ({count} x 192 lags, one core): median {np.median(ms):.2f} ms, "
          f"p10 {np.percentile(ms, 10):.2f} ms, p90 {np.percentile(ms, 90):.2f} ms; "
          f"throughput {count / ms.sum() * 1e3:.0f} correlograms/s")


def per_prep(n_preps: int, jobs: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = simulate_cohort(Path(folder) / "cohort", n_preps, 7)
        dataset = load_dataset(root, errors="collect")
        for n_jobs in sorted({1, jobs}):
            cpu_before = time.process_time()
            start = time.perf_counter()
            features, errors = dls_feature_table(dataset, n_jobs=n_jobs)
            elapsed = time.perf_counter() - start
            cpu_ms = (time.process_time() - cpu_before) * 1e3 / len(features)
            records = int(features["dls_n_records"].sum())
            cost = (f"; CPU {cpu_ms:.2f} ms per prep, i.e. {1e3 / cpu_ms:.0f} preps/s on an "
                    "idle core" if n_jobs == 1 else "")  # pool workers are not our children
            print(f"dls_feature_table, n_jobs={n_jobs}: {len(features)} preps ({records} "
                  f"records, {len(errors)} errors) in {elapsed:.2f} s = "
                  f"{len(features) / elapsed:.0f} preps/s{cost}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--correlograms", type=int, default=2000)
    parser.add_argument("--preps", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    per_correlogram(args.correlograms)
    per_prep(args.preps, args.jobs)


if __name__ == "__main__":
    main()
