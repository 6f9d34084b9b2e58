"""Load a model from wherever it is: a `model.joblib` file, an MLflow run, or the registry
(`models:/<name>@<alias>` or `models:/<name>/<version>`). The one route for the CLI, batch
scoring, monitoring, the service and the promotion rule."""

from __future__ import annotations

import logging
from pathlib import Path

from textclf.core.errors import DataError
from textclf.ml.persist import LoadedModel, load_model_file
from textclf.registry.tracking import connect, mlflow_error
from textclf.registry.versions import ALIAS_URI, VERSION_URI, version_by_alias

log = logging.getLogger(__name__)


def load_model(source: str | Path, root: Path = Path(".")) -> LoadedModel:
    """`source` is a path to a model.joblib, `runs:/<run id>/model`, or a registry URI (of the
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
    import mlflow  # seconds to import: only where a registry or run is read

    try:
        pipeline = mlflow.sklearn.load_model(uri)
    except Exception as error:
        raise mlflow_error(error, uri) from error
    log.info("loaded %s (version %s)", uri, version)
    return LoadedModel(pipeline, name, version, uri)
