"""The scores of a fixed cohort with fixed models stay what they were (issue 18).

The models are committed (``tests/data/scoring/``: the native boosters and
``exoqc_model.json`` of a purity and a potency model, trained once on 36 simulated
preparations; ``tests/data/scoring/README.md`` says how) and registered in a temporary
MLflow store, the way ``exoqc train`` registers them; nothing is trained here, so the
comparison does not depend on training being reproducible on this machine. The cohort is
simulated from a fixed seed (the simulator's output is pinned by its own tests) and given
one of each kind of bad input. ``pinned_scores.csv`` is the scores file the scorer wrote
for it before the scoring pipeline was refactored; every engine must still write it: text
columns character for character, probabilities and readouts to 1e-9.

Regenerate the pinned file only for a change meant to alter the scores, saying why in the
commit: ``.venv/bin/python -m tests.inference.test_scores_pinned``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests import services

DATA = Path(__file__).resolve().parents[1] / "data" / "scoring"
PINNED = DATA / "pinned_scores.csv"
ROOT_PLACEHOLDER = "<cohort>"
COHORT_SIZE = 40
COHORT_SEED = 2026
UNKNOWN_MARKER = "XYZ-99"
TOLERANCE = 1e-9

spark_session = services.spark_session


def write_cohort(root: Path) -> Path:
    """The fixed cohort: 40 simulated preparations (half with an NTA export) with a
    truncated DLS export, a DLS file that does not exist, a count that is not a number, an
    unreadable NTA export, an unknown marker (a warning), a preparation with too little
    data for a call and a prep_id used twice."""
    from exoqc.simulate import simulate_cohort

    root = simulate_cohort(root, COHORT_SIZE, COHORT_SEED, nta_share=0.5)
    preps = pd.read_csv(root / "preps.csv", dtype=str, keep_default_na=False)
    with_dls = preps.index[preps["dls_file"] != ""]
    with_nta = preps.index[preps["nta_file"] != ""]
    truncated = root / preps.at[with_dls[3], "dls_file"]
    truncated.write_bytes(truncated.read_bytes()[:700])
    preps.at[with_dls[9], "dls_file"] = "dls/not-exported.txt"
    preps.at[with_dls[12], "particles_per_ml"] = "abc"
    (root / preps.at[with_nta[2], "nta_file"]).write_text("not an NTA export\n")
    thin = preps.at[with_dls[20], "prep_id"]
    (root / preps.at[with_dls[20], "dls_file"]).unlink()  # else the loader finds it by name
    for column in ("dls_file", "dls_record", "nta_file", "nta_record", "particles_per_ml",
                   "protein_ug_per_ml"):
        preps.at[with_dls[20], column] = ""
    preps = pd.concat([preps, preps.iloc[[1]]], ignore_index=True)
    preps.to_csv(root / "preps.csv", index=False)
    markers = pd.read_csv(root / "markers.csv", dtype=str, keep_default_na=False)
    markers = markers[markers["prep_id"] != thin]
    unknown = pd.DataFrame([[preps.at[with_dls[5], "prep_id"], UNKNOWN_MARKER, "1200", "wb",
                             "extra-blot", "AU"]], columns=markers.columns)
    pd.concat([markers, unknown]).to_csv(root / "markers.csv", index=False)
    return root


def register_models(tracking_uri: str) -> None:
    """Register the committed models in the store at ``tracking_uri`` as versions 1 of
    ``exoqc-purity`` and ``exoqc-potency``, alias ``champion``: logged from code with their
    checksum tag, as training registers them."""
    import mlflow
    from mlflow.models import infer_signature

    from exoqc.contracts import CHAMPION_ALIAS, REGISTERED_MODELS, TARGETS
    from exoqc.model.load import META_SHA_TAG, MODEL_ARTIFACT_NAME, MODEL_CODE
    from exoqc.model.predictor import META_FILE, ExoqcPredictor, sha256_of

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    for target in TARGETS:
        folder = DATA / target
        files = {"meta": folder / META_FILE, "booster": folder / "booster.json"}
        if (folder / "regressor.json").is_file():
            files["regressor"] = folder / "regressor.json"
        predictor = ExoqcPredictor.from_files(files["meta"], files["booster"],
                                              files.get("regressor"))
        example = pd.DataFrame(np.ones((2, len(predictor.spec.feature_names))),
                               columns=list(predictor.spec.feature_names))
        output = predictor.predict_frame(example).reset_index(drop=True)
        with mlflow.start_run():
            info = mlflow.pyfunc.log_model(
                name=MODEL_ARTIFACT_NAME, python_model=str(MODEL_CODE),
                artifacts={key: str(path) for key, path in files.items()},
                signature=infer_signature(example, output))
        name = REGISTERED_MODELS[target]
        version = mlflow.register_model(info.model_uri, name,
                                        tags={META_SHA_TAG: sha256_of(files["meta"])})
        client.set_registered_model_alias(name, CHAMPION_ALIAS, version.version)


def as_text(scores_file: Path, cohort: Path) -> pd.DataFrame:
    """A scores file as the text it holds, the cohort's folder written as a placeholder."""
    text = pd.read_csv(scores_file, dtype=str, keep_default_na=False)
    return text.map(lambda cell: cell.replace(str(cohort), ROOT_PLACEHOLDER))


