"""Speed of the feature table beyond the DLS inversion: 10,000 preparations.

Writes a prep dataset folder of N preparations without DLS files (the DLS analysis has
its own benchmark, benchmarks/dls_speed.py) but with a full marker panel in Western-blot
runs of 12 lanes, NTA/BCA counts and let-7 cargo, then prints the median over repeats of
loading the folder and of ``build_features`` (markers, counts, cargo, prep record and the
assembly of the table).

    .venv/bin/python benchmarks/features_speed.py [--n-preps 10000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from exoqc.dataset import load_dataset
from exoqc.features import build_features
from exoqc.features.markers import PANEL

LANES_PER_BLOT = 12


def write_folder(root: Path, n_preps: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    prep_ids = [f"P{i:05d}" for i in range(n_preps)]
    methods = rng.choice(["uc", "sec", "uc_sec", "peg", "density_gradient"], n_preps)
    pd.DataFrame({
        "prep_id": prep_ids,
        "batch": [f"B{i // 20}" for i in range(n_preps)],
        "isolation_method": methods,
        "particles_per_ml": 10 ** rng.uniform(9, 12, n_preps),
        "protein_ug_per_ml": 10 ** rng.uniform(1, 3, n_preps),
    }).to_csv(root / "preps.csv", index=False)

    symbols = [symbol for symbol, _ in PANEL]
    n_rows = n_preps * len(symbols)
    intensity = 10 ** rng.normal(3, 0.7, n_rows)
    intensity[rng.random(n_rows) < 0.15] = 0.0
    pd.DataFrame({
        "prep_id": np.repeat(prep_ids, len(symbols)),
        "marker": np.tile(symbols, n_preps),
        "intensity": intensity,
        "assay": "wb",
        "run": np.repeat([f"blot{i // LANES_PER_BLOT}" for i in range(n_preps)], len(symbols)),
    }).to_csv(root / "markers.csv", index=False)

    pd.DataFrame({
        "prep_id": np.repeat(prep_ids, 2),
        "target": np.tile(["let-7a", "let-7b"], n_preps),
        "delta_ct": rng.normal(-2, 1.5, 2 * n_preps).round(2),
    }).to_csv(root / "cargo.csv", index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-preps", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_folder(root, args.n_preps)
        load_s, build_s = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            dataset = load_dataset(root)
            load_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            table = build_features(dataset, n_jobs=1)
            build_s.append(time.perf_counter() - start)

    n_rows = len(dataset.markers)
    print(f"{args.n_preps} preps, {n_rows} marker rows, {table.frame.shape[1]} feature columns, "
          f"{args.repeats} repeats")
    print(f"load_dataset:   median {statistics.median(load_s):.2f} s")
    print(f"build_features: median {statistics.median(build_s):.2f} s "
          f"({args.n_preps / statistics.median(build_s):,.0f} preps/s, DLS excluded)")


if __name__ == "__main__":
    main()
