"""DLS analysis speed: per correlogram on one core, and per preparation end to end.

1. 2,000 realistic 192-lag correlograms (multi-tau lags from 0.5 µs; an EV population of
   60–150 nm, σ_ln 0.2–0.45, with aggregates and lipoprotein-sized particles in some;
   correlator noise after Schätzel): each is analysed completely (noise estimate, ISO 22412
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
import tempfile
import time
from pathlib import Path

import numpy as np

from exoqc.config import DLS_DEFAULTS
from exoqc.dataset import load_dataset
from exoqc.features.dls.analysis import analyze_record
from exoqc.features.dls.physics import scattering_vector_per_m
from exoqc.features.dls.readers import DLSRecord
from exoqc.features.dls.speed import single_threaded_blas
from exoqc.features.dls.table import dls_feature_table
from exoqc.simulate import simulate_cohort
from exoqc.simulate.dls import multitau_lags_s, simulate_g2m1


def realistic_records(count: int, seed: int) -> list[DLSRecord]:
    rng = np.random.default_rng(seed)
    tau, widths = multitau_lags_s()
    d = DLS_DEFAULTS
    q = scattering_vector_per_m(d.wavelength_nm, d.angle_deg, d.medium_refractive_index)
    u = np.linspace(-3.5, 3.5, 57)
    profile = np.exp(-0.5 * u**2) / np.exp(-0.5 * u**2).sum()
    records = []
    for i in range(count):
        populations = [(rng.uniform(60, 150), rng.uniform(0.2, 0.45), 1.0)]
        if rng.random() < 0.4:
            populations.append((rng.uniform(300, 1200), 0.2, rng.uniform(0.02, 0.3)))
        if rng.random() < 0.3:
            populations.append((rng.uniform(15, 30), 0.15, rng.uniform(0.01, 0.05)))
        diameters = np.concatenate([median * np.exp(sigma * u)
                                    for median, sigma, _ in populations])
        weights = np.concatenate([share * profile for _, _, share in populations])
        beta, counts, duration = rng.uniform(0.75, 0.95), rng.uniform(1e5, 5e5), 100.0
        g2m1 = simulate_g2m1(tau, widths, diameters, weights, temperature_k=d.temperature_k,
                             viscosity_pa_s=d.viscosity_pa_s, q_per_m=q, beta=beta,
                             count_rate_cps=counts, duration_s=duration, rng=rng)
        records.append(DLSRecord(
            file="benchmark", record=i + 1, sample_name=f"S{i}", temperature_k=d.temperature_k,
            viscosity_pa_s=d.viscosity_pa_s, medium_refractive_index=d.medium_refractive_index,
            wavelength_nm=d.wavelength_nm, angle_deg=d.angle_deg, count_rate_kcps=counts / 1e3,
            tau_s=tau, g2m1=g2m1))
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
