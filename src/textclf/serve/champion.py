"""The model the service answers with, and how it follows the registry.

`Champion` loads its source once at start. For a registry alias (`models:/<name>@<alias>`) a
background thread asks the registry every `poll_seconds` which version the alias names, and
when it moved, loads the new version beside the old one and swaps a single reference: a
request that started with the old model finishes with it, the next one gets the new one, and no
request waits for a load. When the registry does not answer, the loaded model keeps serving;
`status()` says since when the registry is unreachable (for `/ready` and the logs).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textclf.core.errors import DataError, ServiceUnavailable, TextclfError
from textclf.core.files import file_digest
from textclf.ml.persist import LoadedModel
from textclf.registry.models import load_model
from textclf.registry.tracking import connect
from textclf.registry.versions import ALIAS_URI, version_by_alias

log = logging.getLogger(__name__)
# What /model reports of a registered version, from the tags registration gave it.
DESCRIBING_TAGS = ("git_commit", "model_md5", "data_md5.train", "data_md5.test", "dataset")


@dataclass(frozen=True)
class Serving:
    """A loaded model and what describes it: swapped as one reference."""

    model: LoadedModel
    description: dict[str, Any]


@dataclass
class RegistryState:
    reachable: bool = True
    problem: str | None = None
    since: float | None = None
    last_checked: float | None = None


class Champion:
    def __init__(
        self,
        source: str,
        root: Path = Path("."),
        poll_seconds: float = 30.0,
        on_change: Callable[[Serving | None, Serving], None] = lambda old, new: None,
    ) -> None:
        self.source = source
        self.on_change = on_change
        self.root = root
        self.poll_seconds = poll_seconds
        self.serving: Serving | None = None
        self.registry = RegistryState()
        self._alias = ALIAS_URI.match(source)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def follows_alias(self) -> bool:
        return self._alias is not None

    def start(self) -> None:
        """Load now (a failure is logged and retried by the poller, never fatal), then follow
        the alias in the background."""
        self.refresh()
        if self.follows_alias:
            self._thread = threading.Thread(target=self._poll, name="champion-poll", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def refresh(self) -> None:
        """Load the source, or the version the alias names now if it is not the one served."""
        try:
            if not self.follows_alias:
                if self.serving is None:
                    self._serve(self._load_file_or_uri())
                return
            self._follow()
            self._answered(None)
        except ServiceUnavailable as error:
            self._unreachable(error)
        except TextclfError as error:  # it answered: no such alias yet, or a model that fails
            self._answered(str(error))

    def _follow(self) -> None:
        assert self._alias is not None
        connect(self.root)
        name, alias = self._alias["name"], self._alias["alias"]
        found = version_by_alias(name, alias)
        if found is None:
            raise DataError(
                self.source,
                f"there is no '{alias}' version of {name} yet",
                "register and promote one (textclf register, textclf promote)",
            )
        version = str(found.version)
        if self.serving is not None and self.serving.model.version == version:
            return
        model = load_model(f"models:/{name}/{version}", self.root)
        tags = found.tags or {}
        description = {
            "name": name,
            "version": version,
            "alias": alias,
            "uri": model.uri,
            **{key: tags.get(key) for key in DESCRIBING_TAGS},
        }
        previous = self._version()
        self._serve(Serving(model, description))
        log.info("serving %s version %s (was %s)", name, version, previous or "nothing")

    def _serve(self, new: Serving) -> None:
        old, self.serving = self.serving, new  # one assignment: requests see old or new, whole
        self.on_change(old, new)

    def _load_file_or_uri(self) -> Serving:
        is_uri = self.source.startswith(("models:/", "runs:/"))
        model = load_model(self.source if is_uri else self.root / self.source, self.root)
        description: dict[str, Any] = {
            "name": model.name,
            "version": model.version,
            "alias": None,
            "uri": model.uri,
        }
        if not is_uri:
            description["model_md5"] = file_digest(self.root / self.source)
        log.info("serving %s", model.uri)
        return Serving(model, description)

    def _answered(self, problem: str | None) -> None:
        if not self.registry.reachable:
            log.info("registry reachable again; serving version %s", self._version())
        if problem is not None and problem != self.registry.problem:
            log.warning("%s", problem)
        self.registry = RegistryState(True, problem, None, time.time())

    def _unreachable(self, error: TextclfError) -> None:
        problem = str(error)
        if self.registry.problem != problem:
            log.warning("%s; still serving version %s", problem, self._version())
        since = self.registry.since or time.time()
        self.registry = RegistryState(False, problem, since, time.time())

    def _version(self) -> str | None:
        return self.serving.model.version if self.serving else None

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.refresh()

    def status(self) -> dict[str, Any]:
        """For /ready: whether a model is loaded, and how the registry answered last."""
        state = self.registry
        return {
            "ready": self.serving is not None,
            "model": self.serving.description if self.serving else None,
            "follows": self.source if self.follows_alias else None,
            "registry": {
                "reachable": state.reachable,
                "problem": state.problem,
                "unreachable_since": state.since,
                "last_checked": state.last_checked,
            },
        }
