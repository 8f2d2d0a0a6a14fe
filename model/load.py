"""Loading a registered or logged exoqc model safely, and checking its pyfunc code.

Each registered version carries the SHA-256 of its ``exoqc_model.json`` as a version tag
(``META_SHA_TAG``); that file holds the SHA-256 of each booster, so a model is loaded only
if every file is the one written at training time. Loading never unpickles anything and
never runs code from the model folder: the boosters are read with XGBoost's own JSON
reader by code shipped in this package. An engine that lets MLflow load the pyfunc (which
runs the model's ``model_code.py``) checks that file first with
:func:`verify_pyfunc_code`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import yaml
from mlflow.tracking import MlflowClient

from exoqc import __version__
from exoqc.contracts import version_uri
from exoqc.model.predictor import ExoqcPredictor, ModelIntegrityError, sha256_of

MODEL_CODE = Path(__file__).with_name("model_code.py")
META_SHA_TAG = "exoqc_meta_sha256"
MODEL_ARTIFACT_NAME = "model"
CODE_MODEL_LOADER = "mlflow.pyfunc.loaders.code_model"


@dataclass(frozen=True)
class LoadedModel:
    predictor: ExoqcPredictor
    uri: str
    name: str | None
    version: str | None

    @property
    def label(self) -> str:
        """How the scores file names the model: ``exoqc-purity/3`` or the URI."""
        return f"{self.name}/{self.version}" if self.name else self.uri


def _resolve_registered(uri: str) -> tuple[str, str] | None:
    """(name, version) of a ``models:/name@alias`` or ``models:/name/version`` URI."""
    if not uri.startswith("models:/"):
        return None
    path = uri.removeprefix("models:/")
    client = MlflowClient()
    if "@" in path:
        name, alias = path.split("@", 1)
        return name, str(client.get_model_version_by_alias(name, alias).version)
    if "/" in path:
        name, version = path.split("/", 1)
        return name, version
    return None


def load_model(uri: str) -> LoadedModel:
    """Load an exoqc model from the registry, a run, or a local model folder, verified.

    Raises :class:`ModelIntegrityError` when files differ from those written at training
    time or the folder is not an exoqc model, and ``MlflowException`` when the URI names
    nothing.
    """
    registered = _resolve_registered(uri)
    expected_meta_sha = source = None
    name = version = None
    if registered is not None:
        name, version = registered
        model_version = MlflowClient().get_model_version(name, version)
        expected_meta_sha = model_version.tags.get(META_SHA_TAG)
        if expected_meta_sha is None:
            raise ModelIntegrityError(
                f"{name} version {version} has no '{META_SHA_TAG}' tag: it was not registered "
                "by exoqc, or its registration did not complete"
            )
        source = version_uri(name, version)
    elif not Path(uri).exists():
        source = uri
    # Everything is read into memory: a downloaded copy is not kept.
    with tempfile.TemporaryDirectory(prefix="exoqc-model-") as download:
        local = (Path(mlflow.artifacts.download_artifacts(source, dst_path=download))
                 if source else Path(uri))
        artifacts = _pyfunc_artifacts(local)
        try:
            predictor = ExoqcPredictor.from_files(
                artifacts["meta"], artifacts.get("booster"), artifacts.get("regressor"),
                expected_meta_sha256=expected_meta_sha, other_files=list(artifacts.values()),
            )
        except ModelIntegrityError as exc:
            if source is None:
                raise
            # Name the model and its files, not the temporary copy.
            raise ModelIntegrityError(f"{uri}: {str(exc).replace(f'{local}/', '')}") from None
        except (ValueError, KeyError, TypeError) as exc:  # json, spec fields, XGBoost
            raise ModelIntegrityError(f"{uri}: not a readable exoqc model ({exc})") from exc
    return LoadedModel(predictor=predictor, uri=uri, name=name, version=version)


def verify_pyfunc_code(model_dir: Path) -> None:
    """Refuse a model folder whose pyfunc would run code exoqc did not ship.

    ``mlflow.pyfunc.load_model`` (and ``spark_udf``) execute the model's ``model_code.py``
    and add any ``code`` paths to ``sys.path``; a pickled ``python_model`` would be
    unpickled. So the folder must be a model from code, with no extra code, whose code file
    is byte for byte this package's ``model_code.py``. Call it before handing the folder to
    MLflow; :func:`load_model` verifies the boosters and the spec.
    """
    model_dir = Path(model_dir)
    pyfunc = _pyfunc_flavor(model_dir)
    code_file = model_dir / Path(str(pyfunc.get("model_code_path", ""))).name
    if (pyfunc.get("loader_module") != CODE_MODEL_LOADER or pyfunc.get("code")
            or "python_model" in pyfunc or not code_file.is_file()):
        raise ModelIntegrityError(
            f"{model_dir / 'MLmodel'}: not an exoqc model from code (loader "
            f"{pyfunc.get('loader_module')!r}); refusing code that exoqc did not ship")
    if sha256_of(code_file) != sha256_of(MODEL_CODE):
        raise ModelIntegrityError(
            f"{code_file}: differs from the model code shipped with exoqc {__version__}; "
            "refusing to run it")


def _pyfunc_flavor(model_dir: Path) -> dict[str, Any]:
    """The python_function flavor of a model's MLmodel file, read as plain YAML data."""
    mlmodel = model_dir / "MLmodel"
    if not mlmodel.is_file():
        raise ModelIntegrityError(f"{model_dir}: no MLmodel file; not an MLflow model folder")
    try:
        flavor = yaml.safe_load(mlmodel.read_text())["flavors"]["python_function"]
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise ModelIntegrityError(f"{mlmodel}: not an exoqc model (no python_function "
                                  "flavor)") from exc
    if not isinstance(flavor, dict):
        raise ModelIntegrityError(f"{mlmodel}: not an exoqc model (no python_function flavor)")
    return flavor


def _pyfunc_artifacts(model_dir: Path) -> dict[str, Path]:
    """Artifact files named in the model's MLmodel file (read as plain YAML data)."""
    mlmodel = model_dir / "MLmodel"
    try:
        entries = _pyfunc_flavor(model_dir)["artifacts"]
        files = {key: model_dir / value["path"] for key, value in entries.items()}
    except (KeyError, TypeError, AttributeError) as exc:
        raise ModelIntegrityError(f"{mlmodel}: not an exoqc model (no booster artifacts)") from exc
    # A model without a booster (a fallback, exoqc.model.fallback) has its numbers in
    # the spec; ExoqcPredictor.from_files checks the spec asks for no booster.
    for key in ("meta", *files):
        if key not in files or not files[key].is_file():
            raise ModelIntegrityError(f"{model_dir}: the model's '{key}' file is missing")
    if any(not path.resolve().is_relative_to(model_dir.resolve()) for path in files.values()):
        raise ModelIntegrityError(f"{mlmodel}: artifact paths point outside the model folder")
    return files
