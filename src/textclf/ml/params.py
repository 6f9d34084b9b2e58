"""The params file, checked once when it is read: every field and its type, the rules that span
fields, and every estimator value (scikit-learn validates them without fitting). A wrong value is
one error naming the file, the field and the fix, before any data is read.

textclf.core.params reads the file into typed sections and checks what needs no model knowledge;
this module adds what the ML layer knows: the metric names, the vectoriser and classifier
options, calibration and the NB weighting. Every entry point reads params here.
"""

from __future__ import annotations

from pathlib import Path

from textclf.core.errors import ParamsError
from textclf.core.params import DEFAULT_PARAMS, Params, read_params
from textclf.ml.metrics import HIGHER_IS_BETTER
from textclf.ml.model import check_train_params


def load_params(path: str | Path = DEFAULT_PARAMS) -> Params:
    params = read_params(path)
    try:
        check_params(params)
    except ParamsError as error:
        raise error.in_file(path) from None
    return params


def check_params(params: Params) -> None:
    """Raise the ParamsError of the first rule `params` breaks."""
    check_train_params(params.train, params.prepare)
    if params.train.calibration != "none" and params.prepare.validation_size == 0:
        raise ParamsError(
            "train.calibration",
            f"calibration '{params.train.calibration}' is fitted on the validation split, "
            "and prepare.validation_size is 0",
            "set prepare.validation_size (e.g. 0.1), or train.calibration: none",
        )
    if params.registry.metric not in HIGHER_IS_BETTER:
        raise ParamsError(
            "registry.metric",
            f"registry.metric is {params.registry.metric!r}",
            f"set it to one of {', '.join(HIGHER_IS_BETTER)}",
        )
