#!/usr/bin/env bash
# Fetch the data the flows read, then create the process work pool (if missing) and every
# deployment of prefect.yaml on the Prefect server at $PREFECT_API_URL, once it answers. `make deploy` and the Prefect host's
# textclf-deploy.service run it; running it again updates the deployments in place.
#   scripts/deploy-flows.sh [WORK_POOL]
set -euo pipefail
cd "$(dirname "$0")/.."
pool="${1:-ec2-process}"
: "${PREFECT_API_URL:?set PREFECT_API_URL (load .stack/env)}"

for _ in $(seq 60); do
  if python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)" \
      "$PREFECT_API_URL/health" 2>/dev/null; then
    break
  fi
  sleep 2
done
# The held-out split that monitoring compares batches with, for this checkout's version.
dvc pull --allow-missing data/prepared/test.parquet
# The Spark job's packed environment for this checkout (batch.engine emr-serverless). The hosts
# run Amazon Linux 2023 with /usr/bin/python3.11, as EMR Serverless's image does, so it is built
# here; an environment already uploaded for this code and lock is kept.
if [ -n "${TEXTCLF_EMR_STAGING:-}" ]; then
  python scripts/build-emr-env.py --upload --skip-existing \
    --python "$(command -v python3.11 || command -v python3)"
fi
prefect work-pool inspect "$pool" >/dev/null 2>&1 || prefect work-pool create "$pool" --type process
prefect --no-prompt deploy --all
