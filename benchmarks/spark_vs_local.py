"""Throughput of the Spark engine in local mode against the local engine, same machine.

Simulates a batch (default 100,000 preparations, about 18 MB per 1,000 as instrument
files) in a temporary folder under /tmp, trains both models on a small reference cohort
into a temporary MLflow store (or uses ``--store``), then scores the batch ``--repeats``
times with each engine and prints the medians: wall time and preparations per second,
from the folder to the scores file. The MLflow scoring run (the same driver-side step
for both engines) is left out; so is starting the Spark session, printed apart. The two
scores files are compared, and everything is deleted at the end.

Spark in local mode on the same cores does the same work as the local engine plus
Spark's own (JVM, Arrow transfers between the JVM and Python workers, one Python worker
per stage and task, spark_udf loading the models per task): the figure is the overhead a
cluster must amortize.

    .venv/bin/python benchmarks/spark_vs_local.py
    .venv/bin/python benchmarks/spark_vs_local.py --n-preps 5000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
from scoring_setup import add_arguments, models_and_batch

from exoqc.inference import spark as spark_engine
from exoqc.inference.score import ScoreSettings, score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser, n_preps=100_000, repeats=1, train_preps=1000, n_trials=2)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="local engine's processes; Spark gets local[JOBS]")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="exoqc-spark-bench-", dir="/tmp") as tmp:
        root = Path(tmp)
        os.environ["PYSPARK_SUBMIT_ARGS"] = f"--master local[{args.jobs}] pyspark-shell"
        batch = models_and_batch(args, root, args.jobs)
        settings = ScoreSettings(n_jobs=args.jobs, log_to_mlflow=False)

        start = time.perf_counter()
        spark = spark_engine.spark_session("exoqc-benchmark")
        spark.sparkContext.setLogLevel("ERROR")
        session_s = time.perf_counter() - start

        walls: dict[str, list[float]] = {"local": [], "spark": []}
        stages: dict[str, list[dict[str, float]]] = {"local": [], "spark": []}
        for k in range(args.repeats):
            for engine in ("local", "spark"):
                output = root / f"{engine}-{k}.parquet"
                start = time.perf_counter()
                if engine == "local":
                    result = score(batch, output, settings)
                else:
                    result = spark_engine.score_folder(batch, output, settings, spark=spark)
                walls[engine].append(time.perf_counter() - start)
                stages[engine].append(result.timings_s)
                print(f"  run {k + 1}, {engine}: {walls[engine][-1]:.1f} s", flush=True)
        spark.stop()

        local = pd.read_parquet(root / "local-0.parquet")
        on_spark = pd.read_parquet(root / "spark-0.parquet")
        try:
            pd.testing.assert_frame_equal(on_spark, local, check_exact=False, rtol=1e-6)
            same = "identical (values to 1e-6 relative)"
        except AssertionError as difference:
            same = f"DIFFERENT: {difference}"

    n_ok = int((local["status"] == "ok").sum())
    print(f"\n{args.n_preps} preparations ({n_ok} scored, {args.n_preps - n_ok} input errors), "
          f"{args.jobs} cores, median of {args.repeats}; load average now "
          f"{os.getloadavg()[0]:.1f}")
    print(f"Spark session start (not included below): {session_s:.1f} s")
    for engine in ("local", "spark"):
        wall = statistics.median(walls[engine])
        print(f"{engine:>6} engine: {wall:8.1f} s  {args.n_preps / wall:8.1f} preps/s")
        for stage in stages[engine][0]:
            median = statistics.median(t[stage] for t in stages[engine])
            print(f"         {stage:<40} {median:8.1f} s")
    ratio = statistics.median(walls["spark"]) / statistics.median(walls["local"])
    print(f"Spark local mode / local engine wall time: {ratio:.2f}")
    print(f"Scores files: {same}")


if __name__ == "__main__":
    main()