def assert_same_scores(written: pd.DataFrame, pinned: pd.DataFrame) -> None:
    assert list(written.columns) == list(pinned.columns)
    assert len(written) == len(pinned)
    numeric = [c for c in pinned.columns if c.startswith(("p_", "pred_"))]
    for column in pinned.columns:
        if column in numeric:
            assert (written[column] == "").equals(pinned[column] == ""), column
            filled = pinned[column] != ""
            np.testing.assert_allclose(written.loc[filled, column].astype(float),
                                       pinned.loc[filled, column].astype(float),
                                       rtol=0, atol=TOLERANCE, err_msg=column)
        else:
            pd.testing.assert_series_equal(written[column], pinned[column])


@pytest.fixture(scope="module")
def pinned_setup(tmp_path_factory):
    """The cohort and a store holding the committed models, as the environment of a test."""
    root = tmp_path_factory.mktemp("pinned")
    cohort = write_cohort(root / "cohort")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        register_models(uri)
    return cohort, uri


def score_with(engine, cohort: Path, uri: str, output: Path, **kwargs) -> pd.DataFrame:
    from exoqc import tracking
    from exoqc.inference.score import ScoreSettings

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        tracking.configure()
        settings = ScoreSettings(n_jobs=1, log_to_mlflow=False, assay_budget=5)
        engine(cohort, output, settings, **kwargs)
    return as_text(output, cohort)


def test_the_local_engine_writes_the_pinned_scores(pinned_setup, tmp_path):
    from exoqc.inference.score import score

    cohort, uri = pinned_setup
    written = score_with(score, cohort, uri, tmp_path / "scores.csv")
    pinned = pd.read_csv(PINNED, dtype=str, keep_default_na=False)
    assert_same_scores(written, pinned)
    # the cohort holds what the docstring promises
    assert (pinned["status"] == "error").sum() == 6  # both rows of the prep_id used twice
    assert sorted(pinned["assay_priority"].replace("", None).dropna()) == list("12345")
    assert (pinned["status"] == "insufficient").sum() == 1
    assert pinned["domain_note"].str.contains(UNKNOWN_MARKER).sum() == 1
    assert (pinned["decision"] != "").sum() > 20


def test_the_spark_engine_writes_the_pinned_scores(pinned_setup, spark_session, tmp_path):
    from exoqc.inference import spark as spark_engine

    cohort, uri = pinned_setup
    written = score_with(spark_engine.score_folder, cohort, uri, tmp_path / "scores.csv",
                         spark=spark_session)
    assert_same_scores(written, pd.read_csv(PINNED, dtype=str, keep_default_na=False))


def main() -> None:
    """Write ``pinned_scores.csv`` with the local engine as it is now."""
    import tempfile

    from exoqc.inference.score import score

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cohort = write_cohort(root / "cohort")
        uri = f"sqlite:///{root / 'mlflow.db'}"
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MLFLOW_TRACKING_URI", uri)
            register_models(uri)
        written = score_with(score, cohort, uri, root / "scores.csv")
        written.to_csv(PINNED, index=False)
        shutil.rmtree(root / "cohort")
    print(f"wrote {PINNED} ({len(written)} rows)", file=sys.stderr)


if __name__ == "__main__":
    main()
