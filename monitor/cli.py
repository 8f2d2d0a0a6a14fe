"""``exoqc monitor`` on the command line: run, print a summary, return the exit code."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from exoqc.errors import ExoqcInputError
from exoqc.monitor.charts import RULES

MAX_PRINTED_ALARMS = 20


def run_monitor(dataset_dirs: list[Path], spec_file: Path | None, since: dt.date | None,
                baseline_n: int, baseline_from: dt.date | None, baseline_to: dt.date | None,
                rules: list[str] | None, purity_model: str, potency_model: str) -> int:
    """Exit 0 when the history was monitored (alarms or not), 1 when it could not be."""
    from exoqc.inference.score import Scorer, ScoreSettings
    from exoqc.monitor.run import MonitorSettings, monitor
    from exoqc.spec import load_spec

    try:
        spec = load_spec(spec_file)
        unknown = [r for r in rules or () if r not in RULES]
        if unknown:
            raise typer.BadParameter(f"unknown rule(s) {', '.join(unknown)}: expected "
                                     f"{', '.join(RULES)}", param_hint="'--rule'")
        settings = MonitorSettings(
            purity_model=purity_model, potency_model=potency_model, since=since,
            baseline_n=baseline_n, baseline_from=baseline_from, baseline_to=baseline_to,
            **({"rules": tuple(rules)} if rules else {}))
        from exoqc import tracking

        tracking.configure()
        scorer = Scorer.load(ScoreSettings(purity_model=purity_model,
                                           potency_model=potency_model))
        result = monitor(dataset_dirs, settings, spec, scorer)
    except ExoqcInputError as error:
        typer.echo(f"exoqc monitor: {error}", err=True)
        return 1
    h = result.history
    typer.echo(f"{len(h)} batches; baseline {len(result.baseline)} "
               f"({h['prep_id'].iloc[result.baseline[0]]} to "
               f"{h['prep_id'].iloc[result.baseline[-1]]}); monitored {len(result.monitored)}")
    for line in result.missing:
        typer.echo(f"missing: {line}")
    alarms = result.alarms
    typer.echo(f"{len(alarms)} chart alarms on {alarms['prep_id'].nunique()} batches")
    for a in alarms.head(MAX_PRINTED_ALARMS).to_dict("records"):
        reasons = f" — {a['reasons']}" if a["reasons"] else ""
        typer.echo(f"  {a['prep_id']}: {a['label']}: {a['rule_text']} ({a['value']:.4g})"
                   f"{reasons}")
    if len(alarms) > MAX_PRINTED_ALARMS:
        typer.echo(f"  ... and {len(alarms) - MAX_PRINTED_ALARMS} more (alarms.csv)")
    for window in result.drift_alarms:
        typer.echo(f"drift {window.prep_ids[0]} to {window.prep_ids[-1]}: {window.message}")
    if result.run_id:
        typer.echo(f"MLflow run {result.run_id} (experiment exoqc-monitoring): "
                   "dashboard.html, charts/, certificates/")
    return 0


def run_simulate_history(out_dir: Path, n_batches: int, seed: int, scenario: str,
                         change_at: int | None) -> int:
    """``exoqc simulate --history SCENARIO``: write a production history, say what it holds."""
    import pandas as pd

    from exoqc.simulate import TRUTH_FILE
    from exoqc.simulate.history import SCENARIOS, simulate_history

    if scenario not in SCENARIOS:
        raise typer.BadParameter(f"'{scenario}': expected one of {', '.join(SCENARIOS)}",
                                 param_hint="'--history'")
    # Checked here, by option, so that only a bug is a ValueError from simulate_history.
    if n_batches < 2:
        raise typer.BadParameter(f"a history needs at least 2 batches, got {n_batches}",
                                 param_hint="'--n-preps'")
    if change_at is not None and change_at > n_batches:
        raise typer.BadParameter(f"expected at most --n-preps ({n_batches}), got {change_at}",
                                 param_hint="'--change-at'")
    try:
        root = simulate_history(out_dir, n_batches, seed, scenario, change_at)
    except ExoqcInputError as error:
        typer.echo(f"exoqc simulate: {error}", err=True)
        return 1
    truth = pd.read_csv(root / TRUTH_FILE, dtype=str, keep_default_na=False)
    typer.echo(f"{len(truth)} production batches ({truth['production_date'].iloc[0]} to "
               f"{truth['production_date'].iloc[-1]}) written to {root}")
    if scenario == "in_control":
        typer.echo("process change: none (in control)")
    else:
        typer.echo(f"process change: {scenario} from batch {truth['change_start_batch'].iloc[0]}"
                   f" ({truth['change_start_date'].iloc[0]})")
    typer.echo(f"ground truth (not an input): {root / TRUTH_FILE}")
    return 0
