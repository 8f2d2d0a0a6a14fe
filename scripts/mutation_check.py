"""Mutation check: put realistic bugs into a copy of the tree, one at a time, and make sure
the tests of the decision each one breaks fail.

Each mutant is one exact text substitution in one file, applied to a temporary copy of the
working tree (git's tracked and untracked, not ignored, files), with the tests that pin
that decision run on the copy. A mutant whose target text is not found exactly once stops
the check with an error naming it, so the list cannot silently rot when the code changes:
update the mutant together with the code. The selected tests are first run on the
unmutated copy (a mutant counts as killed only if they pass without it). Prints one line
per mutant (killed / SURVIVED) and exits 1 if any survived, 2 if a mutant no longer
applies, the tests fail unmutated, or the copy is not what the tests import.

How to add a mutant when a decision is added: docs/testing.md.

Run: ``nice .venv/bin/python scripts/mutation_check.py [--only NAME ...] [--list]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]  # pytest arguments: files, node ids, ``-k`` expressions
    bug: str


MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "labels-shuffled-in-split", "training/split.py",
        "    labels = labelled.map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=int)\n",
        "    labels = labelled.map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=int)\n"
        "    labels = np.random.default_rng(0).permutation(labels)\n",
        ("tests/training/test_model_quality.py",),
        "training labels shuffled against their features",
    ),
    Mutant(
        "gcv-smallest-lambda", "features/dls/inversion.py",
        "    best = int(np.argmin(gcv))\n", "    best = 0\n",
        ("tests/features/dls/test_inversion.py",),
        "GCV replaced by the smallest λ of the grid",
    ),
    Mutant(
        "gcv-largest-lambda", "features/dls/inversion.py",
        "    best = int(np.argmin(gcv))\n", "    best = len(gcv) - 1\n",
        ("tests/features/dls/test_inversion.py",),
        "GCV replaced by the largest λ of the grid",
    ),
    Mutant(
        "always-calibrate", "training/calibrate.py",
        "if after < before else Calibration()", "if True else Calibration()",
        ("tests/training/test_calibrate.py",),
        "calibration kept even when it does not lower the out-of-fold Brier score",
    ),
    Mutant(
        "calibration-fitted-on-all-folds", "training/calibrate.py",
        "        others = np.setdiff1d(np.arange(len(labels)), valid)\n",
        "        others = np.arange(len(labels))\n",
        ("tests/training/test_calibrate.py",),
        "cross-fitting leaks a fold's own data into its calibration",
    ),
    Mutant(
        "calibration-fitted-on-own-fold", "training/calibrate.py",
        "        others = np.setdiff1d(np.arange(len(labels)), valid)\n",
        "        others = valid\n",
        ("tests/training/test_calibrate.py",),
        "each fold's calibration fitted on that fold alone",
    ),
    Mutant(
        "champion-tie-promotes", "training/registry.py",
        "promoted = new_score > previous_score", "promoted = new_score >= previous_score",
        ("tests/training/test_champion.py",),
        "a tie with the champion promotes the new version",
    ),
    Mutant(
        "champion-unevaluable-kept", "training/registry.py",
        "            promoted = True\n            reason = f\"champion version",
        "            promoted = False\n            reason = f\"champion version",
        ("tests/training/test_champion.py",),
        "a champion that cannot be evaluated is kept instead of replaced",
    ),
    Mutant(
        "champion-scored-on-training-split", "training/heldout_job.py",
        "                champion.predict_proba(x_test), y_test, classes)[metric],",
        "                champion.predict_proba(x_train), y_train, classes)[metric],",
        ("tests/training/test_champion.py",),
        "the champion scored on the training split, not the new held-out split",
    ),
    Mutant(
        "domain-range-tolerance-20pct", "model/domain.py",
        "RANGE_TOLERANCE = 0.10\n", "RANGE_TOLERANCE = 0.20\n",
        ("tests/inference/test_domain.py", "-k", "not clean"),
        "training range widened by 20 % instead of 10 %",
    ),
    Mutant(
        "domain-upper-bound-inclusive", "model/domain.py",
        "above = values.gt(high, axis=1)", "above = values.ge(high, axis=1)",
        ("tests/inference/test_domain.py", "-k", "not clean"),
        "a value on the upper boundary counted as outside",
    ),
    Mutant(
        "domain-below-range-unchecked", "model/domain.py",
        "below = values.lt(low, axis=1)", "below = values.lt(low - np.inf, axis=1)",
        ("tests/inference/test_domain.py", "-k", "not clean"),
        "values below the training range not flagged",
    ),
    Mutant(
        "domain-missing-max-not-99th-percentile", "model/domain.py",
        "features.isna().sum(axis=1).quantile(0.99)", "features.isna().sum(axis=1).max()",
        ("tests/inference/test_domain.py", "-k", "not clean"),
        "missingness limit from the most incomplete training preparation",
    ),
    Mutant(
        "domain-unseen-method-inverted", "model/domain.py",
        "if not (features[c] == 1).any()]", "if not (features[c] == 0).any()]",
        ("tests/inference/test_domain.py", "-k", "not clean"),
        "unseen isolation methods computed from the wrong indicator value",
    ),
    Mutant(
        "domain-gain-filter-0.1pct", "model/domain.py",
        "MIN_GAIN_SHARE = 0.01\n", "MIN_GAIN_SHARE = 0.001\n",
        ("tests/inference/test_domain.py", "-k", "not clean"),
        "features with under 1 % of the split gain range-checked",
    ),
    Mutant(
        "store-lock-not-taken", "exoqc/tracking.py",
        "    db = sqlite_path(uri or mlflow.get_tracking_uri())\n    if db is None:\n",
        "    db = None\n    if db is None:\n",
        ("tests/exoqc/test_concurrency.py::test_concurrent_champion_decisions_see_each_other",),
        "the champion decision runs without the store's lock",
    ),
    Mutant(
        "cli-ui-missing", "exoqc/cli.py",
        "@app.command()\ndef ui(", "def ui(",
        ("tests/exoqc/test_cli.py",),
        "the ui subcommand not registered",
    ),
)


class MutantRotted(RuntimeError):
    """A mutant's target text is no longer in its file exactly once."""


