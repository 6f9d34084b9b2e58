"""textclf: reproducible text classification (DVC stages, MLflow tracking, Prefect operations).

Layers, each importing only those before it (import-linter checks it): `core` (errors, params,
files, storage, tables), `ml` (text, model, scoring, metrics, model files), `registry` (MLflow
tracking and the model registry), then `pipeline` (the DVC stages), `batch`, `monitor`, `serve`,
`review` and `infra`, then `retrain`, `flows` and `cli` on top (docs/layout.md).
"""

__version__ = "0.2.0"
