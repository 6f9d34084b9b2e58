# Everyday commands. `make` sets up the environment and reproduces the pipeline on the bundled
# sample; `make test` runs the test suite. Both work offline apart from the package index.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
RUN := $(UV) run --frozen
export UV_PYTHON_DOWNLOADS := never
# This machine sets PYTHONDONTWRITEBYTECODE, so compile once at install, not on every import.
export UV_COMPILE_BYTECODE := 1

.PHONY: all setup repro test test-fast lint format bench hooks clean help stack-up stack-down push pull deploy worker

all: setup repro ## set up the environment, then `dvc repro` on the bundled sample

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(UV):
	python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv

setup: $(UV) ## create .venv from uv.lock (the project itself installed editable)
	$(UV) sync --frozen

repro: setup ## reproduce the DVC pipeline
	$(RUN) dvc repro

test: setup ## run the whole test suite
	$(RUN) pytest

test-fast: setup ## unit tests only (no end-to-end pipeline runs)
	$(RUN) pytest -m "not integration"

lint: setup ## ruff and black, as CI runs them
	$(RUN) ruff check .
	$(RUN) black --check .

format: setup ## fix what ruff and black can fix
	$(RUN) ruff check --fix .
	$(RUN) black .

bench: setup ## full-IMDB benchmarks (need ../shared/datasets); print numbers
	$(RUN) python bench/full_imdb.py
	$(RUN) python bench/batch_scoring.py

stack-up: setup ## start S3 (moto), MLflow and Prefect servers on loopback; writes .stack/env
	$(RUN) textclf stack up

stack-down: ## stop the local stack
	$(RUN) textclf stack down

# With the local stack up, push/pull use its settings; otherwise the AWS ones of your shell.
STACK_ENV = set -a; [ ! -f .stack/env ] || . .stack/env; set +a;

push: setup ## push data and models to the DVC remote
	$(STACK_ENV) $(RUN) dvc push

pull: setup ## pull data and models from the DVC remote
	$(STACK_ENV) $(RUN) dvc pull

deploy: setup ## create the process work pool (if missing) and the deployments in prefect.yaml
	$(STACK_ENV) $(RUN) prefect work-pool inspect ec2-process >/dev/null 2>&1 || \
		$(STACK_ENV) $(RUN) prefect work-pool create ec2-process --type process
	$(STACK_ENV) $(RUN) prefect --no-prompt deploy --all

worker: setup ## run a process worker for the deployments (TEXTCLF_HOME defaults to this checkout)
	$(STACK_ENV) TEXTCLF_HOME=$${TEXTCLF_HOME:-$(CURDIR)} $(RUN) prefect worker start --pool ec2-process

hooks: setup ## install the git pre-commit hooks
	$(RUN) pre-commit install

clean: ## remove local tracking data and caches (not the DVC cache)
	rm -rf mlflow.db mlartifacts .pytest_cache .ruff_cache
