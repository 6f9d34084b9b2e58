#!/usr/bin/env bash
# The pull-request report, step by step as the PR workflow runs it; run it locally the same way
# (with the local stack's settings loaded, it pulls from and tracks to the local stack):
#   bash .github/scripts/pr-report.sh origin/main
set -euo pipefail
base="${1:?usage: pr-report.sh BASE_REV [OUTPUT_DIR]}"
output="${2:-pr-report}"

dvc pull --allow-missing   # what the remote has of this revision's data and models
dvc repro                  # re-runs only what the change touched
textclf report --base "$base" --output "$output" > /dev/null
echo "report written to $output/report.md"
