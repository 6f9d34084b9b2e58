"""Benchmark the pipeline on the full IMDB data (25k train / 25k test) and print the numbers.

Clones the committed repository into a temporary folder, points dataset.source at the full
archive, then times each DVC stage (wall seconds and peak RSS), a no-change `dvc repro`, the
trained pipeline's prediction throughput, and `dvc push` / `dvc pull` of the outputs to a local
S3 server (moto, started on a free loopback port).

    uv run python bench/full_imdb.py [--archive ../shared/datasets/imdb/aclImdb_v1.tar.gz]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from peak_memory import PeakMemory
from results import recorded  # bench/results.py, beside this script

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ARCHIVE = REPO.parent / "shared/datasets/imdb/aclImdb_v1.tar.gz"
STAGES = ["ingest", "validate", "prepare", "train", "evaluate", "behaviour", "card", "track"]
# Variants of the defaults, trained and evaluated after the main run: what each choice of the
# defaults buys (they were chosen by cross-validation on train; these are test numbers).
VARIANTS = {
    "the previous defaults (binary counts, C 0.1)": {
        "train": {
            "vectorizer": {
                "kind": "count",
                "ngram_range": [1, 3],
                "binary": True,
                "min_df": 2,
                "token_pattern": r"(?u)\b\w+\b|[!?]",
            },
            "nb_alpha": 1.0,
            "nb_interpolation": None,
            "classifier": {"C": 0.1},
            "refit_on_all": False,
            "word_vectors": None,
        }
    },
    "no word vectors (n-grams only: the defaults before)": {"train": {"word_vectors": None}},
    "no refit (the shipped fit on 90% of train)": {"train": {"refit_on_all": False}},
    "no NB interpolation": {"train": {"nb_interpolation": None}},
    "no calibration": {"train": {"calibration": "none"}},
    "sigmoid calibration": {"train": {"calibration": "sigmoid"}},
}


def timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MiB) of the command's whole process tree (DVC,
    the stage, and any scoring workers), sampled twice a second."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    memory = PeakMemory(process.pid)
    output, errors = process.communicate()
    seconds = time.perf_counter() - started
    peak = memory.stop()["peak_mib_tree"]
    if process.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{output.decode()}\n{errors.decode()}")
    return seconds, peak


def push_pull(repo: Path) -> dict[str, float]:
    """Seconds and MB/s of `dvc push`, a no-change push, and `dvc pull` into an empty cache."""
    import os
    import shutil

    from loopback import free_port  # bench/loopback.py, beside this script
    from textclf.infra import stack

    config = stack.StackConfig(state_dir=repo / ".stack", s3_port=free_port(), services=("s3",))
    stack.up(config, root=repo)
    env = {**os.environ, **stack.settings(config)}
    try:
        cache = repo / ".dvc" / "cache"
        megabytes = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file()) / 1e6

        def run(*args: str) -> float:
            started = time.perf_counter()
            subprocess.run(["dvc", *args], cwd=repo, env=env, check=True, capture_output=True)
            return time.perf_counter() - started

        push = run("push")
        second_push = run("push")
        shutil.rmtree(cache)
        for folder in ("data/interim", "data/prepared", "models"):
            for path in (repo / folder).iterdir():
                if path.name != ".gitignore":
                    path.unlink()
        pull = run("pull")
    finally:
        stack.down(config, root=repo)
    return {"megabytes": megabytes, "push": push, "second_push": second_push, "pull": pull}


def throughput(repo: Path) -> tuple[float, int]:
    import pandas as pd

    from textclf.ml.persist import load_model_file

    model = load_model_file(repo / "models/model.skops").pipeline
    texts = pd.read_parquet(repo / "data/prepared/test.parquet")["text"].tolist()
    started = time.perf_counter()
    model.predict_proba(texts)
    return len(texts) / (time.perf_counter() - started), len(texts)


def variant_metrics(repo: Path, changes: dict) -> dict:
    """Metrics of the pipeline with `changes` to params.yaml (restored afterwards)."""
    params_path = repo / "params.yaml"
    original = params_path.read_text()
    params = yaml.safe_load(original)
    for section, values in changes.items():
        for key, value in values.items():
            if isinstance(value, dict) and key != "vectorizer":
                params[section][key].update(value)
            else:
                params[section][key] = value
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        timed(["dvc", "repro", "evaluate"], repo)
        metrics = json.loads((repo / "reports/metrics.json").read_text())
        metrics["validation"] = json.loads((repo / "reports/train.json").read_text())["validation"]
        return metrics
    finally:
        params_path.write_text(original)


def quality_line(name: str, metrics: dict) -> str:
    abstention = metrics["abstention"]
    return (
        f"{name:<48} validation {metrics['validation']['accuracy']:.4f}  "
        f"accuracy {metrics['accuracy']:.4f}  log-loss {metrics['log_loss']:.4f}  "
        f"ECE {metrics['ece']:.4f}  at 90% coverage {abstention['accuracy_at_90_coverage']:.4f}  "
        f"answered {abstention['coverage']:.1%} -> {abstention['accuracy_answered']:.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-imdb-") as tmp:
        repo = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "-q", str(REPO), str(repo)], check=True)
        params_path = repo / "params.yaml"
        params = yaml.safe_load(params_path.read_text())
        params["dataset"].update(name="imdb-full", source=str(args.archive.resolve()))
        params_path.write_text(yaml.safe_dump(params, sort_keys=False))

        rows = []
        for stage in STAGES:
            seconds, peak = timed(["dvc", "repro", "--single-item", stage], repo)
            rows.append((stage, seconds, peak))
        total = sum(seconds for _, seconds, _ in rows)
        noop_seconds, _ = timed(["dvc", "repro"], repo)
        metrics = json.loads((repo / "reports/metrics.json").read_text())
        train_stats = json.loads((repo / "reports/train.json").read_text())
        metrics["validation"] = train_stats["validation"]
        behaviour = json.loads((repo / "reports/behaviour.json").read_text())
        per_second, n_texts = throughput(repo)
        remote = push_pull(repo)
        variants = {name: variant_metrics(repo, changes) for name, changes in VARIANTS.items()}

    print(f"{'stage':<10} {'seconds':>8} {'peak MiB':>9}")
    for stage, seconds, peak in rows:
        print(f"{stage:<10} {seconds:8.1f} {peak:9.0f}")
    print(f"{'total':<10} {total:8.1f} {max(peak for *_, peak in rows):9.0f}")
    print(f"no-change dvc repro: {noop_seconds:.2f} s")
    print(f"train rows: {train_stats['train_rows']}, features: {train_stats['n_features']}")
    print(
        f"test accuracy: {metrics['accuracy']:.4f}  macro-F1: {metrics['macro_f1']:.4f}  "
        f"ROC-AUC: {metrics['roc_auc']:.4f}  log-loss: {metrics['log_loss']:.4f}  "
        f"(n={metrics['test_rows']})"
    )
    interval = metrics["intervals"]["accuracy"]
    print(f"accuracy 95% interval: [{interval['low']:.4f}, {interval['high']:.4f}]")
    print(quality_line("defaults", metrics))
    for name, values in variants.items():
        print(quality_line(name, values))
    print("behaviour tests (failure rate / limit):")
    for name, test in behaviour["tests"].items():
        verdict = "pass" if test["passed"] else ("FAIL" if test["gate"] else "fails (not gated)")
        print(
            f"  {name:<28} {test['type']:<4} {test['failure_rate']:6.1%} / "
            f"{test['max_failure_rate']:.0%} {verdict}"
        )
    print(f"prediction throughput: {per_second:,.0f} reviews/s ({n_texts} reviews, one process)")
    size = remote["megabytes"]
    print(
        f"dvc push {size:.0f} MB to local S3: {remote['push']:.1f} s "
        f"({size / remote['push']:.0f} MB/s); second push: {remote['second_push']:.2f} s; "
        f"dvc pull into an empty cache: {remote['pull']:.1f} s ({size / remote['pull']:.0f} MB/s)"
    )


if __name__ == "__main__":
    with recorded("full_imdb"):
        main()
