"""A fitted model on disk: how the pipeline saves it and how every route loads it back.

The trust boundary (docs/data-and-models.md): a model file is data. It is a skops archive
(`skops.io`: a JSON schema and numpy arrays, no pickle), and loading one constructs only the
types in `trusted_types()`: scikit-learn's and numpy's, which skops trusts itself, and the classes
this package defines for its pipelines. A file that names any other type (a function, `os.system`,
a class from elsewhere) is refused before anything in it is built. Pickles (`model.joblib`, the
format of textclf 0.2 and earlier) are never loaded; `textclf convert-model` turns one that you
trust into a skops file once, and says so.

`LoadedModel` is a fitted pipeline with where it came from (written into every scored row); the
registry (textclf.registry.models) wraps registered versions in the same type.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import io
import json
import logging
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textclf.core.errors import DataError
from textclf.core.files import atomic_path
from textclf.ml.model import forget_object_ids
from textclf.ml.scoring import Scores
from textclf.ml.text import as_texts
from textclf.ml.workers import score_all

log = logging.getLogger(__name__)

MODEL_SUFFIX = ".skops"
# The modules whose classes a fitted pipeline holds: every class defined in them is trusted.
OWN_MODULES = (
    "textclf.core.params",
    "textclf.ml.model",
    "textclf.ml.nb_weighting",
    "textclf.ml.vectorize",
    "textclf.ml.word_vectors",
)
# scikit-learn's private classes that a calibrated pipeline holds (skops trusts public ones).
SKLEARN_PRIVATE = (
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.calibration._TemperatureScaling",
)
PROBE_TEXT = "a short text to check that the model scores"
_PICKLE_PROTOCOL = b"\x80"  # the first byte of a pickle (protocol 2 and later), so of a joblib
_ZIP_ENTRY = b"PK\x03\x04"
_STORED_ARRAY = re.compile(r"^(\d+)\.(npy|npz)$")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


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


@functools.cache
def trusted_types() -> frozenset[str]:
    """The type names a model file may name beyond skops' own defaults: the classes defined in
    OWN_MODULES (read from the code, never from a file) and SKLEARN_PRIVATE."""
    names = set(SKLEARN_PRIVATE)
    for module_name in OWN_MODULES:
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if inspect.isclass(value) and value.__module__ == module_name:
                names.add(f"{module_name}.{value.__qualname__}")
    return frozenset(names)


def model_bytes(pipeline: Any) -> bytes:
    """A fitted pipeline as a skops archive; the same data and params give the same bytes."""
    import skops.io as sio

    raw = sio.dumps(forget_object_ids(pipeline))
    return _without_addresses(raw)


def save_model(pipeline: Any, target: Path) -> None:
    """Write a fitted pipeline atomically as a skops archive; it must load back as trusted."""
    data = model_bytes(pipeline)
    refused = _untrusted(data)
    if refused:  # a new class in the pipeline that OWN_MODULES does not list
        raise TypeError(f"the model holds types persist.py does not trust: {', '.join(refused)}")
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def load_model_bytes(data: bytes, source: str) -> Any:
    """The checked pipeline in a skops archive's bytes. Refused (DataError naming `source`): a
    pickle, an empty, cut or foreign file, any type outside trusted_types(), and anything that
    is not a fitted classifier that scores a probe text."""
    import skops.io as sio

    if not data:
        raise DataError(source, "the model file is empty", "retrain it (`dvc repro train`)")
    if data.startswith(_PICKLE_PROTOCOL) or source.endswith(".joblib"):
        raise DataError(
            source,
            "a pickle (joblib) model: loading one runs any code it carries, so textclf does not",
            "if you trust where it came from, convert it once: `textclf convert-model "
            f"{source}` (docs/data-and-models.md)",
        )
    if not zipfile.is_zipfile(io.BytesIO(data)):
        if data.startswith(_ZIP_ENTRY):  # the start of an archive whose end is missing
            raise DataError(
                source, "the model file is damaged (cut short)", "copy it again, or retrain it"
            )
        raise DataError(source, "not a model file (not a skops archive)", "name a model.skops")
    try:
        refused = _untrusted(data)
    except Exception as error:
        raise DataError(source, f"the model file is damaged ({error})", "retrain it") from error
    if refused:
        raise DataError(
            source,
            f"the model file names types textclf does not trust: {', '.join(refused)}; "
            "nothing in it was loaded",
            "use a model that textclf's train stage wrote",
        )
    try:
        pipeline = sio.loads(data, trusted=sorted(trusted_types()))
    except Exception as error:
        raise DataError(source, f"the model file is damaged ({error})", "retrain it") from error
    return check_classifier(pipeline, source)


def check_classifier(pipeline: Any, source: str) -> Any:
    """`pipeline` if it is a fitted text classifier that scores a probe text, else a DataError."""
    if not (hasattr(pipeline, "predict_proba") and hasattr(pipeline, "classes_")):
        raise DataError(
            source,
            f"not a fitted text classifier (a {type(pipeline).__name__})",
            "name a model that the train stage wrote",
        )
    try:
        probabilities = pipeline.predict_proba([PROBE_TEXT])
    except Exception as error:
        raise DataError(
            source, f"the model cannot score a text ({error})", "retrain it (`dvc repro train`)"
        ) from error
    if getattr(probabilities, "shape", None) != (1, len(pipeline.classes_)):
        raise DataError(source, "the model's scores do not match its classes", "retrain it")
    return pipeline


def load_model_file(path: Path) -> LoadedModel:
    """A model.skops that the train stage wrote (checked: load_model_bytes)."""
    if not path.is_file():
        raise DataError(path, "no trained model", "run `dvc repro train`, or name a model.skops")
    pipeline = load_model_bytes(path.read_bytes(), str(path))
    return LoadedModel(pipeline, path.stem, "local", str(path))


def _untrusted(data: bytes) -> list[str]:
    import skops.io as sio

    return sorted(set(sio.get_untrusted_types(data=data)) - trusted_types())


def _without_addresses(raw: bytes) -> bytes:
    """skops names objects by their memory address (`__id__`, `<id>.npy`): number them in the
    order they appear instead, and fix the archive's timestamps, so that bytes depend only on
    the model."""
    source = zipfile.ZipFile(io.BytesIO(raw))
    schema = json.loads(source.read("schema.json"))
    numbers: dict[int, int] = {}

    def renumber(node: Any) -> Any:
        if isinstance(node, dict):
            if "__id__" in node:
                node["__id__"] = numbers.setdefault(node["__id__"], len(numbers))
            if isinstance(node.get("file"), str) and _STORED_ARRAY.match(node["file"]):
                node["file"] = _array_name(node["file"], numbers)
            for value in node.values():
                renumber(value)
        elif isinstance(node, list):
            for value in node:
                renumber(value)
        return node

    renumber(schema)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        renamed = {_array_name(name, numbers): name for name in source.namelist()}
        renamed.pop("schema.json")
        for name in sorted(renamed):
            target.writestr(_entry(name), source.read(renamed[name]))
        target.writestr(_entry("schema.json"), json.dumps(schema, indent=1))
    return out.getvalue()


def _array_name(name: str, numbers: dict[int, int]) -> str:
    """`<address>.npy` as `array-<number>.npy`; other names as they are."""
    match = _STORED_ARRAY.match(name)
    if match is None:
        return name
    return f"array-{numbers.setdefault(int(match[1]), len(numbers)):06d}.{match[2]}"


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info
