"""Reproducible text classification: DVC stages, MLflow tracking, Prefect operations."""
