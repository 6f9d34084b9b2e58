"""textclf: reproducible text classification (DVC stages, MLflow tracking, Prefect operations).

Layout: `core` (errors, params, files, storage, tables, logging), `ml` (text, model, scoring,
metrics), `pipeline` (the DVC stages), `ops` (models, registry, batch, monitoring, retraining,
flows, pull-request report), `infra` (the local stack, AWS settings), and `cli` on top.
"""

from textclf import compat

__version__ = "0.2.0"

compat.install()
