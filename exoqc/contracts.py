"""The contracts of exoqc, each defined once: what other modules, the scores file, the MLflow
store and the user's folders agree on (docs/architecture.md, "Contracts").

Label classes, model targets and their primary metrics, MLflow experiment and registered model
names, the champion alias and model URIs, and the scores file's columns. Physical defaults of a
measurement are in :mod:`exoqc.config` (``DLS_DEFAULTS``), read by the readers and the CLI.
"""

from __future__ import annotations

from typing import Literal

Target = Literal["purity", "potency"]

TARGETS: tuple[Target, ...] = ("purity", "potency")
"""The two predicted properties, each with its own model."""

PURITY_CLASSES = ("high", "medium", "low")
"""Purity labels, best first (the input contract: ``purity_class``)."""

POTENCY_CLASSES = ("potent", "subpotent")
"""Potency labels; ``potent`` is the positive class (the input contract: ``potency_class``)."""

CLASSES: dict[Target, tuple[str, ...]] = {"purity": PURITY_CLASSES, "potency": POTENCY_CLASSES}

LABEL_COLUMNS: dict[Target, str] = {"purity": "purity_class", "potency": "potency_class"}
"""The ``preps.csv`` column holding each target's label."""

PRIMARY_METRIC: dict[Target, str] = {"purity": "macro_f1", "potency": "roc_auc"}
"""The metric that ranks candidates and decides the champion, per target."""

EXPERIMENTS = {
    "purity": "exoqc-purity",
    "potency": "exoqc-potency",
    "scoring": "exoqc-scoring",
    "monitoring": "exoqc-monitoring",
}
"""MLflow experiment of each kind of run."""

REGISTERED_MODELS: dict[Target, str] = {"purity": "exoqc-purity", "potency": "exoqc-potency"}
"""Registered model name per target."""

CHAMPION_ALIAS = "champion"


def champion_uri(target: Target) -> str:
    """``models:/<registered name>@champion``: the model ``exoqc score`` uses by default."""
    return f"models:/{REGISTERED_MODELS[target]}@{CHAMPION_ALIAS}"


def version_uri(registered_name: str, version: str | int) -> str:
    """``models:/<registered name>/<version>``: one registered version."""
    return f"models:/{registered_name}/{version}"


DEFAULT_MODEL_URIS: dict[Target, str] = {target: champion_uri(target) for target in TARGETS}

RELEASE_COLUMNS = ["purity_set", "potency_set", "decision", "decision_reason",
                   "assay_priority"]
"""The release decision's columns of the scores file (docs/release.md)."""

SCORE_COLUMNS = [
    "prep_id", "status", "error", "purity_class", "p_purity_high", "p_purity_medium",
    "p_purity_low", "potency_class", "p_potent", "in_domain", "domain_note", "reasons",
    "purity_model", "potency_model", *RELEASE_COLUMNS,
]
"""The contract's columns of a scores file (docs/scoring.md), in order; predicted readouts
follow them."""

SCORE_COLUMN_KINDS: dict[str, Literal["text", "float", "boolean", "integer"]] = {
    **dict.fromkeys(SCORE_COLUMNS, "text"),
    **dict.fromkeys(["p_purity_high", "p_purity_medium", "p_purity_low", "p_potent"], "float"),
    "in_domain": "boolean",
    "assay_priority": "integer",
}
"""The kind of value of each scores column; every engine's types derive from it (the local
engine's pandas dtypes, the Spark schema). The predicted readouts after them are floats."""
