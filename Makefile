# Everyday commands. `make` sets up the environment and reproduces the pipeline on the bundled
# sample; `make test` runs the test suite. Both work offline apart from the package index.
SHELL := /bin/bash
UV_HOME := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/textclf/uv
UV ?= $(shell command -v uv 2>/dev/null || echo "$(UV_HOME)/bin/uv")
# `setup` syncs .venv when uv.lock or pyproject.toml changed (a stamp in .venv records it), so
# the other targets run without syncing again (and without recompiling its bytecode).
RUN := $(UV) run --frozen --no-sync
VENV_STAMP := .venv/.synced
SPARK_STAMP := .venv/.synced-spark
export UV_PYTHON_DOWNLOADS := never
# This machine sets PYTHONDONTWRITEBYTECODE, so compile once at install, not on every import.
export UV_COMPILE_BYTECODE := 1
# No usage telemetry leaves this machine: these are defaults, a value in your environment wins
# (docs/telemetry.md says how to opt in). textclf's own commands set the same in their process.
export DO_NOT_TRACK ?= true
export MLFLOW_DISABLE_TELEMETRY ?= true
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export COLLECT_ANALYTICS ?= false
export NO_MKDOCS_2_WARNING ?= 1

.PHONY: all setup repro test test-fast lint format docs docs-serve bench bench-serve bench-spark emr-env hooks clean help stack-up stack-down push pull deploy worker serve \
	infra-check infra-bootstrap infra-init infra-plan infra-apply infra-destroy infra-settings

all: setup repro ## set up the environment, then `dvc repro` on the bundled sample

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# uv in a virtual environment of its own (as .ci/run installs it), so where it lands does not
# depend on how this machine's pip is set up.
$(UV):
	python3 -m venv $(UV_HOME) && $(UV_HOME)/bin/pip install --quiet --disable-pip-version-check uv

# --inexact: keeps the Spark extra once `make test` has installed it (pyspark is a 456 MB
# download that `make` itself does not need).
setup: $(VENV_STAMP) ## create .venv from uv.lock (the project itself installed editable)

$(VENV_STAMP): uv.lock pyproject.toml | $(UV)
	@echo "installing the locked environment into .venv (uv sync; the first time takes a minute)"
	$(UV) sync --frozen --extra stack --inexact --quiet
	@touch $@

$(SPARK_STAMP): $(VENV_STAMP)
	@echo "adding the Spark extra (pyspark) to .venv"
	$(UV) sync --frozen --extra stack --extra spark --inexact --quiet
	@touch $@

repro: setup ## reproduce the DVC pipeline, then say what it produced
	@$(RUN) textclf check  # params and dataset sources, named with the fix (DVC's own message has none)
	$(RUN) dvc repro
	@echo
	@$(RUN) textclf outcome

# One process by default: on two cores, two xdist workers (PYTEST_WORKERS=2, a test file per
# worker, the slowest files first: tests/conftest.py) took as long (2,606 s against 2,650 s),
# since the pipelines and servers the tests start already use both cores, and made a temporary
# Prefect server miss its start-up wait. The 25 slowest tests are printed at the end.
PYTEST_WORKERS ?= 0
test: $(SPARK_STAMP) ## run the whole test suite (installs the Spark extra for the Spark job's tests)
	$(RUN) pytest -n $(PYTEST_WORKERS) --dist loadfile --durations=25

test-fast: setup ## the tests that start no server and run no pipeline (under two minutes)
	$(RUN) pytest -n 2 -m "not integration" --ignore=tests/integration --durations=10

docs: setup ## build the documentation site into site/ (strict: a broken link or page fails)
	$(RUN) mkdocs build --strict --quiet

docs-serve: setup ## serve the documentation on http://127.0.0.1:8000 while you edit it
	$(RUN) mkdocs serve --dev-addr 127.0.0.1:8000

lint: setup ## ruff, black and the layer contract (import-linter), as CI runs them
	$(RUN) ruff check .
	$(RUN) black --check .
	$(RUN) lint-imports --no-cache

format: setup ## fix what ruff and black can fix
	$(RUN) ruff check --fix .
	$(RUN) black .

