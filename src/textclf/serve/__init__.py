"""The online prediction service: a FastAPI app (`app.py`) over the model the registry's alias
names (`champion.py`), with Prometheus metrics (`telemetry.py`) and a page to try it."""
