"""The online service on a real uvicorn server on loopback: every endpoint and error path, its
own OpenAPI schema fuzzed by schemathesis, the page in a real headless chromium, and the
champion alias moved on a real MLflow server under steady load."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import REPO_ROOT, free_port
from tests.infra import units
from tests.integration.conftest import copy_repo
from textclf.core.health import wait_until_healthy
from textclf.registry.models import load_model, log_pipeline

pytestmark = pytest.mark.integration
LIMITS = {"max_texts": 5, "max_text_chars": 2000, "max_body_bytes": 20000, "poll_seconds": 1}
TEXTS = ["A wonderful film, I loved it.", "A dull, boring mess.", "It was a film."]


@contextlib.contextmanager
def service(repo: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`textclf serve` with small limits (params.serve) on a free port; yields its base URL."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["serve"].update(LIMITS)
    (repo / "serve-params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    port = free_port()
    log = (repo / f"serve-{port}.log").open("w")
    process = subprocess.Popen(
        ["textclf", "serve", "--params", "serve-params.yaml", "--port", str(port), *args],
        cwd=repo,
        env={**os.environ, **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(f"{url}/health", 60, still_starting=lambda: process.poll() is None)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def served(reproduced_repo: Path, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    repo = copy_repo(reproduced_repo, tmp_path_factory.mktemp("serve") / "repo")
    with service(repo, "--model", "models/model.skops", "--workers", "2") as url:
        yield url, repo


def test_predict_gives_what_batch_scoring_gives(served) -> None:
    url, repo = served
    model = load_model(repo / "models/model.skops")
    expected = model.score(TEXTS, 0.6).records()
    answer = httpx.post(f"{url}/predict", json={"texts": TEXTS}).json()
    assert answer["model"] == {"name": "model", "version": "local"}
    for got, want in zip(answer["predictions"], expected, strict=True):
        assert got["label"] == want["label"]
        assert got["confidence"] == pytest.approx(want["confidence"], abs=1e-12)
        for label, p in want["probabilities"].items():
            assert got["probabilities"][label] == pytest.approx(p, abs=1e-12)
    single = httpx.post(f"{url}/predict", json={"text": TEXTS[0]}).json()
    assert single["predictions"] == answer["predictions"][:1]
    labels = {p["label"] for p in answer["predictions"]}
    assert labels <= {"pos", "neg", "uncertain"}


def test_health_ready_model_and_docs(served) -> None:
    url, repo = served
    assert httpx.get(f"{url}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{url}/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    described = httpx.get(f"{url}/model").json()
    from textclf.core.files import file_digest

    assert described["model_md5"] == file_digest(repo / "models/model.skops")
    assert "/predict" in httpx.get(f"{url}/openapi.json").json()["paths"]
    assert "swagger" in httpx.get(f"{url}/docs").text.lower()


@pytest.mark.parametrize(
    ("body", "status", "message", "limit"),
    [
        ({"texts": ["x"] * 6}, 422, "6 texts in one request; the limit is 5", "serve.max_texts"),
        ({"text": "y" * 2001}, 422, "text 0 has 2001 characters; the limit is 2000",
         "serve.max_text_chars"),
        ({"texts": []}, 422, "`texts` is empty", None),
        ({"text": "a", "texts": ["b"]}, 422, "give either `text`", None),
        ({"txt": "a"}, 422, "give either `text`", None),
        ({"texts": "not a list"}, 422, "invalid request: body.texts", None),
    ],
)  # fmt: skip
def test_bad_requests_get_a_4xx_that_names_the_problem(served, body, status, message, limit):
    url, _ = served
    response = httpx.post(f"{url}/predict", json=body)
    assert response.status_code == status
    answer = response.json()
    assert message in answer["error"]
    assert answer.get("limit") == limit
    assert "Traceback" not in response.text


def test_bodies_over_the_limit_are_refused_declared_or_chunked(served) -> None:
    url, _ = served
    big = json.dumps({"text": "z" * 30000}).encode()
    declared = httpx.post(
        f"{url}/predict", content=big, headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413
    assert declared.json()["limit"] == "serve.max_body_bytes"

    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    chunks = (big[i : i + 4096] for i in range(0, len(big), 4096))
    connection.request(
        "POST", "/predict", body=chunks, headers={"content-type": "application/json"},
        encode_chunked=True,
    )  # fmt: skip
    response = connection.getresponse()
    assert response.status == 413
    assert json.loads(response.read())["error"] == "the request body is over 20000 bytes"
    bad_json = httpx.post(
        f"{url}/predict", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 422 and "JSON" in bad_json.json()["error"]
    assert httpx.get(f"{url}/nowhere").json() == {"error": "Not Found"}


def test_metrics_count_requests_latency_texts_and_the_version(served) -> None:
    url, _ = served
    for _ in range(4):  # two workers: the counts must add up across both
        httpx.post(f"{url}/predict", json={"texts": TEXTS})
    text = httpx.get(f"{url}/metrics").text
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    ok = 'textclf_requests_total{endpoint="/predict",method="POST",status="200"}'
    assert samples[ok] >= 4
    assert samples['textclf_texts_scored_total{model_version="local"}'] >= 12
    assert samples['textclf_request_seconds_count{endpoint="/predict"}'] >= 4
    assert samples['textclf_model_info{name="model",version="local"}'] == 1


def test_the_openapi_schema_fuzzed_finds_no_server_error(served, tmp_path) -> None:
    url, _ = served
    result = subprocess.run(
        [
            "schemathesis", "run", f"{url}/openapi.json",
            "--checks", "not_a_server_error",
            "--max-examples", "60",
            "--phases", "examples,coverage,fuzzing",
            "--suppress-health-check", "all",
        ],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,  # it writes .schemathesis/
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "/predict" in result.stdout


@pytest.mark.skipif(
    not shutil.which("chromium") and not os.environ.get("TEXTCLF_REQUIRE_BROWSER"),
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)
def test_the_page_classifies_in_a_real_browser(served) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    url, _ = served
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ):  # fmt: skip
        options.add_argument(flag)
    browser = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    try:
        browser.get(f"{url}/")
        browser.find_element(By.ID, "text").send_keys("A wonderful film, I loved every minute.")
        browser.find_element(By.ID, "submit").click()
        WebDriverWait(browser, 10).until(shown.visibility_of_element_located((By.ID, "answer")))
        assert browser.find_element(By.ID, "label").text == "pos"
        rows = browser.find_elements(By.CSS_SELECTOR, "#probabilities .row")
        assert sorted(row.get_attribute("data-label") for row in rows) == ["neg", "pos"]
        widths = [
            row.find_element(By.CLASS_NAME, "bar").value_of_css_property("width") for row in rows
        ]
        assert all(width.endswith("px") for width in widths)
        assert browser.find_element(By.ID, "model").text == "Answered by model version local"
        # an error from the service is shown, not swallowed
        text = browser.find_element(By.ID, "text")
        text.clear()
        text.send_keys("y" * 2001)
        browser.find_element(By.ID, "submit").click()
        WebDriverWait(browser, 10).until(shown.visibility_of_element_located((By.ID, "error")))
        assert "the limit is 2000" in browser.find_element(By.ID, "error").text
    finally:
        browser.quit()


def test_a_missing_model_file_is_named_before_the_server_starts(reproduced_repo) -> None:
    result = subprocess.run(
        ["textclf", "serve", "--model", "models/nope.joblib", "--port", str(free_port())],
        cwd=reproduced_repo, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "models/nope.joblib: no such model file" in result.stderr


class SteadyLoad:
    """Requests one after another from a few threads; records every answer's version and every
    failure (a non-200 or a refused connection)."""

    def __init__(self, url: str, threads: int = 4) -> None:
        self.url, self.versions, self.failures = url, [], []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                try:
                    response = client.post(f"{self.url}/predict", json={"text": TEXTS[0]})
                except httpx.HTTPError as error:
                    self.failures.append(repr(error))
                    continue
                if response.status_code != 200:
                    self.failures.append(f"{response.status_code}: {response.text}")
                else:
                    self.versions.append(response.json()["model"]["version"])

    def __enter__(self) -> SteadyLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def test_the_champion_moves_under_load_with_no_failed_request(
    reproduced_repo: Path, tmp_path: Path, monkeypatch
) -> None:
    import mlflow

    from textclf.infra import stack
    from textclf.ml.persist import load_model_file
    from textclf.registry import versions as registry

    s3 = stack.StackConfig(state_dir=tmp_path / "s3", s3_port=free_port(), services=("s3",))
    tracking = stack.StackConfig(
        state_dir=tmp_path / "mlflow", s3_port=s3.s3_port, mlflow_port=free_port(),
        services=("mlflow",),
    )  # fmt: skip
    stack.up(s3, root=s3.state_dir)
    stack.up(tracking, root=tracking.state_dir)
    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    env = stack.settings(tracking)
    try:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        mlflow.set_tracking_uri(tracking.mlflow_url)
        name = "textclf-imdb"
        model = load_model_file(repo / "models/model.skops").pipeline
        for version in ("1", "2"):
            with mlflow.start_run() as run:
                log_pipeline(model, ["a probe"], {})
            record = {"run_id": run.info.run_id, "model_uri": f"runs:/{run.info.run_id}/model"}
            tags = {"git_commit": f"commit{version}"}
            assert registry.register(record, name, tags, check=load_model)["version"] == version
        client = mlflow.MlflowClient(tracking.mlflow_url)
        client.set_registered_model_alias(name, "champion", "1")

        with service(repo, "--model", "champion", "--workers", "2", env=env) as url:
            wait_until_healthy(f"{url}/ready", 60)
            assert httpx.get(f"{url}/model").json()["git_commit"] == "commit1"
            with SteadyLoad(url) as load:
                time.sleep(2)
                client.set_registered_model_alias(name, "champion", "2")
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and load.versions[-20:].count("2") < 20:
                    time.sleep(0.5)
            assert load.failures == []
            assert load.versions[0] == "1" and set(load.versions[-20:]) == {"2"}
            switch = load.versions.index("2")
            assert len(load.versions) > switch + 20 and switch > 5
            assert httpx.get(f"{url}/model").json()["version"] == "2"

            # the registry goes away: the loaded model keeps answering, /ready says so
            stack.down(tracking, root=tracking.state_dir)
            time.sleep(3)
            assert httpx.post(f"{url}/predict", json={"text": "fine"}).status_code == 200
            status = httpx.get(f"{url}/ready").json()
            assert status["ready"] is True and status["registry"]["reachable"] is False
            assert "MLflow" in status["registry"]["problem"]
            log = (repo / f"serve-{url.rsplit(':', 1)[1]}.log").read_text()
            assert "still serving version 2" in log
    finally:
        stack.down(tracking, root=tracking.state_dir)
        stack.down(s3, root=s3.state_dir)


def answer_once_every_worker_is_ready(url: str, text: str, timeout: float = 60) -> dict:
    """/predict's first 200 answer. /ready said ready from one worker; each of the service's
    workers polls the registry on its own, and one still waiting answers 503 (the answer a load
    balancer retries), so a request that lands on it is asked again."""
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.post(f"{url}/predict", json={"text": text})
        if answer.status_code != 503 or time.monotonic() > deadline:
            assert answer.status_code == 200, answer.text
            return answer.json()
        time.sleep(0.5)


def test_the_local_stack_serves_the_champion_of_its_registry(reproduced_repo, tmp_path) -> None:
    from textclf.infra import stack

    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["serve"]["poll_seconds"] = 1
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "commit", "-qam", "poll every second"], cwd=repo, check=True)
    config = stack.StackConfig(
        state_dir=repo / ".stack", s3_port=free_port(), mlflow_port=free_port(),
        serve_port=free_port(), services=("s3", "mlflow", "serve"),
    )  # fmt: skip
    env = stack.up(config, root=repo)
    try:
        assert env["TEXTCLF_SERVE_URL"] == config.serve_url
        waiting = httpx.get(f"{config.serve_url}/ready")
        assert waiting.status_code == 503
        assert "no 'champion' version of textclf-imdb" in waiting.json()["registry"]["problem"]
        assert httpx.post(f"{config.serve_url}/predict", json={"text": "x"}).status_code == 503

        def run(*args: str) -> None:
            subprocess.run(
                args, cwd=repo, env={**os.environ, **env}, check=True, capture_output=True
            )

        run("dvc", "repro", "--force", "--single-item", "track")
        run("textclf", "register")
        run("textclf", "promote")
        wait_until_healthy(f"{config.serve_url}/ready", 90)
        answer = answer_once_every_worker_is_ready(config.serve_url, TEXTS[0])
        assert answer["model"] == {"name": "textclf-imdb", "version": "1"}

        # The AWS host's unit, rendered as Terraform renders it, run on this checkout: the
        # same command and settings file serve the same champion.
        (repo / ".venv").symlink_to(REPO_ROOT / ".venv")
        port = free_port()
        unit = units.service(
            "serving", "textclf-serve.service",
            service_user="textclf", textclf_home=str(repo), port=port, workers=1,
        )  # fmt: skip
        assert unit.argv[:2] == [f"{repo}/.venv/bin/textclf", "serve"]
        process = subprocess.Popen(
            unit.argv, cwd=unit.cwd, env={**os.environ, **unit.env},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_until_healthy(f"http://127.0.0.1:{port}/ready", 60)
            answer = httpx.post(f"http://127.0.0.1:{port}/predict", json={"text": "ok"}).json()
            assert answer["model"] == {"name": "textclf-imdb", "version": "1"}
        finally:
            process.terminate()
            process.wait(timeout=30)
    finally:
        stack.down(config, root=repo)
