"""Read infra/terraform with python-hcl2: what each module declares, calls and references.

There is no Terraform binary in CI, so these are the checks `terraform validate` would make that
matter most here: references resolve, module inputs exist, templates get their variables.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

from tests.conftest import REPO_ROOT

TERRAFORM = REPO_ROOT / "infra" / "terraform"
META_ARGUMENTS = {"source", "version", "count", "for_each", "providers", "depends_on"}
IDENT = r"[A-Za-z_][A-Za-z0-9_-]*"


def unquote(label: str) -> str:
    return label.strip('"')


def strings(node: Any) -> Iterator[str]:
    """Every string in a parsed HCL structure (expressions come back as "${...}" strings)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            if key != "__comments__":
                yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


@dataclass
class Module:
    path: Path
    documents: dict[Path, dict] = field(default_factory=dict)

    def blocks(self, kind: str) -> Iterator[tuple[str, dict]]:
        for document in self.documents.values():
            for block in document.get(kind, []):
                for label, body in block.items():
                    yield unquote(label), body

    @property
    def variables(self) -> dict[str, dict]:
        return dict(self.blocks("variable"))

    @property
    def outputs(self) -> dict[str, dict]:
        return dict(self.blocks("output"))

    @property
    def calls(self) -> dict[str, dict]:
        return dict(self.blocks("module"))

    @property
    def locals(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for document in self.documents.values():
            for block in document.get("locals", []):
                merged.update({k: v for k, v in block.items() if not k.startswith("__")})
        return merged

    def references(self, pattern: str) -> set[tuple[str, ...]]:
        found: set[tuple[str, ...]] = set()
        for text in strings(list(self.documents.values())):
            for match in re.finditer(pattern, text):
                found.add(match.groups())
        return found

    def callee(self, call: str) -> Module:
        return load_module((self.path / unquote(self.calls[call]["source"])).resolve())


@cache
def load_module(path: Path) -> Module:
    module = Module(path)
    for file in sorted(path.glob("*.tf")):
        with file.open() as handle:
            module.documents[file] = hcl2.load(handle)
    return module


def module_dirs() -> list[Path]:
    return sorted(
        {file.parent for file in TERRAFORM.rglob("*.tf") if ".terraform" not in file.parts}
    )


def object_attributes(type_expression: str) -> set[str]:
    """Attribute names of an `object({...})` type expression."""
    return set(re.findall(rf"({IDENT})\s*=", type_expression))


def templatefile_calls(text: str) -> Iterator[tuple[str, set[str]]]:
    """(path under the module, variable names given) of each templatefile(...) in `text`."""
    for match in re.finditer(r'templatefile\("\$\{path\.module\}/([^"]+)",\s*\{', text):
        depth, end = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        arguments = text[match.end() : end - 1]
        yield match.group(1), set(re.findall(rf"(?:^|[{{,])\s*({IDENT})\s*=", arguments))
