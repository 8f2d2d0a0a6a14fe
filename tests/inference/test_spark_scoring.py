"""The Spark engine gives the local engine's scores (Spark local mode, two cores).

One simulated batch of 30 preparations with one of each kind of bad input (a truncated DLS
export, a DLS file that does not exist, a count that is not a number, an unknown marker)
is scored by both engines with the session's trained models, and the results are
compared row by row: columns, types, values, error rows and their messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from exoqc.cli import app
from exoqc.contracts import SCORE_COLUMNS
from exoqc.dataset import load_dataset
from exoqc.errors import ExoqcInputError
from exoqc.features import build_features
from exoqc.inference import spark as spark_engine
from exoqc.inference.score import ScoreSettings, score
from exoqc.simulate import simulate_cohort
from tests import services

spark_session = services.spark_session

UNKNOWN_MARKER = "XYZ-99"
SETTINGS = ScoreSettings(max_figures=3, n_jobs=1)


@dataclass(frozen=True)
class Batch:
    root: Path
    truncated_dls: str  # prep whose DLS export is cut short (an executor reads it)
    truncated_file: str
    missing_dls: str  # prep whose dls_file does not exist (the loader says so)
    bad_count: str  # prep with particles_per_ml 'abc'
    unknown_marker: str  # prep with a marker outside exoqc's vocabulary (a warning)
    unknown_marker_line: int  # that marker's line in markers.csv


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Batch:
    # Half the preps with an NTA export: the preps table carries nta_file / nta_record.
    root = simulate_cohort(tmp_path_factory.mktemp("spark-batch") / "batch", 30, 97,
                           nta_share=0.5)
    preps = pd.read_csv(root / "preps.csv", dtype=str, keep_default_na=False)
    with_dls = preps.index[preps["dls_file"] != ""]
    truncated, missing, bad_count, unknown = (preps.at[with_dls[k], "prep_id"]
                                              for k in (3, 9, 12, 5))
    dls_file = root / preps.at[with_dls[3], "dls_file"]
    dls_file.write_bytes(dls_file.read_bytes()[:700])
    preps.at[with_dls[9], "dls_file"] = "dls/not-exported.txt"
    preps.at[with_dls[12], "particles_per_ml"] = "abc"
    preps.to_csv(root / "preps.csv", index=False)
    with open(root / "markers.csv", "a") as markers:
        markers.write(f"{unknown},{UNKNOWN_MARKER},1200,wb,extra-blot,AU\n")
    n_lines = len((root / "markers.csv").read_text().splitlines())
    return Batch(root, truncated, dls_file.name, missing, bad_count, unknown, n_lines)


@pytest.fixture(scope="module")
def local_result(batch, trained_store, tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", trained_store.uri)
        return score(batch.root, tmp_path_factory.mktemp("local") / "scores.parquet", SETTINGS)


@pytest.fixture(scope="module")
def spark_result(batch, trained_store, spark_session, tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", trained_store.uri)
        return spark_engine.score_folder(
            batch.root, tmp_path_factory.mktemp("spark") / "scores.parquet", SETTINGS,
            spark=spark_session)


def test_spark_scores_equal_the_local_engine_row_by_row(batch, local_result, spark_result):
    local = pd.read_parquet(local_result.output)
    spark = pd.read_parquet(spark_result.output)
    assert list(spark.columns[: len(SCORE_COLUMNS)]) == SCORE_COLUMNS
    assert list(spark.columns) == list(local.columns)
    assert spark.dtypes.to_dict() == local.dtypes.to_dict()
    pd.testing.assert_frame_equal(spark, local, check_exact=False, rtol=1e-6, atol=0)

    # the comparison covers every kind of bad input, and most preps are scored
    rows = spark.set_index("prep_id")
    failed = set(rows.index[rows["status"] == "error"])
    assert failed == {batch.truncated_dls, batch.missing_dls, batch.bad_count}
    assert "not-exported.txt' not found" in rows.at[batch.missing_dls, "error"]
    assert str(batch.root) in rows.at[batch.missing_dls, "error"]
    assert "particles_per_ml" in rows.at[batch.bad_count, "error"]
    assert batch.truncated_file in rows.at[batch.truncated_dls, "error"]
    assert UNKNOWN_MARKER in rows.at[batch.unknown_marker, "domain_note"]
    assert rows.at[batch.unknown_marker, "status"] == "ok"
    assert rows["reasons"].str.contains(" toward ").sum() == len(rows) - len(failed)


def test_spark_scoring_run_matches_the_local_run(local_result, spark_result, use_store):
    client = MlflowClient()
    local_run = client.get_run(local_result.run_id)
    spark_run = client.get_run(spark_result.run_id)
    assert spark_run.data.tags["exoqc.engine"] == "spark"
    assert spark_run.info.experiment_id == local_run.info.experiment_id
    assert spark_run.data.metrics == local_run.data.metrics
    assert spark_run.data.metrics["n_error"] == 3

    def artifacts(run_id: str, path: str | None = None) -> set[str]:
        return {a.path for a in client.list_artifacts(run_id, path)}

    assert artifacts(spark_run.info.run_id) == artifacts(local_run.info.run_id)
    waterfalls = artifacts(spark_run.info.run_id, "waterfalls")
    assert waterfalls == artifacts(local_run.info.run_id, "waterfalls")
    assert len(waterfalls) == 6  # 3 preps x (purity, potency)
    assert spark_run.inputs.dataset_inputs[0].dataset.digest == (
        local_run.inputs.dataset_inputs[0].dataset.digest)


def test_score_command_with_spark_engine_writes_the_local_engines_file(
    batch, local_result, spark_session, use_store, tmp_path
):
    output = tmp_path / "scores.csv"
    result = CliRunner().invoke(app, ["score", str(batch.root), "-o", str(output),
                                      "--engine", "spark"])
    assert result.exit_code == 0, result.output
    assert output.read_text() == local_result.scores.to_csv(index=False)


def test_score_spark_on_tables_gives_the_same_scores(batch, local_result, spark_session,
                                                     use_store):
    tables = {name: spark_session.read.csv(str(batch.root / f"{name}.csv"), header=True)
              for name in ("preps", "markers", "cargo")}
    scores = spark_engine.score_spark(tables["preps"], tables["markers"], tables["cargo"],
                                      dls_root=batch.root, settings=SETTINGS).toPandas()
    scores["in_domain"] = scores["in_domain"].astype("boolean")  # Spark gives None, not NA
    scores["assay_priority"] = scores["assay_priority"].astype("Int64")  # NaN, not NA

    expected = local_result.scores.copy()
    # a loader message names the table and the record (file line less the header line)
    for column in ("error", "domain_note"):
        expected[column] = expected[column].str.replace(
            r"(preps|markers|cargo)\.csv, line (\d+)",
            lambda m: f"{m.group(1)} table, record {int(m.group(2)) - 1}", regex=True)
    note = scores.set_index("prep_id").at[batch.unknown_marker, "domain_note"]
    assert (f"markers table, record {batch.unknown_marker_line - 1}, column 'marker': "
            f"marker '{UNKNOWN_MARKER}' is not in exoqc's vocabulary") in note
    assert list(scores.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(scores, expected, check_dtype=False, check_exact=False,
                                  rtol=1e-6, atol=0)


def test_typed_table_values_are_read_as_their_text_and_nan_as_not_measured(
    batch, spark_session
):
    records = pd.DataFrame({
        "prep_id": ["A", "B", "C"],
        "particles_per_ml": [2.5e10, 1.0e9, np.nan],
        "protein_ug_per_ml": [0.1, np.inf, 3.0],
        "passage": pd.Series([3, 4, None], dtype=object),
    })
    table = spark_session.createDataFrame(
        records, "prep_id string, particles_per_ml double, protein_ug_per_ml double, "
        "passage long")
    dataset = spark_engine.dataset_from_tables(table, None, None, batch.root)
    assert dataset.preps["particles_per_ml"].tolist()[:2] == [2.5e10, 1.0e9]
    assert np.isnan(dataset.preps.at["C", "particles_per_ml"])  # NaN: not measured
    assert list(dataset.errors) == ["B"]  # infinity is not a measurement
    assert dataset.errors["B"] == [
        "preps table, record 2, column 'protein_ug_per_ml': 'Infinity' is not a number: "
        "expected a finite number or an empty cell (not measured)"]
    assert dataset.preps["passage"].tolist() == ["3", "4", ""]
    assert dataset.root == batch.root


def test_tables_need_prep_ids_and_records_of_other_preps_are_not_read(batch, spark_session):
    preps = spark_session.createDataFrame(pd.DataFrame({"Prep_ID": ["A"], "batch": ["b1"]}))
    markers = spark_session.createDataFrame(pd.DataFrame(
        {"prep_id": ["A", "Z"], "marker": ["CD63", "CD9"], "intensity": [10.0, 5.0]}))
    dataset = spark_engine.dataset_from_tables(preps, markers, None, batch.root)
    assert dataset.markers["prep_id"].tolist() == ["A"]
    assert dataset.problems == []  # a folder would warn that Z is not in preps.csv

    twice = spark_session.createDataFrame(pd.DataFrame({"prep_id": ["A", "B", "A"]}))
    assert spark_engine.dataset_from_tables(twice, None, None, batch.root).errors == {"A": [
        "preps table, record 3, column 'prep_id': prep_id 'A' already used in record 1: "
        "expected unique ids"]}

    nameless = spark_session.createDataFrame(pd.DataFrame({"name": ["A"]}))
    with pytest.raises(ExoqcInputError,
                       match=r"^preps table: expected a column 'prep_id'; found name$"):
        spark_engine.dataset_from_tables(nameless, None, None, batch.root)
    empty = spark_session.createDataFrame([], "prep_id string, batch string")
    with pytest.raises(ExoqcInputError, match=r"^preps table: no preparations"):
        spark_engine.dataset_from_tables(empty, None, None, batch.root)


def write_folder(root: Path, preps: list[str], markers: list[tuple]) -> Path:
    root.mkdir()
    pd.DataFrame({"prep_id": preps}).to_csv(root / "preps.csv", index=False)
    pd.DataFrame(markers, columns=["prep_id", "marker", "intensity", "assay", "run"]).to_csv(
        root / "markers.csv", index=False)
    return root


def test_preps_sharing_a_marker_run_are_one_group(tmp_path):
    root = write_folder(tmp_path / "records", ["A", "B", "C", "D", "E", "F"], [
        ("A", "CD63", 10, "wb", "blot-1"), ("B", "CD63", 20, "wb", "blot-1"),
        ("B", "CD9", 5, "elisa", "plate-2"), ("C", "CD9", 7, "elisa", "plate-2"),
        # the same run name in another assay is another run
        ("D", "CD9", 3, "wb", "plate-2"),
        ("E", "CD81", 4, "wb", ""), ("F", "CD81", 4, "wb", ""),  # no run: each its own
    ])
    groups = spark_engine.marker_run_groups(load_dataset(root))
    assert groups[0] == groups[1] == groups[2]
    assert len({groups[0], groups[3], groups[4], groups[5]}) == 4


def test_chunks_hold_whole_groups_and_every_prep_once():
    groups = np.array([0, 0, 1, 2, 2, 2, 3, 4, 1, 5, 5, 6])
    chunks = spark_engine.chunk_positions(groups, 4)
    assert sorted(np.concatenate(chunks).tolist()) == list(range(len(groups)))
    for group in np.unique(groups):
        holding = [k for k, chunk in enumerate(chunks) if group in groups[chunk]]
        assert len(holding) == 1
        assert set(np.flatnonzero(groups == group)) <= set(chunks[holding[0]])
    assert 3 <= len(chunks) <= 4


def test_features_of_chunks_equal_the_whole_batch_and_need_whole_runs(batch):
    """What the engine relies on: a chunk of whole marker-run groups gets the features the
    whole batch gives its preps, and splitting a run would change them (the run's
    detection floor enters every prep's marker ratios)."""
    dataset = load_dataset(batch.root, errors="collect")
    whole = build_features(dataset, n_jobs=1).frame
    groups = spark_engine.marker_run_groups(dataset)
    for chunk in spark_engine.chunk_positions(groups, 6):
        ids = [dataset.prep_ids[i] for i in chunk]
        part = build_features(dataset.subset(ids), n_jobs=1).frame
        pd.testing.assert_frame_equal(part, whole.loc[ids])

    changed = False
    for group in np.unique(groups):
        members = [dataset.prep_ids[i] for i in np.flatnonzero(groups == group)]
        for prep_id in members if len(members) > 1 else []:
            alone = build_features(dataset.subset([prep_id]), n_jobs=1).frame
            markers = [c for c in whole.columns if c.startswith("marker_")]
            changed |= not alone.loc[[prep_id], markers].equals(whole.loc[[prep_id], markers])
    assert changed


def test_bad_output_suffix_is_refused_before_spark_starts(monkeypatch, tmp_path, batch):
    def no_spark():
        raise AssertionError("Spark was started")

    monkeypatch.setattr(spark_engine, "spark_session", no_spark)
    with pytest.raises(ExoqcInputError, match=r"\.csv or \.parquet"):
        spark_engine.score_folder(batch.root, tmp_path / "scores.xlsx")


def test_score_command_says_what_to_install_without_java(monkeypatch, tmp_path, batch):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(spark_engine.shutil, "which", lambda name: None)
    result = CliRunner().invoke(app, ["score", str(batch.root), "-o",
                                      str(tmp_path / "scores.csv"), "--engine", "spark"])
    assert result.exit_code == 1
    assert re.search(r"Java 17.*openjdk-17-jre-headless", result.output)
    assert not (tmp_path / "scores.csv").exists()



def test_spark_engine_refuses_changed_model_code(use_store, tmp_path):
    import mlflow

    from exoqc.model.predictor import ModelIntegrityError

    folder = Path(mlflow.artifacts.download_artifacts("models:/exoqc-purity@champion",
                                                      dst_path=str(tmp_path)))
    code = folder / "model_code.py"
    code.write_text(code.read_text() + "\nimport os  # anything could run here\n")
    settings = ScoreSettings(purity_model=str(folder), potency_model=str(folder))
    with pytest.raises(ModelIntegrityError, match="differs from the model code shipped"):
        spark_engine.ship_models(None, settings)


def test_spark_engine_refuses_a_model_for_the_other_target(use_store):
    settings = ScoreSettings(purity_model="models:/exoqc-potency@champion")
    with pytest.raises(ExoqcInputError, match="is a potency model: expected a purity model"):
        spark_engine.ship_models(None, settings)


def test_spark_engine_names_the_absent_default_model_in_one_line(
        batch, store_without_potency, spark_session, tmp_path):
    output = tmp_path / "scores.csv"
    result = CliRunner().invoke(app, ["score", str(batch.root), "-o", str(output),
                                      "--engine", "spark"])
    assert result.exit_code == 1
    assert ("models:/exoqc-potency@champion: no potency model is registered: the Spark "
            "engine scores both targets") in result.stderr
    assert "Traceback" not in result.output
    assert not output.exists()


def test_a_duplicated_prep_id_keeps_one_row_per_input_record(spark_session, use_store,
                                                              tmp_path):
    root = simulate_cohort(tmp_path / "dup", 6, 41)
    preps = pd.read_csv(root / "preps.csv", dtype=str, keep_default_na=False)
    twice = preps.at[1, "prep_id"]
    preps = pd.concat([preps, preps.iloc[[1]]], ignore_index=True)  # record 7 repeats 2
    preps.to_csv(root / "preps.csv", index=False)
    settings = ScoreSettings(n_jobs=1, log_to_mlflow=False)
    local = score(root, tmp_path / "local.csv", settings).scores
    folder = spark_engine.score_folder(root, tmp_path / "spark.csv", settings,
                                       spark=spark_session).scores
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "spark.csv"),
                                  pd.read_csv(tmp_path / "local.csv"),
                                  check_exact=False, rtol=1e-6, atol=0)
    assert len(folder) == len(local) == len(preps) == 7
    assert list(folder["prep_id"]) == [*preps["prep_id"][:2], twice, *preps["prep_id"][2:6]]
    assert folder.at[2, "status"] == "error"
    assert "already used on line 3" in folder.at[2, "error"]

    tables = {name: spark_session.read.csv(str(root / f"{name}.csv"), header=True)
              for name in ("preps", "markers", "cargo")}
    rows = spark_engine.score_spark(tables["preps"], tables["markers"], tables["cargo"],
                                    dls_root=root, settings=settings).toPandas()
    assert list(rows["prep_id"]) == list(folder["prep_id"])
    assert list(rows["status"]) == list(folder["status"])
    assert "preps table, record 7" in rows.at[2, "error"]
    assert "already used in record 2" in rows.at[2, "error"]
    assert (rows["purity_model"] == folder["purity_model"]).all()
    assert (rows["potency_model"] == folder["potency_model"]).all()
    ok = (rows["status"] == "ok").to_numpy()
    np.testing.assert_allclose(rows.loc[ok, "p_potent"].astype(float),
                               folder.loc[ok, "p_potent"].astype(float), rtol=1e-6)