bench: setup ## full-IMDB benchmarks (need ../shared/datasets); print numbers
	$(RUN) python bench/full_imdb.py
	$(RUN) python bench/vectorizer.py
	$(RUN) python bench/batch_scoring.py
	$(RUN) python bench/unlabelled_vectors.py

bench-spark: $(SPARK_STAMP) ## the Spark job on local[1]/local[2] against one process (full IMDB)
	$(RUN) python bench/spark_batch.py

emr-env: setup ## build the Spark job's packed environment and upload it to TEXTCLF_EMR_STAGING
	$(STACK_ENV) $(RUN) python scripts/build-emr-env.py --upload

bench-serve: setup ## the online service's load shedding, then its latencies under wrk (apt-get install wrk)
	$(RUN) python bench/serve_shedding.py
	$(RUN) python bench/serve_load.py

stack-up: setup ## start S3 (moto), MLflow and Prefect servers on loopback; writes .stack/env
	$(RUN) textclf stack up

serve: setup ## the online service on serve.port (the champion; MODEL=models/model.skops for the workspace model)
	$(STACK_ENV) $(RUN) textclf serve $(if $(MODEL),--model $(MODEL))

stack-down: ## stop the local stack
	$(RUN) textclf stack down

# With the local stack up, push/pull use its settings; otherwise the AWS ones of your shell.
STACK_ENV = set -a; [ ! -f .stack/env ] || . .stack/env; set +a;

push: setup ## push data and models to the DVC remote
	$(STACK_ENV) $(RUN) dvc push

pull: setup ## pull data and models from the DVC remote
	$(STACK_ENV) $(RUN) dvc pull

deploy: setup ## create the process work pool (if missing) and the deployments in prefect.yaml
	$(STACK_ENV) $(RUN) bash scripts/deploy-flows.sh ec2-process

worker: setup ## run a process worker for the deployments (TEXTCLF_HOME defaults to this checkout)
	$(STACK_ENV) TEXTCLF_HOME=$${TEXTCLF_HOME:-$(CURDIR)} $(RUN) prefect worker start --pool ec2-process

# AWS (infra/terraform): need terraform >= 1.10, the AWS CLI and credentials; ENV is dev or prod.
ENV ?= dev
TF := terraform -chdir=infra/terraform
CHECKOV_VENV := .venv-checkov
CHECKOV_ARGS ?= --quiet --compact

infra-check: ## checkov on infra/terraform, from its own locked environment
	[ -x $(CHECKOV_VENV)/bin/checkov ] || $(UV) venv -q --python 3.11 $(CHECKOV_VENV)
	$(UV) pip sync -q --python $(CHECKOV_VENV)/bin/python infra/requirements-checkov.txt
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov -d infra/terraform --skip-download $(CHECKOV_ARGS)

infra-bootstrap: ## once per account: the bucket that holds Terraform state
	terraform -chdir=infra/terraform/bootstrap init
	terraform -chdir=infra/terraform/bootstrap apply

infra-init: ## terraform init for ENV, state in s3://textclf-tfstate-<account>/textclf/ENV
	$(TF) init -reconfigure -backend-config=envs/$(ENV).s3.tfbackend \
		-backend-config="bucket=textclf-tfstate-$$(aws sts get-caller-identity --query Account --output text)"

infra-plan: ## terraform plan for ENV
	$(TF) plan -var-file=envs/$(ENV).tfvars -out=$(ENV).tfplan

infra-apply: ## apply the plan that infra-plan saved
	$(TF) apply $(ENV).tfplan

infra-destroy: ## tear ENV down (docs/aws.md: set deletion_protection = false first)
	$(TF) destroy -var-file=envs/$(ENV).tfvars

infra-settings: setup ## write ENV's outputs into .dvc/config.local and .stack/env
	$(RUN) textclf infra settings $(if $(TUNNEL),--tunnel)

hooks: setup ## install the git pre-commit hooks
	$(RUN) pre-commit install

clean: ## remove local tracking data and caches (not the DVC cache)
	rm -rf mlflow.db mlartifacts .pytest_cache .ruff_cache
