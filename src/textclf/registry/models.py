"""Load a model from wherever it is: a `model.skops` file, an MLflow run, or the registry
(`models:/<name>@<alias>` or `models:/<name>/<version>`). The one route for the CLI, batch
scoring, monitoring, the service and the promotion rule; and the one way a pipeline is logged
to MLflow.

Every route reads the skops file itself through ml/persist.py's trust rule: mlflow.sklearn's own
loader would trust the types that the model's MLmodel file lists, which whoever wrote the
model chose. Versions logged as pickles (textclf 0.2 and earlier) are refused with the fix,
`textclf convert-model` (registry/convert.py).
"""

from __future__ import annotations

import logging
import tempfile
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import pandas as pd

import textclf
from textclf.core.errors import DataError
from textclf.ml.persist import LoadedModel, load_model_bytes, load_model_file, trusted_types
from textclf.registry.tracking import connect, mlflow_error
from textclf.registry.versions import ALIAS_URI, VERSION_URI, version_by_alias

LOGGED_NAME = "model"  # the logged model's name in its run: runs:/<run id>/model
SKOPS = "skops"  # mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS, without importing mlflow

log = logging.getLogger(__name__)


def load_model(source: str | Path, root: Path = Path(".")) -> LoadedModel:
    """`source` is a path to a model.skops, `runs:/<run id>/model`, or a registry URI (of the
    tracking store that `root`'s settings name).

    A registry alias that points nowhere is a DataError that says how to create it; a registry
    that does not answer is ServiceUnavailable.
    """
    source = str(source)
    if not source.startswith(("models:/", "runs:/")):
        return load_model_file(Path(source))
    connect(root)
    name, version = "run", source.removeprefix("runs:/").split("/")[0]
    if match := ALIAS_URI.match(source):
        name = match["name"]
        found = version_by_alias(name, match["alias"])
        if found is None:
            raise DataError(
                source,
                f"there is no '{match['alias']}' version of {name} in the registry",
                "register and promote one: `textclf register` then `textclf promote`",
            )
        version = str(found.version)
    elif match := VERSION_URI.match(source):
        name, version = match["name"], match["version"]
    elif not source.startswith("runs:/"):
        raise DataError(
            source, "not a model URI", "use models:/<name>@<alias> or models:/<name>/<version>"
        )
    uri = f"models:/{name}/{version}" if source.startswith("models:/") else source
    pipeline = load_logged(uri)
    log.info("loaded %s (version %s)", uri, version)
    return LoadedModel(pipeline, name, version, uri)


def load_logged(uri: str) -> Any:
    """The checked pipeline of a logged model (`runs:/` or `models:/<name>/<version>`)."""
    with tempfile.TemporaryDirectory(prefix="textclf-model-") as folder:
        model_file, serialization = download_model_file(uri, Path(folder))
        if serialization != SKOPS:
            raise DataError(
                uri,
                f"logged as a pickle ({serialization}): loading it runs any code it carries, "
                "so textclf does not",
                f"if you trust where it came from, convert it once: `textclf convert-model {uri}` "
                "(docs/data-and-models.md)",
            )
        return load_model_bytes(model_file.read_bytes(), uri)


def log_pipeline(
    pipeline: Any, example_texts: list[str], tags: dict[str, str], name: str = LOGGED_NAME
) -> str:
    """Log a fitted pipeline to the active MLflow run in skops format, with its signature and an
    input example; returns the logged model's URI."""
    import mlflow
    from mlflow.models import infer_signature

    example = pd.DataFrame({"text": example_texts})
    logged = mlflow.sklearn.log_model(
        pipeline,
        name=name,
        signature=infer_signature(example, pipeline.predict(example)),
        input_example=example,
        serialization_format=SKOPS,
        # For MLflow's own loader (`mlflow models serve`); textclf's reads ml/persist.py's.
        skops_trusted_types=sorted(trusted_types()),
        # The package travels with the model, so it loads where textclf is not installed.
        code_paths=[str(Path(textclf.__file__).parent)],
        pip_requirements=_requirements(),
        tags=tags,
    )
    return str(logged.model_uri)


def download_model_file(uri: str, folder: Path) -> tuple[Path, str]:
    """The model file of a logged model, downloaded into `folder`, and its serialization."""
    import mlflow
    from mlflow.models import Model

    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(folder)))
        flavor = Model.load(str(local)).flavors.get("sklearn")
    except Exception as error:
        raise mlflow_error(error, uri) from error
    if flavor is None or "pickled_model" not in flavor:
        raise DataError(uri, "not a scikit-learn model", "name a model that textclf logged")
    return local / flavor["pickled_model"], flavor.get("serialization_format", "pickle")


def _requirements() -> list[str]:
    # polars: the vectoriser counts n-grams with it (textclf.ml.vectorize)
    packages = ["scikit-learn", "scipy", "numpy", "pandas", "polars", "skops", "mlflow"]
    return [f"{package}=={installed_version(package)}" for package in packages]
