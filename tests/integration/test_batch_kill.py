"""Batch scoring survives a real kill: the process dies mid-file, the re-run completes."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.integration


def test_batch_process_killed_mid_file_then_rerun(reproduced_repo: Path, tmp_path: Path) -> None:
    """SIGKILL a real `textclf batch-predict` part-way through a file: no partial output and no
    manifest entry; the re-run scores it once, whole."""
    incoming, out = tmp_path / "in", tmp_path / "out"
    incoming.mkdir()
    test = pd.read_parquet(reproduced_repo / "data/prepared/test.parquet")[["id", "text"]]
    pd.concat([test.assign(id=test["id"] + f"#{i}") for i in range(30)]).to_parquet(
        incoming / "big.parquet"
    )  # 30,000 rows: tens of seconds to score
    command = [
        "textclf",
        "batch-predict",
        "--input",
        str(incoming),
        "--output",
        str(out),
        "--model",
        str(reproduced_repo / "models/model.joblib"),
        "--params",
        str(reproduced_repo / "params.yaml"),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(8)  # model loaded, first chunks scored, output not yet published
    assert process.poll() is None, "finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    # No output and no manifest: at most the hidden temporary file it was writing.
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert all(name.startswith(".big.parquet.parquet.") for name in left), left

    rerun = subprocess.run(command, check=True, capture_output=True, text=True)
    assert all(
        f"removed {out / name}, left by a run that was killed" in rerun.stderr for name in left
    )
    assert sorted(p.name for p in out.iterdir()) == ["_manifest.json", "big.parquet.parquet"]
    scored = pd.read_parquet(out / "big.parquet.parquet")
    assert len(scored) == 30_000 and scored["id"].is_unique
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["inputs"]["big.parquet"]["rows"] == 30_000
