"""Old import paths that saved models still name.

A pickled pipeline names the module of each class inside it (`textclf.model.TextNormalizer`);
models saved before the package had subpackages (0.1) name the flat modules below. This finder
answers those names with the modules' new homes, so every model ever registered keeps loading.
Add a line here whenever a class that can be pickled moves.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

MOVED = {
    "textclf.model": "textclf.ml.model",
    "textclf.nb": "textclf.ml.nb_weighting",
    "textclf.text": "textclf.ml.text",
}


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
        if name not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(name, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module: ModuleType) -> None:
        """The module is the moved one, already executed."""


def install() -> None:
    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(MovedModules())
