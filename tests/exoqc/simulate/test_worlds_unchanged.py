"""Other labs and production histories stay byte-identical for their seeds.

The digests were computed on the simulator before labs and histories became explicit
``World`` arguments (commit 647a24a, when a lab patched module constants and a history
passed ``ProcessOverrides``): the refactor changed no file of any of them. A deliberate
change of a lab or of a history re-pins its digest here (and says why in its commit); the
reference cohort's own digests are in test_reference_unchanged.py.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from exoqc.simulate import simulate_cohort
from exoqc.simulate.history import simulate_history

# One sha256 over "relative path, file sha256" lines of every file, in path order.
COHORTS = {  # n_preps 12, seed 5
    "reference": (None, "753682ae71a679a6f2cb72fb9209c58816ffa23aeb339a34a20f442fcfa24372"),
    "bm_msc": (None, "a882dbe7bd0ed51e19a6e0b7921aca18a52059a828952f62d00ac30877c81d49"),
    "uc_msc": (None, "f99cc7aa8be5ec3a9bba632ae14eafa8217d748e6ae06d1521ad703e28faa1c1"),
    "hek293": (None, "888d59030c52bbc311dcd897f08f42e43d3f04776e4fe91bea127c9a95b4b6d4"),
    "random": (7, "4990ff7fe4593c64a4a5b8574bd03c8d887694b456d49b07637c44b620d31e7c"),
}
HISTORIES = {  # 8 batches, seed 4, the change at batch 4
    "in_control": "5d1b7253403448db7432aa4b742801e0fdd221d04e45207b3f0df9701f4c2aef",
    "serum_lot": "ba549fe4a6e99bd9d9db11c61fde3bc86d60c633843cecdcf8554c7e2ae22aa8",
    "sec_aging": "3ab593e9dd6cb6621ced5c0b2149fd002bf46d42c25dd80a06da98080533e89c",
    "passage_creep": "f49f11ef13fda08c34afe63476179828a49e4457a86e6751468c291a58f183d9",
    "dls_instrument": "f1ff03299f0abaed17779fa29386e341eec7cd7c213c176a899f79e41de66631",
}


def folder_digest(root: Path) -> str:
    lines = "".join(f"{p.relative_to(root)} {hashlib.sha256(p.read_bytes()).hexdigest()}\n"
                    for p in sorted(root.rglob("*")) if p.is_file())
    return hashlib.sha256(lines.encode()).hexdigest()


def _cohort(root: Path, lab: str) -> str:
    lab_seed, _ = COHORTS[lab]
    return folder_digest(simulate_cohort(root / lab, 12, seed=5,
                                         lab=None if lab_seed else lab, lab_seed=lab_seed))


@pytest.mark.parametrize("lab", list(COHORTS))
def test_lab_cohort_is_byte_identical_for_its_seed(tmp_path, lab):
    assert _cohort(tmp_path, lab) == COHORTS[lab][1]


@pytest.mark.parametrize("scenario", list(HISTORIES))
def test_history_is_byte_identical_for_its_seed(tmp_path, scenario):
    root = simulate_history(tmp_path / scenario, 8, 4, scenario, change_at=4)
    assert folder_digest(root) == HISTORIES[scenario]


def test_labs_simulated_side_by_side_do_not_leak_into_each_other(tmp_path):
    # A lab is an argument, not a patched module: threads simulating different labs at the
    # same time each get their own lab.
    labs = ["reference", "bm_msc", "hek293", "reference", "uc_msc", "random"]
    with ThreadPoolExecutor(max_workers=3) as pool:
        found = list(pool.map(lambda k: _cohort(tmp_path / str(k), labs[k]), range(len(labs))))
    assert found == [COHORTS[lab][1] for lab in labs]