def copy_tree(destination: Path) -> None:
    """The working tree as git sees it (tracked and untracked, not ignored files)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def link_packages(root: Path) -> None:
    """Make the copy importable as ``exoqc`` by path alone: pyproject.toml's package-dir
    maps exoqc.features to features/ and so on, which the installed (editable) package
    resolves to the original tree; links inside the copy's exoqc/ point at the copy's."""
    package_dir = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"]
    for package, folder in package_dir.items():
        parts = package.split(".")
        if len(parts) == 2 and parts[0] == "exoqc":
            (root / "exoqc" / parts[1]).symlink_to(root / folder, target_is_directory=True)


def check_imports_come_from(root: Path, env: dict[str, str]) -> None:
    probe = ("import exoqc, exoqc.features.dls.inversion as a, exoqc.training.job as b, "
             "exoqc.model.domain as c; print(exoqc.__file__, a.__file__, b.__file__, "
             "c.__file__)")
    paths = subprocess.run([sys.executable, "-c", probe], cwd=root, env=env, check=True,
                           capture_output=True, text=True).stdout.split()
    outside = [p for p in paths if not Path(p).resolve().is_relative_to(root.resolve())]
    if outside:
        raise RuntimeError(f"the copy's tests would import {outside} from outside the copy")


def apply(root: Path, mutant: Mutant) -> str:
    """Apply the mutant; returns the file's original text."""
    path = root / mutant.file
    text = path.read_text()
    count = text.count(mutant.old)
    if count != 1:
        raise MutantRotted(
            f"mutant {mutant.name}: its target text is found {count} times in {mutant.file} "
            f"(expected once); update the mutant in {Path(__file__).name} with the code:\n"
            f"{mutant.old}")
    path.write_text(text.replace(mutant.old, mutant.new))
    return text


def run_tests(root: Path, mutant: Mutant, env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mutant.tests],
        cwd=root, env=env, capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run these mutants only")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip running the selected tests on the unmutated copy first")
    args = parser.parse_args()
    mutants = [m for m in MUTANTS if not args.only or m.name in args.only]
    unknown = set(args.only or ()) - {m.name for m in MUTANTS}
    if unknown:
        parser.error(f"unknown mutant(s): {', '.join(sorted(unknown))}")
    if args.list:
        for mutant in mutants:
            print(f"{mutant.name:42} {mutant.file:28} {mutant.bug}")
        return 0

    survived = []
    with tempfile.TemporaryDirectory(prefix="exoqc-mutants-") as tmp:
        root = Path(tmp) / "tree"
        copy_tree(root)
        link_packages(root)
        # Subprocesses of the tests (the exoqc command, worker processes) import the copy too.
        env = {**os.environ, "PYTHONPATH": str(root)}
        try:
            check_imports_come_from(root, env)
            for mutant in mutants:  # every target first: a rotted list fails before any run
                (root / mutant.file).write_text(apply(root, mutant))
        except (MutantRotted, RuntimeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if not args.no_baseline:
            # A mutant counts as killed only if its tests pass without it: run them all on
            # the unmutated copy first (one session, so the trained fixtures are shared).
            selected = sorted({t for m in mutants for t in m.tests
                               if t.startswith("tests/")})
            code, output = run_tests(root, Mutant("baseline", "", "", "", tuple(selected), ""),
                                     env)
            if code != 0:
                print(output[-3000:], file=sys.stderr)
                print("error: the tests fail on the unmutated tree", file=sys.stderr)
                return 2
            print(f"baseline: {len(selected)} test selections pass on the unmutated copy",
                  flush=True)
        for mutant in mutants:
            original = apply(root, mutant)
            start = time.monotonic()
            try:
                code, output = run_tests(root, mutant, env)
            finally:
                (root / mutant.file).write_text(original)
            seconds = time.monotonic() - start
            if code == 0:
                survived.append(mutant.name)
                verdict = "SURVIVED"
            elif code in (1, 2):  # tests failed, or the mutant broke collection
                verdict = "killed"
            else:
                print(output[-3000:], file=sys.stderr)
                print(f"error: mutant {mutant.name}: pytest exit {code} (no tests ran?)",
                      file=sys.stderr)
                return 2
            print(f"{verdict:9} {mutant.name:42} {seconds:6.0f} s  {mutant.bug}", flush=True)
    print(f"{len(mutants) - len(survived)} of {len(mutants)} mutants killed"
          + (f"; survived: {', '.join(survived)}" if survived else ""))
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
