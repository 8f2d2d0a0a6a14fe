"""ZetaView's stated median against exoqc's D50 on simulated exports (docs/nta.md).

The simulator writes ``Median Number (D50):`` from the traced particles themselves; exoqc
computes its D50 from the export's 5 nm size classes. Prints, per seed, how far apart they
are and how many exports ``reported_disagreement`` flags (its tolerance: 3 %).

Run: ``.venv/bin/python benchmarks/zetaview_median.py [--seeds 9001 777] [--n-preps 400]``
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from exoqc.features.nta.analysis import analyze_sample
from exoqc.features.nta.readers import read_nta_file
from exoqc.simulate import simulate_cohort


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[9001, 777])
    parser.add_argument("--n-preps", type=int, default=400)
    args = parser.parse_args()
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            root = simulate_cohort(Path(tmp) / "cohort", args.n_preps, seed=seed, nta_share=1.0)
            gaps, flagged = [], 0
            for path in sorted((root / "nta").glob("*.txt")):
                for sample in read_nta_file(path):
                    result = analyze_sample(sample)
                    gaps.append(abs(result.d50_nm / sample.reported_d50_nm - 1))
                    flagged += "reported_disagreement" in result.flags
        print(f"seed {seed}: {len(gaps)} ZetaView exports; |exoqc D50 / stated median - 1|: "
              f"median {np.median(gaps):.2%}, max {max(gaps):.2%}; {flagged} flagged")


if __name__ == "__main__":
    main()
