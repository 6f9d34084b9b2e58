"""What EMR Serverless does with a job run, played on this machine against moto's server.

moto answers the emr-serverless API (applications, job runs) but runs nothing: a job run is
SUCCESS at once. `FakeEmr` takes the execution side: it walks each new job run through EMR's
states (SUBMITTED, PENDING, SCHEDULED, RUNNING, then SUCCESS or FAILED, exit code and all) and,
when asked to run it, runs what was submitted: the entry point and the packed environment
downloaded from S3, with that environment's Python as the driver's and the workers' (pyspark
from its own zips on PYTHONPATH, as spark-submit sets it up on EMR). Spark's S3 connector cannot
be fetched here, so Spark reads and writes local mirrors of the job's S3 prefixes, which are
copied back afterwards (paths in the JSON the job wrote translated back); everything the job's
driver does through the project's storage layer (the model, the result) goes to S3 itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textclf.core import storage

ACCOUNT, REGION = "123456789012", "us-east-1"
FAILED_DETAILS = (
    "Job failed, please check complete logs in configured logging destination. ExitCode: {code}."
)


def backend() -> Any:
    from moto.emrserverless.models import emrserverless_backends

    return emrserverless_backends[ACCOUNT][REGION]


class FakeEmr:
    """Plays each new job run of `application_id` with `scenario(self, job_run)`."""

    def __init__(self, application_id: str, work: Path, scenario: Callable[..., None]) -> None:
        self.application_id = application_id
        self.work = work
        self.scenario = scenario
        # job runs of earlier tests are theirs, not this harness's to play
        self.seen = [job_run.id for job_run in backend().job_runs.get(application_id, [])]
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> FakeEmr:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=300)
        if self.errors:
            raise self.errors[0]

    def _watch(self) -> None:
        while not self._stop.is_set():
            for job_run in list(backend().job_runs.get(self.application_id, [])):
                if job_run.id not in self.seen:
                    self.seen.append(job_run.id)
                    threading.Thread(target=self._play, args=(job_run,), daemon=True).start()
            time.sleep(0.1)

    def _play(self, job_run: Any) -> None:
        try:
            self.scenario(self, job_run)
        except BaseException as error:  # surfaced by __exit__
            job_run.state, job_run.state_details = "FAILED", f"harness: {error}"
            self.errors.append(error)

    # steps a scenario is made of
    @staticmethod
    def walk(job_run: Any, *states: str, pause: float = 0.3) -> None:
        for state in states:
            if job_run.state == "CANCELLED":
                return
            job_run.state = state
            time.sleep(pause)

    def run_job(self, job_run: Any) -> int:
        """Run the submitted job: entry point, arguments and environment as EMR would."""
        driver = job_run.job_driver["sparkSubmit"]
        folder = self.work / job_run.id
        folder.mkdir(parents=True)
        entry = folder / "spark_job.py"
        storage.download(driver["entryPoint"], entry)
        conf = dict(
            part.split("=", 1) for part in driver["sparkSubmitParameters"].split("--conf ")[1:]
        )
        conf = {key: value.strip() for key, value in conf.items()}
        archive_location, alias = conf["spark.archives"].split("#")
        archive = folder / "environment.tar.gz"
        storage.download(archive_location, archive)
        with tarfile.open(archive) as tar:
            tar.extractall(folder / alias, filter="fully_trusted")
        python = str(folder / conf["spark.executorEnv.PYSPARK_PYTHON"])

        arguments = list(driver["entryPointArguments"])
        mirrors: dict[str, tuple[str, Path]] = {}
        for flag in ("--input", "--output"):
            at = arguments.index(flag) + 1
            location, local = arguments[at], folder / flag.strip("-")
            if storage.exists(location):  # a missing one stays missing, for the job to say so
                for path in storage.find_files(location):
                    target = local / storage.relative(path, location)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    storage.download(path, target)
            mirrors[flag] = (location, local)
            arguments[at] = str(local)
        result_at = arguments.index("--result") + 1
        result_location, arguments[result_at] = arguments[result_at], str(folder / "result.json")
        self.mirrors = list(mirrors.values())

        import pyspark  # the Spark extra: only `make test` installs it, not `make`

        spark_home = Path(pyspark.__file__).parent
        zips = sorted(str(path) for path in (spark_home / "python" / "lib").glob("*.zip"))
        env = {
            **os.environ,
            "SPARK_HOME": str(spark_home),
            "PYTHONPATH": os.pathsep.join(zips),
            "PYSPARK_PYTHON": python,
            "PYSPARK_DRIVER_PYTHON": python,
            "SPARK_LOCAL_IP": "127.0.0.1",
        }
        completed = subprocess.run(
            [python, str(entry), *arguments, "--master", "local[2]"],
            env=env,
            capture_output=True,
            text=True,
            cwd=folder,
        )
        (folder / "driver.log").write_text(completed.stdout + completed.stderr)
        output_location, output = mirrors["--output"]
        for path in sorted(output.rglob("*")):
            if path.is_file() and not path.name.endswith(".crc"):
                target = storage.join(output_location, path.relative_to(output).as_posix())
                self._upload(path, target)
        if (folder / "result.json").exists():
            self._upload(folder / "result.json", result_location)
        return completed.returncode

    def _upload(self, path: Path, target: str) -> None:
        """Copy a file back to S3; in JSON (manifest, result) the mirrors' paths become the
        S3 locations they stand for."""
        if path.suffix == ".json":
            text = path.read_text()
            for location, local in self.mirrors:
                text = text.replace(str(local), location.rstrip("/"))
            json.loads(text)
            path.write_text(text)
        storage.upload(path, target)


def runs(harness: FakeEmr, job_run: Any) -> None:
    """An EMR job run that runs the job: SUCCESS on exit code 0, FAILED otherwise."""
    harness.walk(job_run, "SUBMITTED", "PENDING", "SCHEDULED", "RUNNING")
    code = harness.run_job(job_run)
    if code == 0:
        job_run.state = "SUCCESS"
    else:
        job_run.state_details = FAILED_DETAILS.format(code=code)
        job_run.state = "FAILED"


def hangs(harness: FakeEmr, job_run: Any) -> None:
    """RUNNING until someone cancels it (moto's cancel_job_run sets CANCELLED)."""
    harness.walk(job_run, "SUBMITTED", "PENDING", "RUNNING")


def succeeds_without_running(harness: FakeEmr, job_run: Any) -> None:
    """What moto itself does: SUCCESS, and nothing ran."""
    harness.walk(job_run, "RUNNING", pause=1.0)
    job_run.state = "SUCCESS"
