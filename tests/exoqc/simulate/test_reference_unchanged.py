"""The reference lab's cohort stays byte-identical for its seed while other labs are added.

The pinned digests were computed on the simulator before labs existed (commit d5ccdc8).
They live here and nowhere else: a deliberate change of the reference simulator re-pins
them in this one place (and says why in its commit).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from exoqc.simulate import simulate_cohort

N_PREPS, SEED = 24, 5
# sha256 per file; the DLS exports as one digest over "name digest" lines in name order.
PINNED_SHA256 = {
    "cargo.csv": "961b50b48bcfe823aee3e9ae20abed37b38c5d4a8279ca9f8760a75b2bd8ca11",
    "markers.csv": "ac9b184fc85e22cbabe0c0f4270c9389ad25d03d1a93d22ca4d6f1fb7d027f3b",
    "preps.csv": "68f67f304bf35cda10a0d56d8d1ff8465baaba04b7687f991d643eea0d3ce7da",
    "simulation_truth.csv": "eaf630801b47440bec05673a71f65250793802c5f60d2f9ab538935715986ef0",
    "dls/": "a4c9cef99eacc4a80bae5ee6c234c039e3193bffa7808c74c39e0bb5a17012b6",
}


def digests(root: Path) -> dict[str, str]:
    out = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
           for p in sorted(root.glob("*.csv"))}
    lines = "".join(f"{p.name} {hashlib.sha256(p.read_bytes()).hexdigest()}\n"
                    for p in sorted((root / "dls").iterdir()))
    out["dls/"] = hashlib.sha256(lines.encode()).hexdigest()
    return out


def test_reference_cohort_is_byte_identical_for_its_seed(tmp_path):
    assert digests(simulate_cohort(tmp_path / "ref", N_PREPS, SEED)) == PINNED_SHA256



def test_reference_lab_by_name_is_the_same_cohort(tmp_path):
    assert digests(simulate_cohort(tmp_path / "ref", N_PREPS, SEED, lab="reference")) == \
        PINNED_SHA256
