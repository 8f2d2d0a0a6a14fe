"""NTA speed: reading + analysing + featurizing one NTA export on one core, beside analysing
one DLS record; and ``exoqc score`` throughput with NTA exports present.

1. Per file, one core, BLAS single-threaded: :func:`read_nta_file`, :func:`analyze_sample`
   and the feature row, for the two real NanoSight exports (tests/data/nta) and the
   NanoSight and ZetaView exports of a simulated cohort (seed 9001, not one the readers
   were developed on). Prints the median, p90 and files per second per layout, beside the
   median of a complete DLS analysis of a realistic 192-lag correlogram
   (``dls_speed.realistic_records``, the README's DLS figure).
2. DLS/NTA agreement on a simulated cohort (seed 9002, every preparation with an NTA
   export): the DLS Z-average over the NTA mode by purity class, and how often it exceeds
   ``NTA_DLS_RATIO_MAX`` (``--agreement-preps``).
3. Scoring: both models trained on a cohort with NTA exports for half its preparations
   (``--train-preps``, ``--n-trials``), then the same simulated batch scored with and
   without its NTA exports (``exoqc simulate --nta-share 0.5`` and ``0``: the same
   preparations, the same other files), median of ``--repeats``.

Run: ``.venv/bin/python benchmarks/nta_speed.py [--files 300] [--n-preps 2000]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from dls_speed import realistic_records

from exoqc.features.dls.analysis import analyze_record
from exoqc.features.dls.speed import single_threaded_blas
from exoqc.features.nta.analysis import analyze_sample
from exoqc.features.nta.readers import read_nta_file
from exoqc.features.nta.table import result_features
from exoqc.simulate import simulate_cohort

REAL = Path(__file__).resolve().parents[1] / "tests" / "data" / "nta"


def _one_file(path: Path) -> float:
    start = time.perf_counter()
    for sample in read_nta_file(path):
        result_features(analyze_sample(sample))
    return time.perf_counter() - start


def per_file(n_files: int, root: Path) -> None:
    cohort = simulate_cohort(root / "nta_files", n_files, seed=9001, nta_share=1.0)
    groups = {
        "NanoSight (real, tests/data/nta)": sorted(REAL.glob("*.csv")) * 50,
        "NanoSight (simulated)": sorted((cohort / "nta").glob("*.csv")),
        "ZetaView (simulated)": sorted((cohort / "nta").glob("*.txt")),
    }
    dls = realistic_records(300, seed=2025)
    with single_threaded_blas():
        _one_file(groups["NanoSight (real, tests/data/nta)"][0])
        analyze_record(dls[0])  # caches warm, as in any long batch
        for name, paths in groups.items():
            ms = np.array([_one_file(p) for p in paths]) * 1e3
            print(f"{name}: {len(paths)} files, read + analyse + features: median "
                  f"{np.median(ms):.2f} ms, p90 {np.percentile(ms, 90):.2f} ms; "
                  f"{len(ms) / ms.sum() * 1e3:.0f} files/s")
        # Reading alone against the rest, per real file: the yardstick is that
        # reading an export costs no more than analysing one DLS record.
        for path in sorted(REAL.glob("*.csv")):
            read_ms, rest_ms = [], []
            for _ in range(50):
                start = time.perf_counter()
                samples = read_nta_file(path)
                middle = time.perf_counter()
                for sample in samples:
                    result_features(analyze_sample(sample))
                read_ms.append((middle - start) * 1e3)
                rest_ms.append((time.perf_counter() - middle) * 1e3)
            print(f"  {path.name}: read {np.median(read_ms):.2f} ms, analyse + features "
                  f"{np.median(rest_ms):.2f} ms (median of 50)")
        seconds = []
        for record in dls:
            start = time.perf_counter()
            analyze_record(record)
            seconds.append(time.perf_counter() - start)
    ms = np.array(seconds) * 1e3
    print(f"DLS, one 192-lag correlogram analysed (same core): median {np.median(ms):.2f} ms, "
          f"p90 {np.percentile(ms, 90):.2f} ms; {len(ms) / ms.sum() * 1e3:.0f} records/s")


def agreement(n_preps: int, root: Path) -> None:
    import pandas as pd

    from exoqc.dataset import load_dataset
    from exoqc.features.build import build_features
    from exoqc.features.nta.table import NTA_DLS_RATIO_MAX

    cohort = simulate_cohort(root / "agreement", n_preps, seed=9002, nta_share=1.0)
    dataset = load_dataset(cohort)
    frame = build_features(dataset, n_jobs=1).frame
    table = pd.DataFrame({"ratio": frame["nta_dls_z_average_to_mode"],
                          "purity": dataset.preps["purity_class"]}).dropna()
    print(f"DLS Z-average / NTA mode, {len(table)} simulated preps (seed 9002):")
    for purity, group in table.groupby("purity", sort=False):
        p25, p50, p75 = group["ratio"].quantile([0.25, 0.5, 0.75])
        above = (group["ratio"] > NTA_DLS_RATIO_MAX).mean()
        print(f"  purity {purity:6}: median {p50:.2f} (quartiles {p25:.2f}-{p75:.2f}); "
              f"{above:.0%} above {NTA_DLS_RATIO_MAX:g}")


def scoring(args: argparse.Namespace, root: Path) -> None:
    from exoqc.inference.score import Scorer, ScoreSettings, score
    from exoqc.training.job import TrainSettings, train

    os.environ["MLFLOW_TRACKING_URI"] = args.store or f"sqlite:///{root / 'mlflow.db'}"
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    if not args.store:
        print(f"training on {args.train_preps} preps with NTA exports for half "
              f"({args.n_trials} trials) ...", flush=True)
        cohort = simulate_cohort(root / "train", args.train_preps, seed=4100, nta_share=0.5)
        train(cohort, settings=TrainSettings(n_trials=args.n_trials, n_jobs=args.jobs))
    settings = ScoreSettings(n_jobs=args.jobs)
    scorer = Scorer.load(settings)
    for share in (0.5, 0.0):
        batch = simulate_cohort(root / f"batch{share}", args.n_preps, seed=4242,
                                nta_share=share)
        runs = []
        for k in range(args.repeats):
            result = score(batch, root / f"scores{share}_{k}.csv", settings, scorer=scorer)
            runs.append(result.timings_s)
        stages = {stage: statistics.median(r[stage] for r in runs) for stage in runs[0]}
        scored = sum(t for s, t in stages.items() if s != "mlflow run")
        n_files = len(list((batch / "nta").glob("*"))) if (batch / "nta").is_dir() else 0
        print(f"score {args.n_preps} preps, {n_files} NTA exports, {args.jobs} worker(s), "
              f"median of {args.repeats}: files -> scores file {scored:.1f} s = "
              f"{args.n_preps / scored:.0f} preps/s; NTA features {stages['features: nta']:.2f} s"
              f", DLS {stages['features: dls']:.1f} s; with the MLflow run "
              f"{args.n_preps / sum(stages.values()):.0f} preps/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--n-preps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-preps", type=int, default=1000)
    parser.add_argument("--n-trials", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--store", help="MLflow tracking URI that already has both models")
    parser.add_argument("--agreement-preps", type=int, default=400)
    parser.add_argument("--skip-scoring", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="exoqc-nta-bench-") as tmp:
        per_file(args.files, Path(tmp))
        agreement(args.agreement_preps, Path(tmp))
        if not args.skip_scoring:
            scoring(args, Path(tmp))


if __name__ == "__main__":
    main()
