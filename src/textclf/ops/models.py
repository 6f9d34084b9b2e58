"""Load a model, from wherever it is: a `model.joblib` file, an MLflow run, or the registry
(`models:/<name>@<alias>` or `models:/<name>/<version>`). The one route for the CLI, batch
scoring, monitoring and the promotion rule."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textclf.core.errors import DataError
from textclf.ml.scoring import Scores
from textclf.ml.text import as_texts
from textclf.ml.workers import score_all

log = logging.getLogger(__name__)
ALIAS_URI = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/]+)$")
_VERSION = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")


@dataclass
class LoadedModel:
    """A fitted pipeline and where it came from (written into every scored row)."""

    pipeline: Any
    name: str
    version: str
    uri: str

    @property
    def classes(self) -> list[str]:
        return [str(label) for label in self.pipeline.classes_]

    def score(
        self,
        texts: Any,
        min_confidence: float = 0.0,
        workers: int | None = 1,
        chunk_rows: int = 5000,
    ) -> Scores:
        """Scores of `texts`; answers under `min_confidence` are `uncertain`. More than one
        chunk of texts is scored on `workers` processes (None: every core)."""
        return score_all(self.pipeline, as_texts(texts), min_confidence, workers, chunk_rows)


def load_model(source: str | Path, root: Path = Path(".")) -> LoadedModel:
    """`source` is a path to a model.joblib, `runs:/<run id>/model`, or a registry URI (of the
    tracking store that `root`'s settings name).

    A registry alias that points nowhere is a DataError that says how to create it; a registry
    that does not answer is ServiceUnavailable.
    """
    source = str(source)
    if not source.startswith(("models:/", "runs:/")):
        return _load_file(Path(source))
    from textclf.ops.registry import version_by_alias
    from textclf.ops.tracking import connect, mlflow_error

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
    elif match := _VERSION.match(source):
        name, version = match["name"], match["version"]
    elif not source.startswith("runs:/"):
        raise DataError(
            source, "not a model URI", "use models:/<name>@<alias> or models:/<name>/<version>"
        )
    uri = f"models:/{name}/{version}" if source.startswith("models:/") else source
    import mlflow

    try:
        pipeline = mlflow.sklearn.load_model(uri)
    except Exception as error:
        raise mlflow_error(error, uri) from error
    log.info("loaded %s (version %s)", uri, version)
    return LoadedModel(pipeline, name, version, uri)


def _load_file(path: Path) -> LoadedModel:
    import joblib

    if not path.is_file():
        raise DataError(path, "no trained model", "run `dvc repro train`, or name a model.joblib")
    return LoadedModel(joblib.load(path), path.stem, "local", str(path))
