"""The ``exoqc`` command: one entry point for every job (the command contract: README
"The exoqc command", docs/architecture.md "The contract").

Each subcommand parses its options here and hands over to the module that does the work;
heavy imports (MLflow, XGBoost, SHAP) happen only inside the subcommand that needs them.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from exoqc import __version__
from exoqc.config import DLS_DEFAULTS
from exoqc.contracts import DEFAULT_MODEL_URIS

app = typer.Typer(
    name="exoqc",
    help="Quality of exosome (small EV) preparations: DLS, markers, counts and cargo in; "
    "purity and likely potency out, tracked in MLflow and explained with SHAP.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

def _version(value: bool) -> None:
    if value:
        typer.echo(f"exoqc {__version__}")
        raise typer.Exit()


def _exit_on_sigterm() -> None:
    """SIGTERM (a kill, a scheduler's time limit) unwinds like Ctrl-C: worker processes
    are ended and temporary files removed, where the default would die on the spot."""
    import signal
    import threading

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also show the libraries' progress bars, "
                           "INFO lines and warnings (MLflow, scikit-learn, XGBoost...).")
    ] = False,
) -> None:
    """exoqc: judge exosome preparations from their characterization data."""
    from exoqc.config import get_settings
    from exoqc.errors import SettingsError

    _exit_on_sigterm()
    try:  # a bad EXOQC_* variable is named once, before any work
        get_settings()
    except SettingsError as error:
        typer.echo(f"exoqc: {error}", err=True)
        raise typer.Exit(1) from None
    if not verbose:
        from exoqc.quiet import quiet_libraries

        quiet_libraries()


class Target(StrEnum):
    purity = "purity"
    potency = "potency"
    all = "all"


class Validation(StrEnum):
    auto = "auto"
    heldout = "heldout"
    repeated_cv = "repeated_cv"


class Engine(StrEnum):
    local = "local"
    spark = "spark"


@app.command()
def simulate(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the prep dataset into.")],
    n_preps: Annotated[int, typer.Option("--n-preps", min=1, help="Preparations.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 1,
    nta_share: Annotated[
        float, typer.Option("--nta-share", min=0.0, max=1.0,
                            help="Share of preparations with an NTA export (nta/); 0: none.")
    ] = 0.0,
    lab: Annotated[str | None, typer.Option(
        help="Another lab: reference, bm_msc, uc_msc, hek293 (docs/simulator.md).")] = None,
    lab_seed: Annotated[int | None, typer.Option(
        "--lab-seed", help="A random lab drawn from this seed (nobody tuned on it).")] = None,
    history: Annotated[
        str | None, typer.Option(help="Write a production history instead: one batch per "
                                 "prep, in date order, with this process change (in_control, "
                                 "serum_lot, sec_aging, passage_creep, dls_instrument).")
    ] = None,
    change_at: Annotated[
        int | None, typer.Option("--change-at", min=1,
                                 help="History: first changed batch (default: the middle).")
    ] = None,
) -> None:
    """Write a simulated, labelled cohort (the reference lab or another lab), or a production
    history, as a prep dataset folder."""
    from exoqc.errors import ExoqcInputError
    from exoqc.simulate import simulate_cohort, summary_lines

    if history is not None:
        from exoqc.monitor.cli import run_simulate_history

        raise typer.Exit(run_simulate_history(out_dir, n_preps, seed, history, change_at))
    try:
        root = simulate_cohort(out_dir, n_preps, seed, nta_share=nta_share, lab=lab,
                               lab_seed=lab_seed)
    except ExoqcInputError as error:
        typer.echo(f"exoqc simulate: {error}", err=True)
        raise typer.Exit(1) from None
    for line in summary_lines(root):
        typer.echo(line)


@app.command()
def dls(
    files: Annotated[list[Path], typer.Argument(help="DLS exports (Zetasizer, ALV .ASC, CSV).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    particle_ri: Annotated[
        float, typer.Option("--particle-ri", min=1.0, max=3.0,
                            help="Particle refractive index for volume/number weighting.")
    ] = DLS_DEFAULTS.particle_refractive_index,
) -> None:
    """Analyse DLS files: Z-average, PDI, size distribution and quality flags per record."""
    from exoqc.features.dls.report import run_dls_command

    raise typer.Exit(run_dls_command(files, as_json, particle_ri))


@app.command()
def nta(
    files: Annotated[
        list[Path], typer.Argument(help="NTA exports (NanoSight ExperimentSummary.csv, "
                                   "ZetaView .txt, CSV).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Analyse NTA files: concentration, size statistics, video agreement and flags per sample."""
    from exoqc.features.nta.report import run_nta_command

    raise typer.Exit(run_nta_command(files, as_json))


@app.command()
def features(
    dataset_dir: Annotated[Path, typer.Argument(help="Prep dataset folder.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="FEATURES.parquet or .csv")],
) -> None:
    """Build the feature table (one row per preparation) from a prep dataset folder."""
    from exoqc import input_report
    from exoqc.dataset import load_dataset
    from exoqc.errors import ExoqcInputError
    from exoqc.features.build import FEATURE_FILE_SUFFIXES, build_features, write_feature_table
    from exoqc.output import check_writable_path

    if output.suffix.lower() not in FEATURE_FILE_SUFFIXES:
        raise typer.BadParameter(f"'{output}': expected a .parquet or .csv file name",
                                 param_hint="'-o' / '--output'")
    try:
        check_writable_path(output)
        dataset = load_dataset(dataset_dir, errors="collect")
    except ExoqcInputError as error:
        typer.echo(f"exoqc features: {error}", err=True)
        raise typer.Exit(1) from None
    table = build_features(dataset, progress=True)
    problems = input_report.collect(table.errors, table.warnings,
                                    input_report.general_warnings(dataset))
    for line in input_report.summary_lines(problems):
        typer.echo(line, err=True)
    warnings = [p for p in problems if p.severity == "warning"]
    try:
        write_feature_table(table.frame, output)
    except OSError as error:
        typer.echo(f"exoqc features: cannot write {output}: {error.strerror}", err=True)
        raise typer.Exit(1) from None
    rows, columns = table.frame.shape
    typer.echo(f"Wrote {rows} preparations x {columns} features to {output} "
               f"({len(table.errors)} with errors, left empty; {len(warnings)} warnings).")


@app.command()
def train(
    dataset_dir: Annotated[
        Path | None, typer.Argument(help="Labelled prep dataset folder; default: reference cohort.")
    ] = None,
    target: Annotated[Target, typer.Option(help="Which model(s) to train.")] = Target.all,
    n_trials: Annotated[int, typer.Option("--n-trials", min=1, help="Optuna trials.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the split and the search.")] = 0,
    prior: Annotated[bool, typer.Option(
        "--prior/--no-prior", help="Small datasets: adapt the reference cohort's model.")] = True,
    validation: Annotated[Validation, typer.Option(
        help="auto: repeated grouped CV below 1,000 labelled preparations, a held-out split "
        "by batch from there on; or force one.")] = Validation.auto,
) -> None:
    """Train the purity and/or potency model, track it in MLflow and register it."""
    from exoqc.training.cli import run_train

    raise typer.Exit(run_train(dataset_dir, target.value, n_trials, seed, prior,
                               validation.value))


@app.command()
def score(
    dataset_dir: Annotated[Path, typer.Argument(help="Prep dataset folder of new preparations.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="SCORES.csv or .parquet")],
    purity_model: Annotated[str, typer.Option(help="Model URI.")] = DEFAULT_MODEL_URIS["purity"],
    potency_model: Annotated[
        str, typer.Option(help="Model URI.")
    ] = DEFAULT_MODEL_URIS["potency"],
    engine: Annotated[Engine, typer.Option(help="Where to compute.")] = Engine.local,
    spec: Annotated[
        Path | None, typer.Option(help="Release specification (TOML): accepted classes, α, "
                                       "limits. Default: release high purity and potent.")
    ] = None,
    assay_budget: Annotated[
        int | None, typer.Option("--assay-budget", min=0,
                                 help="Functional assays available: rank the 'assay' "
                                      "preparations and mark the top K (assay_priority).")
    ] = None,
) -> None:
    """Score new preparations: purity, likely potency, release decision, applicability and
    reasons."""
    from exoqc.inference.cli import run_score

    score_function = None
    if engine is Engine.spark:
        from exoqc.inference.spark import SparkUnavailableError, require_spark, score_folder

        try:
            require_spark()
        except SparkUnavailableError as error:
            typer.echo(f"exoqc score: {error}", err=True)
            raise typer.Exit(1) from None
        score_function = score_folder
    raise typer.Exit(run_score(dataset_dir, output, purity_model, potency_model, score_function,
                               spec_file=spec, assay_budget=assay_budget))


@app.command()
def monitor(
    dataset_dirs: Annotated[list[Path], typer.Argument(
        help="Prep dataset folder(s) of the production history (preps.csv production_date).")],
    since: Annotated[
        dt.datetime | None, typer.Option(formats=["%Y-%m-%d"],
                                         help="Alarms and certificates from this date on.")
    ] = None,
    spec_file: Annotated[
        Path | None, typer.Option("--spec", help="Release spec (TOML) with spec limits.")
    ] = None,
    baseline_n: Annotated[
        int, typer.Option("--baseline-n", min=2, help="Baseline: the first N released batches.")
    ] = 30,
    baseline_from: Annotated[
        dt.datetime | None, typer.Option(formats=["%Y-%m-%d"],
                                         help="Baseline: batches produced from this date...")
    ] = None,
    baseline_to: Annotated[
        dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="... to this date.")
    ] = None,
    rule: Annotated[
        list[str] | None, typer.Option(
            help="Chart rule (repeat): beyond_3sigma, 2_of_3_beyond_2sigma, 4_of_5_beyond_1sigma, "
            "8_same_side, 6_trending, moving_range, ewma, cusum; default: cusum "
            "(docs/monitor.md).")
    ] = None,
    purity_model: Annotated[str, typer.Option(help="Model URI.")] = DEFAULT_MODEL_URIS["purity"],
    potency_model: Annotated[
        str, typer.Option(help="Model URI.")
    ] = DEFAULT_MODEL_URIS["potency"],
) -> None:
    """Control charts, drift and certificates of analysis of a production history."""
    from exoqc.monitor.cli import run_monitor

    def day(value: dt.datetime | None) -> dt.date | None:
        return value.date() if value else None

    raise typer.Exit(run_monitor(dataset_dirs, spec_file, day(since), baseline_n,
                                 day(baseline_from), day(baseline_to), rule, purity_model,
                                 potency_model))


@app.command()
def ui(
    port: Annotated[int, typer.Option(help="Port on the loopback interface.")] = 5000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
) -> None:
    """Start the MLflow UI on the project's store."""
    from exoqc.ui import UIError, serve

    try:
        serve(host=host, port=port)
    except UIError as error:
        typer.echo(f"exoqc ui: {error}", err=True)
        raise typer.Exit(1) from None
