"""Peak resident memory of a process tree, sampled twice a second (shared by the benchmarks)."""

from __future__ import annotations

import threading


class PeakMemory:
    """Peaks of the root process (default: this one), of Spark's JVM if any, and of the whole
    tree (root, JVM, Python workers) at once."""

    def __init__(self, pid: int | None = None) -> None:
        self.pid = pid
        self.peaks = {"root": 0, "jvm": 0, "tree": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        import psutil

        root = psutil.Process(self.pid)
        while not self._stop.wait(0.5):
            try:
                tree = [root, *root.children(recursive=True)]
                sizes = {process: process.memory_info().rss for process in tree}
            except psutil.Error:
                continue
            jvm = sum(rss for process, rss in sizes.items() if "java" in process.name())
            for key, value in (("root", sizes[root]), ("jvm", jvm), ("tree", sum(sizes.values()))):
                self.peaks[key] = max(self.peaks[key], value)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        return {f"peak_mib_{key}": round(value / 2**20) for key, value in self.peaks.items()}
