"""The ``exoqc`` command: one entry point for every job (see DESIGN.md, "The exoqc command").

Each subcommand parses its options here and hands over to the module that does the work;
heavy imports (MLflow, XGBoost, SHAP) happen only inside the subcommand that needs them.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from exoqc import __version__

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


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """exoqc: judge exosome preparations from their characterization data."""


class Target(StrEnum):
    purity = "purity"
    potency = "potency"
    all = "all"


class Engine(StrEnum):
    local = "local"
    spark = "spark"


@app.command()
def simulate(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the prep dataset into.")],
    n_preps: Annotated[int, typer.Option("--n-preps", min=1, help="Preparations.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 1,
    lab: Annotated[str | None, typer.Option(
        help="Another lab: reference, bm_msc, uc_msc, hek293 (docs/simulator.md).")] = None,
    lab_seed: Annotated[int | None, typer.Option(
        "--lab-seed", help="A random lab drawn from this seed (nobody tuned on it).")] = None,
) -> None:
    """Write a simulated, labelled cohort (the reference lab or another) as a prep folder."""
    from exoqc.errors import ExoqcInputError
    from exoqc.simulate import simulate_cohort, summary_lines

    try:
        root = simulate_cohort(out_dir, n_preps, seed, lab=lab, lab_seed=lab_seed)
    except ExoqcInputError as error:
        typer.echo(f"exoqc simulate: {error}", err=True)
        raise typer.Exit(1) from None
    for line in summary_lines(root):
        typer.echo(line)


@app.command()
def dls(
    files: Annotated[list[Path], typer.Argument(help="DLS exports (Zetasizer, ALV .ASC, CSV).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the DESIGN JSON list.")] = False,
    particle_ri: Annotated[
        float, typer.Option("--particle-ri", min=1.0, max=3.0,
                            help="Particle refractive index for volume/number weighting.")
    ] = 1.39,
) -> None:
    """Analyse DLS files: Z-average, PDI, size distribution and quality flags per record."""
    from exoqc.features.dls.report import run_dls_command

    raise typer.Exit(run_dls_command(files, as_json, particle_ri))


@app.command()
def features(
    dataset_dir: Annotated[Path, typer.Argument(help="Prep dataset folder.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="FEATURES.parquet or .csv")],
) -> None:
    """Build the feature table (one row per preparation) from a prep dataset folder."""
    from exoqc.dataset import load_dataset
    from exoqc.errors import ExoqcInputError
    from exoqc.features.build import FEATURE_FILE_SUFFIXES, build_features, write_feature_table

    if output.suffix.lower() not in FEATURE_FILE_SUFFIXES:
        raise typer.BadParameter(f"'{output}': expected a .parquet or .csv file name",
                                 param_hint="'-o' / '--output'")
    try:
        dataset = load_dataset(dataset_dir, errors="collect")
    except ExoqcInputError as error:
        typer.echo(f"exoqc features: {error}", err=True)
        raise typer.Exit(1) from None
    table = build_features(dataset, progress=True)
    # A file-level error fails every prep: say it once, with the preps it concerns.
    preps_of: dict[str, list[str]] = {}
    for prep_id, messages in table.errors.items():
        for message in messages:
            preps_of.setdefault(message, []).append(prep_id)
    for message, prep_ids in preps_of.items():
        named = ", ".join(f"'{p}'" for p in prep_ids[:5])
        more = f" and {len(prep_ids) - 5} more" if len(prep_ids) > 5 else ""
        typer.echo(f"error: prep {named}{more} left empty: {message}", err=True)
    warnings = [f"warning: prep '{p}': {m}" for p, ms in table.warnings.items() for m in ms]
    max_warnings_shown = 50
    for line in warnings[:max_warnings_shown]:
        typer.echo(line, err=True)
    if len(warnings) > max_warnings_shown:
        typer.echo(f"... and {len(warnings) - max_warnings_shown} more warnings", err=True)
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
    n_trials: Annotated[int, typer.Option("--n-trials", min=1, help="Optuna trials.")] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the split and the search.")] = 0,
    prior: Annotated[bool, typer.Option(
        "--prior/--no-prior", help="Small datasets: adapt the reference cohort's model.")] = True,
) -> None:
    """Train the purity and/or potency model, track it in MLflow and register it."""
    from exoqc.training.cli import run_train

    raise typer.Exit(run_train(dataset_dir, target.value, n_trials, seed, prior))


@app.command()
def score(
    dataset_dir: Annotated[Path, typer.Argument(help="Prep dataset folder of new preparations.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="SCORES.csv or .parquet")],
    purity_model: Annotated[str, typer.Option(help="Model URI.")] = "models:/exoqc-purity@champion",
    potency_model: Annotated[
        str, typer.Option(help="Model URI.")
    ] = "models:/exoqc-potency@champion",
    engine: Annotated[Engine, typer.Option(help="Where to compute.")] = Engine.local,
) -> None:
    """Score new preparations: purity, likely potency, applicability and reasons."""
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
    raise typer.Exit(run_score(dataset_dir, output, purity_model, potency_model, score_function))


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
