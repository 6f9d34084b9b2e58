"""Time from a labelled file landing to a registered challenger, on the full IMDB data.

Sets up what production has, on loopback: a clone of this repository trained on the full IMDB
archive (main), its outputs pushed to a local S3 server (moto), an MLflow server, a bare git
repository as the remote, and a worker checkout. Then a file of 5,000 newly labelled reviews
(the archive's unlabelled reviews, labelled by the trained model) lands in the labelled input,
and `run_retrain` runs; the seconds of each of its steps are printed.

    uv run python bench/retrain_loop.py [--archive ../shared/datasets/imdb/aclImdb_v1.tar.gz]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from loopback import free_port  # bench/loopback.py, beside this script
from results import recorded  # bench/results.py, beside this script

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ARCHIVE = REPO.parent / "shared/datasets/imdb/aclImdb_v1.tar.gz"


def sh(*command: str, cwd: Path) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("--rows", type=int, default=5000)
    args = parser.parse_args()
    if not args.archive.exists():
        sys.exit(f"{args.archive} not found (see ../shared/datasets/README.md)")
    from textclf.infra import stack
    from textclf.registry.models import load_model
    from textclf.retrain.loop import run_retrain

    with tempfile.TemporaryDirectory(prefix="bench-retrain-") as tmp:
        tmp_path = Path(tmp)
        config = stack.StackConfig(
            state_dir=tmp_path / "stack",
            s3_port=free_port(),
            mlflow_port=free_port(),
            services=("s3", "mlflow"),
        )
        stack.up(config, root=config.state_dir)
        try:
            os.environ.update(stack.settings(config))
            repo = tmp_path / "repo"
            sh("git", "clone", "-q", str(REPO), str(repo), cwd=tmp_path)
            params = yaml.safe_load((repo / "params.yaml").read_text())
            params["dataset"].update(source=str(args.archive.resolve()), name="imdb")
            (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
            stack.write_settings(config, repo)
            started = time.perf_counter()
            sh("dvc", "repro", cwd=repo)
            print(f"main: full-IMDB dvc repro {time.perf_counter() - started:.1f} s")
            sh("git", "add", "-A", cwd=repo)
            sh("git", "commit", "-qm", "full IMDB", cwd=repo)
            sh("dvc", "push", cwd=repo)
            remote = tmp_path / "remote.git"
            sh("git", "clone", "-q", "--bare", str(repo), str(remote), cwd=tmp_path)
            worker = tmp_path / "worker"
            sh("git", "clone", "-q", str(remote), str(worker), cwd=tmp_path)
            stack.write_settings(config, worker)
            sh("dvc", "pull", cwd=worker)  # a worker that has run before has a warm cache

            unlabelled = pd.read_parquet(repo / "data/interim/unlabelled.parquet")
            new = unlabelled[["id", "text"]].sample(args.rows, random_state=0)
            model = load_model(repo / "models/model.skops")
            new["label"] = model.score(new["text"]).labels
            new.to_parquet(tmp_path / "new.parquet")
            stack.client(config).upload_file(
                str(tmp_path / "new.parquet"), config.batch_bucket, "labelled/new.parquet"
            )
            landed = time.perf_counter()
            summary = run_retrain(worker, "scheduled")
            total = time.perf_counter() - landed
        finally:
            stack.down(config, root=config.state_dir)
            shutil.rmtree(tmp_path / "repo", ignore_errors=True)
    print(f"labelled rows folded in: {summary['labelled']['rows']:,} of {args.rows:,}")
    print(f"registered: version {summary['register']['version']} from {summary['branch']}")
    print(f"file landed -> registered challenger (and promotion, report): {total:.1f} s")
    for step in summary["steps"]:
        print(f"  {step['step']:<16} {step['seconds']:>7.1f} s")


if __name__ == "__main__":
    with recorded("retrain_loop"):
        main()
