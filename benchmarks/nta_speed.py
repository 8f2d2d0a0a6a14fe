"""NTA speed: reading + analysing + featurizing one NTA export on one core, beside analysing
one DLS record; and ``exoqc score`` throughput with NTA exports present.

1. Per file, one core, BLAS single-threaded: :func:`read_nta_file`, :func:`analyze_sample`
   and the feature row, for every layout exoqc reads: the two real NanoSight
   ExperimentSummary exports (tests/data/nta: 12 and 5 videos), the NanoSight and ZetaView
   exports of a simulated cohort (seed 9001, not one the readers were developed on),
   generic ``size_nm,concentration`` CSVs written from those simulated summaries, and the
   NanoSight per-particle exports (tests/data/nta: ParticleData, 150 particles; AllTracks,
   3,316 rows). The yardstick is a complete DLS analysis of a realistic 192-lag
   correlogram (``dls_speed.realistic_records``, the README's DLS figure), timed in the
   same loop: ten files of a layout in a row, then ten DLS records in a row, for every
   layout in turn (each timed in its own steady state, as in a batch; load on a shared
   machine weighs on both alike). Prints the median and p90 per file, files per
   second, the median of reading alone, and PASS/MISS per layout for the issue's yardstick
   (reading an export costs no more than analysing a DLS record; PASS here is the whole
   path, read + analyse + features, at or below the DLS median). Then one AllTracks
   export of a long video (the fixture's tracks 32 times, 106,112 rows), against the same
   DLS median: reading such an export grows with its rows.
2. DLS/NTA agreement on a simulated cohort (seed 9002, every preparation with an NTA
   export): the DLS Z-average over the NTA mode by purity class, and how often it exceeds
   ``NTA_DLS_RATIO_MAX`` (``--agreement-preps``).
3. Scoring: both models trained on a cohort with NTA exports for half its preparations
   (``--train-preps``, ``--n-trials``), then the same simulated batch scored with and
   without its NTA exports (``exoqc simulate --nta-share 0.5`` and ``0``: the same
   preparations, the same other files), median of ``--repeats``.

Run: ``nice -n 10 .venv/bin/python benchmarks/nta_speed.py [--rounds 600] [--skip-scoring]``
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
BLOCK = 10
"""Files of one layout (or DLS records) timed in a row."""


def _one_file(path: Path) -> tuple[float, float, float]:
    """Seconds to read the export, to read, analyse and featurize it, and the CPU seconds
    of the latter (which a preemption on a loaded machine does not count)."""
    cpu, start = time.process_time(), time.perf_counter()
    samples = read_nta_file(path)
    read = time.perf_counter()
    for sample in samples:
        result_features(analyze_sample(sample))
    return read - start, time.perf_counter() - start, time.process_time() - cpu


def _generic_csvs(summaries: list[Path], folder: Path) -> list[Path]:
    """A generic ``size_nm,concentration`` CSV per simulated NanoSight summary: its
    video-averaged distribution (bins without particles left out, as a lab's own script
    would write it) and its dilution in the ``#`` preamble."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for summary in summaries:
        (sample,) = read_nta_file(summary)
        pooled = sample.video_concentration_per_ml.mean(axis=0)
        if sample.dilution_factor is not None:
            pooled = pooled / sample.dilution_factor
        keep = pooled > 0
        rows = [f"{d:g},{c:.6g}" for d, c in zip(sample.diameter_nm[keep], pooled[keep],
                                                  strict=True)]
        preamble = [f"# sample_name: {sample.sample_name}"]
        if sample.dilution_factor is not None:
            preamble.append(f"# dilution_factor: {sample.dilution_factor:g}")
        path = folder / f"{summary.stem}.csv"
        path.write_text("\n".join([*preamble, "size_nm,concentration", *rows]) + "\n")
        paths.append(path)
    return paths


def _long_all_tracks(folder: Path, copies: int) -> Path:
    """The AllTracks fixture's tracks ``copies`` times over (ids shifted past the last
    one's), as the export of a long video would hold them."""
    header, *rows = (REAL / "EV_prep_3_video1_AllTracks.csv").read_text().splitlines()
    split = [row.split(",", 1) for row in rows]
    shift = max(int(track) for track, _ in split) + 1
    lines = [header] + [f"{int(track) + k * shift},{rest}" for k in range(copies)
                        for track, rest in split]
    path = folder / "long_video_AllTracks.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def long_export(root: Path, copies: int, dls_median_ms: float) -> None:
    """Reading grows with an AllTracks export's rows; the summary of the same video does
    not."""
    path = _long_all_tracks(root, copies)
    with single_threaded_blas():
        ms = np.array([_one_file(path)[1] for _ in range(7)]) * 1e3
    n_rows = copies * (len((REAL / "EV_prep_3_video1_AllTracks.csv").read_text()
                           .splitlines()) - 1)
    print(f"  AllTracks of a long video ({n_rows:,} rows: the fixture's tracks {copies} times)"
          f": median {np.median(ms):.1f} ms of 7 = {np.median(ms) / dls_median_ms:.0f} DLS "
          "records")


