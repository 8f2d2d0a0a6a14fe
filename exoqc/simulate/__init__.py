"""Reference cohort simulator: physically grounded, labelled exosome preparations."""

from exoqc.simulate.cohort import TRUTH_FILE, simulate_cohort, summary_lines

__all__ = ["TRUTH_FILE", "simulate_cohort", "summary_lines"]
