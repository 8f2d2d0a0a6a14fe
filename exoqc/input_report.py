"""Every input problem where the user looks: grouped and counted on the terminal, all of
them in a table (the MLflow run's ``input_problems.csv``).

``train``, ``features`` and ``score`` collect the dataset's problems (the loader's and the
feature extractors') and print them with :func:`summary_lines`: one line per kind of
problem (the same message apart from its line number), with how many rows and
preparations it concerns, the first few kinds in full.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from exoqc.errors import ExoqcInputError

MAX_KINDS_SHOWN = 8
"""Kinds of problem printed in full; the rest are counted (all are in the table)."""
MAX_IDS_SHOWN = 3
PROBLEMS_ARTIFACT = "input_problems.csv"

_LINE = re.compile(r", line (\d+)")


@dataclass(frozen=True)
class Reported:
    """One problem as a user sees it: ``severity`` ("error" or "warning"), the
    preparation it belongs to (``None``: the whole folder or a row of no preparation)."""

    severity: str
    message: str
    prep_id: str | None = None


def collect(
    errors: Mapping[str, Sequence[str]],
    warnings: Mapping[str, Sequence[str]],
    general: Sequence[str] = (),
) -> list[Reported]:
    """Errors and warnings per preparation, and warnings about no preparation (a header,
    a marker row whose prep_id is not in preps.csv), as one list."""
    found = [Reported("error", m, p) for p, ms in errors.items() for m in ms]
    found += [Reported("warning", m, p) for p, ms in warnings.items() for m in ms]
    found += [Reported("warning", m) for m in general]
    return found


def general_warnings(dataset) -> list[str]:
    """The dataset's warnings that belong to no preparation (``Dataset.warnings`` holds only
    those of a preparation)."""
    return [str(p) for p in dataset.problems if p.severity == "warning" and p.prep_id is None]


def summary_lines(problems: Sequence[Reported], where: str | None = None) -> list[str]:
    """Lines for the terminal: a count, then one line per kind of problem (most frequent
    first, errors before warnings), at most :data:`MAX_KINDS_SHOWN`."""
    if not problems:
        return []
    groups: dict[tuple[str, str], list[Reported]] = {}
    for problem in problems:
        key = (problem.severity, _LINE.sub("", problem.message))
        groups.setdefault(key, []).append(problem)
    order = sorted(groups, key=lambda k: (k[0] != "error", -len(groups[k])))
    n_errors = sum(p.severity == "error" for p in problems)
    n_warnings = len(problems) - n_errors
    head = ", ".join(part for part in (f"{n_errors} error(s)" if n_errors else "",
                                       f"{n_warnings} warning(s)" if n_warnings else "") if part)
    lines = [f"Input problems: {head} of {len(groups)} kind(s)"
             + (f"; all of them in {where}" if where else "") + ":"]
    for severity, message in order[:MAX_KINDS_SHOWN]:
        members = groups[(severity, message)]
        if len(members) == 1:  # in full, as the loader wrote it
            only = members[0]
            prep = f" (prep '{only.prep_id}')" if only.prep_id is not None else ""
            lines.append(f"  {severity}: {only.message}{prep}")
        else:
            lines.append(f"  {severity} ×{len(members)}: {message}{_where(members)}")
    if len(order) > MAX_KINDS_SHOWN:
        rest = sum(len(groups[k]) for k in order[MAX_KINDS_SHOWN:])
        lines.append(f"  ... and {len(order) - MAX_KINDS_SHOWN} more kind(s) ({rest} problem(s))")
    return lines


def _where(members: Sequence[Reported]) -> str:
    lines = sorted({int(m) for p in members for m in _LINE.findall(p.message)})
    preps = list(dict.fromkeys(p.prep_id for p in members if p.prep_id is not None))
    parts = []
    if lines:
        parts.append(("line " if len(lines) == 1 else "lines ") + _some(lines))
    if preps:
        parts.append(("prep " if len(preps) == 1 else "preps ")
                     + _some([f"'{p}'" for p in preps]))
    return f" ({'; '.join(parts)})" if parts else ""


def _some(items: Sequence) -> str:
    shown = ", ".join(str(i) for i in items[:MAX_IDS_SHOWN])
    return shown + (f" and {len(items) - MAX_IDS_SHOWN} more" if len(items) > MAX_IDS_SHOWN
                    else "")


def problems_frame(problems: Sequence[Reported]) -> pd.DataFrame:
    """Every problem, one row each (severity, prep_id, message): the run's artifact."""
    return pd.DataFrame([(p.severity, p.prep_id or "", p.message) for p in problems],
                        columns=["severity", "prep_id", "message"])


def log_problems(problems: Sequence[Reported], run_id: str | None = None) -> None:
    """Log every problem as ``input_problems.csv`` to the active MLflow run (or
    ``run_id``); nothing when there is none."""
    if not problems:
        return
    import mlflow

    text = problems_frame(problems).to_csv(index=False)
    if run_id is None:
        mlflow.log_text(text, PROBLEMS_ARTIFACT)
    else:
        mlflow.MlflowClient().log_text(run_id, text, PROBLEMS_ARTIFACT)


class InputProblemsError(ExoqcInputError):
    """Input that stops a job which needs all of it (training), with every problem found
    in one pass: the loader's and the feature extractors' (an unreadable DLS record)."""

    def __init__(self, root, problems: Sequence[Reported]) -> None:
        self.problems = list(problems)
        n_errors = sum(p.severity == "error" for p in problems)
        body = "\n".join(summary_lines(self.problems))
        super().__init__(root, f"{n_errors} error(s) in the input; fix them and run again.\n"
                         f"{body}")