def per_file(n_files: int, rounds: int, root: Path) -> float:
    cohort = simulate_cohort(root / "nta_files", n_files, seed=9001, nta_share=1.0)
    summaries = sorted((cohort / "nta").glob("*.csv"))
    layouts = {
        "NanoSight summary, real, 12 videos": [REAL / "beads.csv"],
        "NanoSight summary, real, 5 videos": [REAL / "beads2.csv"],
        "NanoSight summary, simulated": summaries,
        "ZetaView .txt, simulated": sorted((cohort / "nta").glob("*.txt")),
        "generic CSV size_nm,concentration": _generic_csvs(summaries, root / "generic"),
        "NanoSight ParticleData, 150 particles": [REAL / "EV_prep_3_video1_ParticleData.csv"],
        "NanoSight AllTracks, 3,316 rows": [REAL / "EV_prep_3_video1_AllTracks.csv"],
    }
    layouts = {name: paths for name, paths in layouts.items() if paths}  # a small --files
    dls = realistic_records(300, seed=2025)
    timings: dict[str, list[tuple[float, float, float]]] = {name: [] for name in layouts}
    dls_wall, dls_cpu = [], []
    with single_threaded_blas():
        for paths in layouts.values():  # caches warm, as in any long batch
            _one_file(paths[0])
        analyze_record(dls[0])
        # Blocks, as a batch runs: BLOCK files of one layout in a row, then BLOCK DLS
        # records in a row, for every layout in turn, every round; so each is timed in its
        # own steady state, and load on the machine falls on both alike.
        k = 0
        for _ in range(rounds // BLOCK):
            for name, paths in layouts.items():
                for j in range(k, k + BLOCK):
                    timings[name].append(_one_file(paths[j % len(paths)]))
                for j in range(k, k + BLOCK):
                    cpu, start = time.process_time(), time.perf_counter()
                    analyze_record(dls[j % len(dls)])
                    dls_wall.append(time.perf_counter() - start)
                    dls_cpu.append(time.process_time() - cpu)
            k += BLOCK
    wall_ms, cpu_ms = np.array(dls_wall) * 1e3, np.array(dls_cpu) * 1e3
    yardstick, yardstick_cpu = float(np.median(wall_ms)), float(np.median(cpu_ms))
    print(f"Per file, one core, {rounds} per layout in blocks of {BLOCK}, each followed by "
          f"{BLOCK} DLS records: read + analyse + features (wall clock: median, p90, "
          "files/s; reading alone; CPU time), and the ratio to one DLS record")
    print(f"  {'layout':40} {'files':>5} {'median':>8} {'p90':>8} {'files/s':>7} {'read':>7} "
          f"{'CPU':>7}  {'x DLS (wall, CPU)':17}")
    for name, paths in layouts.items():
        read_ms, total_ms, file_cpu_ms = (np.array(column) * 1e3 for column in
                                          zip(*timings[name], strict=True))
        ratio = float(np.median(total_ms)) / yardstick
        ratio_cpu = float(np.median(file_cpu_ms)) / yardstick_cpu
        worst = max(ratio, ratio_cpu)
        verdict = "PASS" if worst <= 1.0 else f"MISS by {worst - 1:.0%}"
        print(f"  {name:40} {len(paths):5d} {np.median(total_ms):6.2f}ms "
              f"{np.percentile(total_ms, 90):6.2f}ms {len(total_ms) / total_ms.sum() * 1e3:7.0f} "
              f"{np.median(read_ms):5.2f}ms {np.median(file_cpu_ms):5.2f}ms  "
              f"{ratio:4.2f}, {ratio_cpu:4.2f}  {verdict}")
    print(f"  {'DLS record analysed (the yardstick)':40} {len(dls_wall):5d} {yardstick:6.2f}ms "
          f"{np.percentile(wall_ms, 90):6.2f}ms {len(wall_ms) / wall_ms.sum() * 1e3:7.0f} "
          f"{'':7} {yardstick_cpu:5.2f}ms")
    print("  PASS: the median at or below the DLS record's, by wall clock and by CPU time.")
    return yardstick


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
    parser.add_argument("--rounds", type=int, default=600)
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
        long_export(Path(tmp), 32, per_file(args.files, args.rounds, Path(tmp)))
        agreement(args.agreement_preps, Path(tmp))
        if not args.skip_scoring:
            scoring(args, Path(tmp))


if __name__ == "__main__":
    main()
