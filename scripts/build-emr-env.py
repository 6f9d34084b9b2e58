"""Build the Python environment the Spark batch job runs in on EMR Serverless, and upload it.

    uv run python scripts/build-emr-env.py            # dist/textclf-<key>.tar.gz
    uv run python scripts/build-emr-env.py --upload   # and to $TEXTCLF_EMR_STAGING/environments

The archive is a virtual environment (EMR Serverless's documented route for Python packages:
`spark.archives=<archive>#environment`, then `./environment/bin/python` as the driver's and
executors' Python; textclf.batch.emr sets both). It holds this project (a wheel of this checkout)
and the packages the job needs at the versions uv.lock pins: `uv export` of the locked tree with the
service-side packages pruned (they and what only they need), and without pyspark, which EMR
brings with Spark. `<key>` (emr.environment_key) hashes uv.lock and the package's code, so the
flow finds the environment that matches the code it runs.

The environment's `bin/python` links to the interpreter that built it. Build it where that path
is the EMR image's (Amazon Linux 2023, Python 3.11 at /usr/bin/python3.11), as the EMR docs do:

    docker run --rm -v "$PWD":/repo -w /repo --platform linux/amd64 amazonlinux:2023 \
      sh -c 'dnf -y install python3.11 python3.11-pip && python3.11 -m pip install uv && \
             uv run --python /usr/bin/python3.11 python scripts/build-emr-env.py'
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from textclf.batch.emr import EmrSettings, environment_key  # noqa: E402

# Not needed by the job: the services (tracking, orchestration, serving, monitoring, DVC) and
# the command line. EMR's Spark provides pyspark.
PRUNED = [
    "dvc",
    "evidently",
    "fastapi",
    "matplotlib",
    "mlflow",
    "prefect",
    "prometheus-client",
    "psycopg2-binary",
    "sqlalchemy",
    "typer",
    "uvicorn",
    "pyspark",
]


def uv(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["uv", *args], check=True, cwd=ROOT, **kwargs)


def requirements() -> str:
    """uv.lock's pins for everything but the pruned packages (markers kept: the installer
    evaluates them for the environment's Python)."""
    prune = [arg for name in PRUNED for arg in ("--prune", name)]
    exported = uv(
        "export",
        "--frozen",
        "--no-dev",
        "--no-hashes",
        "--no-emit-project",
        "--no-header",
        "--no-annotate",
        *prune,
        capture_output=True,
        text=True,
    )
    return exported.stdout


def build(output: Path, python: str) -> Path:
    archive = output / f"textclf-{environment_key(ROOT)}.tar.gz"
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="textclf-emr-env-") as work:
        venv, pins = Path(work) / "environment", Path(work) / "requirements.txt"
        pins.write_text(requirements())
        uv("venv", "--quiet", "--relocatable", "--python", python, str(venv))
        target = ("--python", str(venv / "bin" / "python"))
        uv("pip", "install", "--quiet", *target, "--no-deps", "-r", str(pins))
        uv("pip", "install", "--quiet", *target, "--no-deps", "--reinstall-package", "textclf", ".")
        # the job's imports resolve inside the environment alone (pyspark aside)
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import textclf.batch.spark_job"],
            check=True,
            env={**os.environ, "PYTHONPATH": ""},
        )
        partial = archive.with_suffix(".partial")
        with tarfile.open(partial, "w:gz", compresslevel=1) as tar:  # speed over size
            for path in sorted(venv.rglob("*")):
                if "__pycache__" not in path.parts:
                    tar.add(path, arcname=path.relative_to(venv), recursive=False)
        partial.replace(archive)
    return archive


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "dist")
    parser.add_argument("--python", default=sys.executable, help="interpreter to build with")
    parser.add_argument("--upload", action="store_true", help="to $TEXTCLF_EMR_STAGING")
    parser.add_argument(
        "--skip-existing", action="store_true", help="with --upload: keep one already there"
    )
    args = parser.parse_args()
    if args.upload and args.skip_existing:
        from textclf.core import storage

        target = EmrSettings.from_env().environment(environment_key(ROOT))
        if storage.exists(target):
            print(f"{target} is already uploaded")
            return 0
    archive = build(args.output, args.python)
    size = archive.stat().st_size / 2**20
    print(f"built {archive} ({size:.0f} MiB)")
    if args.upload:
        from textclf.core import storage

        target = EmrSettings.from_env().environment(environment_key(ROOT))
        storage.upload(archive, target)
        print(f"uploaded to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
