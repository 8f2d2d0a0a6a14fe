"""Where does ``make run``'s main job spend its time? Wall and CPU seconds per stage.

The main job (after the environment is installed): simulate the reference cohort, train
both models on it (features, search, final fit and calibration, baselines, SHAP, logging
and registration), simulate a new batch of 300 preparations and score it. This script runs
the same steps in one process into a temporary MLflow store and prints, per stage, the wall
time and the CPU time (this process, all threads, plus the DLS worker processes it waited
for), then the held-out figures the run reached, to compare with a change's quality cost.

CPU time is the figure to compare on a shared machine: wall time there includes waiting
for other people's processes.

    .venv/bin/python benchmarks/first_run.py                  # the reference cohort (5,000)
    .venv/bin/python benchmarks/first_run.py --n-preps 1000   # a quick look
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

_TRAIN_STAGES = {  # (module of exoqc.training, function): stage
    ("job", "build_features"): "features (DLS analysis included)",
    ("heldout_job", "_log_datasets"): "logging input datasets",
    ("heldout_job", "_evaluate_baselines"): "baselines",
    ("heldout_job", "log_global_shap"): "global SHAP and figures",
    ("heldout_job", "log_and_register"): "logging and registering the model",
    ("heldout_job", "describe_version"): "logging and registering the model",
}


def _living_children_cpu_s() -> float:
    """CPU seconds of this process's living children and the children they reaped.

    The DLS workers are forked by multiprocessing's fork server, a child that lives until
    exit: their CPU time shows only in its counters (Linux /proc; 0 elsewhere).
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():  # ppid; then utime, stime, cutime, cstime
            total += sum(int(f) for f in fields[11:15]) / ticks
    return total


class StageClock:
    """Wall and CPU seconds charged to named stages; a stage timed twice adds up."""

    def __init__(self) -> None:
        self.rows: dict[str, list[float]] = {}
        self.stage: str | None = None
        self._wall, self._cpu = self._now()

    @staticmethod
    def _now() -> tuple[float, float]:
        times = os.times()
        return time.perf_counter(), (time.process_time() + times.children_user
                                     + times.children_system + _living_children_cpu_s())

    def switch(self, stage: str | None) -> None:
        """Charge the time since the last switch to the current stage, then start ``stage``."""
        wall, cpu = self._now()
        if self.stage is not None:
            row = self.rows.setdefault(self.stage, [0.0, 0.0])
            row[0] += wall - self._wall
            row[1] += cpu - self._cpu
        self.stage, self._wall, self._cpu = stage, wall, cpu

    def print(self) -> None:
        total_wall = sum(r[0] for r in self.rows.values())
        total_cpu = sum(r[1] for r in self.rows.values())
        print(f"{'stage':<34} {'wall s':>8} {'CPU s':>8} {'CPU share':>9}")
        for stage, (wall, cpu) in self.rows.items():
            print(f"{stage:<34} {wall:8.1f} {cpu:8.1f} {cpu / total_cpu:9.0%}")
        print(f"{'main job':<34} {total_wall:8.1f} {total_cpu:8.1f}")


def main() -> None:
    # Idle OpenMP threads sleep instead of spinning: on a shared machine spinning threads
    # count CPU time that does no work, and CPU time is this script's comparable figure.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from exoqc.config import get_settings

    defaults = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-preps", type=int, default=defaults.reference_cohort_size)
    parser.add_argument("--seed", type=int, default=defaults.reference_cohort_seed)
    parser.add_argument("--batch-preps", type=int, default=300)
    args = parser.parse_args()

    clock = StageClock()
    clock.switch("imports")
    import exoqc.training.heldout_job as heldout_job
    import exoqc.training.job as job
    from exoqc.contracts import PRIMARY_METRIC
    from exoqc.inference.score import ScoreSettings, score
    from exoqc.simulate import simulate_cohort

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        clock.switch("simulate reference cohort")
        cohort = simulate_cohort(Path(tmp) / "cohort", args.n_preps, args.seed)

        # Stages inside train(): the functions it calls, and its progress steps (search).
        modules = {"job": job, "heldout_job": heldout_job}
        originals = {key: getattr(modules[key[0]], key[1]) for key in _TRAIN_STAGES}

        def timed(key: tuple[str, str]):
            def wrapper(*a, **k):
                outer = clock.stage
                clock.switch(f"train: {_TRAIN_STAGES[key]}")
                try:
                    return originals[key](*a, **k)
                finally:
                    clock.switch(outer)
            return wrapper

        for key in _TRAIN_STAGES:
            setattr(modules[key[0]], key[1], timed(key))

        def progress(step: str, done: int, total: int) -> None:
            # The feature step is timed by its function (above), not by its progress.
            if not step.startswith("features") and f"train: {step}" != clock.stage:
                clock.switch(f"train: {step}")

        clock.switch("train: load, split, metrics, figures")
        results = job.train(cohort, "all", job.TrainSettings(), progress=progress)
        for (module, name), function in originals.items():
            setattr(modules[module], name, function)
        clock.switch("simulate new batch")
        batch = simulate_cohort(Path(tmp) / "batch", args.batch_preps, 2026)
        clock.switch("score new batch")
        scored = score(batch, Path(tmp) / "scores.csv", ScoreSettings())
        clock.switch(None)

    print(f"main job of make run: reference cohort {args.n_preps} preps (seed {args.seed}), "
          f"batch {args.batch_preps}; {os.cpu_count()} cores")
    clock.print()
    print("scoring stages (wall s): " + ", ".join(
        f"{k} {v:.1f}" for k, v in scored.timings_s.items()))
    for target, result in results.items():
        metric = PRIMARY_METRIC[target]
        print(f"held-out {target} {metric}: {result.test_metrics[metric]:.3f}")


if __name__ == "__main__":
    main()
