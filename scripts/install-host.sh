#!/usr/bin/env bash
# Install this checkout's environment on a server host, as the user that runs the services:
# the locked dependencies without the dev group. With a settings file (the JSON Terraform writes
# to /etc/textclf/settings.json), also write .dvc/config.local and .stack/env from it.
# EC2 user data runs it (infra/terraform/modules/host); the tests run it on a clone.
#   scripts/install-host.sh [SETTINGS_JSON]
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never
export UV_COMPILE_BYTECODE="${UV_COMPILE_BYTECODE:-1}"  # services start faster, every restart

uv sync --frozen --no-dev
if [ -n "${1:-}" ]; then
  .venv/bin/textclf infra settings --outputs "$1"
fi
