"""What a training run of one target returns, and the progress callback both paths call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from exoqc import input_report
from exoqc.training.registry import ChampionDecision


@dataclass
class TrainResult:
    target: str
    run_id: str
    model_version: str
    champion: ChampionDecision
    test_metrics: dict[str, float]
    baseline_metrics: dict[str, dict[str, float]]
    cv_metrics: dict[str, float] = field(default_factory=dict)
    readout_metrics: dict[str, float] = field(default_factory=dict)
    input_problems: list[input_report.Reported] = field(default_factory=list)
    validation: str = "held-out"
    interval: tuple[float, float] | None = None  # of the primary metric (small data)
    chosen: str = "xgboost"
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # not fitted (small data), and why


ProgressCallback = Callable[[str, int, int], None]
"""(step description, done, total) for a progress display."""
