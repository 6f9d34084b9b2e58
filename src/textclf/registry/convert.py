"""Turn a pickled model that you trust (textclf 0.2 and earlier wrote pickles) into the skops
format, once: the explicit, documented path by which old models keep working
(docs/data-and-models.md). Running it is the statement that the pickle is trusted, since
reading a pickle runs whatever code it carries.

- A file: `textclf convert-model models/model.joblib` writes `models/model.skops` beside it.
- A registry version: `textclf convert-model models:/<name>/<version>` logs the same pipeline
  in skops format to the version's own run, registers it as a new version with the old
  version's tags (plus `textclf.converted_from`), loads it back, then moves the old version's
  aliases to it. It is the same model, so no promotion decision is involved.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import joblib

from textclf import compat
from textclf.core.errors import DataError
from textclf.ml.persist import MODEL_SUFFIX, PROBE_TEXT, check_classifier, save_model
from textclf.registry.models import SKOPS, download_model_file, load_model, log_pipeline
from textclf.registry.tracking import connect, mlflow_error
from textclf.registry.versions import VERSION_URI, mlflow_client

CONVERTED_FROM = "textclf.converted_from"

log = logging.getLogger(__name__)


def convert_model(source: str, root: Path = Path(".")) -> dict[str, Any]:
    """Convert a pickled model file or registry version (module docstring); returns what it
    wrote."""
    if source.startswith("models:/"):
        return _convert_version(source, root)
    return _convert_file(Path(source))


def load_trusted_pickle(path: Path) -> Any:
    """A pickled (joblib) pipeline, for `textclf convert-model` only: the caller has said that
    the file is trusted, since unpickling runs whatever code the file carries."""
    compat.install()  # 0.1 pickles name modules that moved
    try:
        pipeline = joblib.load(path)
    except Exception as error:
        raise DataError(path, f"not a readable pickle ({error})", "name a model.joblib") from error
    return check_classifier(pipeline, str(path))


def _convert_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(path, "no such model file", "name a pickled model (model.joblib)")
    target = path.with_suffix(MODEL_SUFFIX)
    if target.exists():
        raise DataError(target, "already exists", "move it away, or use it as it is")
    save_model(load_trusted_pickle(path), target)
    log.info("converted %s to %s", path, target)
    return {"converted": str(path), "model": str(target)}


def _convert_version(uri: str, root: Path) -> dict[str, Any]:
    import mlflow

    match = VERSION_URI.match(uri)
    if match is None:
        raise DataError(uri, "not a registry version", "name one as models:/<name>/<version>")
    name, old = match["name"], match["version"]
    connect(root)
    client = mlflow_client()
    try:
        version = client.get_model_version(name, old)
        found = client.get_registered_model(name).aliases.items()
        aliases = [alias for alias, at in found if str(at) == old]
    except Exception as error:
        raise mlflow_error(error, uri) from error
    with tempfile.TemporaryDirectory(prefix="textclf-convert-") as folder:
        model_file, serialization = download_model_file(uri, Path(folder))
        if serialization == SKOPS:
            raise DataError(uri, "is already in skops format", "use it as it is")
        pipeline = load_trusted_pickle(model_file)
    tags = {**version.tags, CONVERTED_FROM: f"{name}/{old} ({serialization})"}
    try:
        with mlflow.start_run(run_id=version.run_id):
            logged = log_pipeline(pipeline, [PROBE_TEXT], tags, name="model-skops")
        new = mlflow.register_model(logged, name, tags=tags).version
    except Exception as error:
        raise mlflow_error(error, uri) from error
    load_model(f"models:/{name}/{new}", root)  # read back before any alias moves
    try:
        for alias in aliases:
            client.set_registered_model_alias(name, alias, new)
    except Exception as error:
        raise mlflow_error(error, uri) from error
    log.info("converted %s to version %s; moved %s", uri, new, ", ".join(aliases) or "no alias")
    return {"converted": uri, "model": f"models:/{name}/{new}", "aliases_moved": aliases}
