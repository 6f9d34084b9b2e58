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
    copies = 60  # 60,000 rows in 12 chunks: the kill lands after the first, well before the last
    pd.concat([test.assign(id=test["id"] + f"#{i}") for i in range(copies)]).to_parquet(
        incoming / "big.parquet"
    )
    command = [
        "textclf",
        "batch-predict",
        "--input",
        str(incoming),
        "--output",
        str(out),
        "--model",
        str(reproduced_repo / "models/model.skops"),
        "--params",
        str(reproduced_repo / "params.yaml"),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Kill once the first chunk is in the hidden temporary file (not after a fixed sleep: how
    # long loading and scoring take depends on the machine).
    deadline = time.monotonic() + 120
    while not _writing(out) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "finished before it could be killed"
    assert _writing(out), "no temporary output appeared within 120 s"
    process.send_signal(signal.SIGKILL)
    process.wait()
    # No output and no manifest: at most the hidden temporary file it was writing.
    left = sorted(p.name for p in out.iterdir())
    assert left and all(name.startswith(".big.parquet.") for name in left), left

    rerun = subprocess.run(command, check=True, capture_output=True, text=True)
    assert all(
        f"removed {out / name}, left by a run that was killed" in rerun.stderr for name in left
    )
    assert sorted(p.name for p in out.iterdir()) == ["_manifest.json", "big.parquet"]
    scored = pd.read_parquet(out / "big.parquet")
    assert len(scored) == copies * len(test) and scored["id"].is_unique
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["inputs"]["big.parquet"]["rows"] == copies * len(test)


def _writing(out: Path) -> bool:
    """True once the run has written its first chunk to the hidden temporary output."""
    try:
        return any(
            p.name.startswith(".big.parquet.") and p.stat().st_size > 0 for p in out.iterdir()
        )
    except FileNotFoundError:  # no output folder yet, or the file was renamed while we looked
        return False
