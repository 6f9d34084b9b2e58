"""The subset of Terraform's template language the host templates use (`${name}` and the `$${`
escape), rendered exactly as `templatefile()` renders it, so tests can run the hosts' units."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class TemplateError(ValueError):
    def __init__(self, path: Path, problem: str, fix: str) -> None:
        super().__init__(f"{path}: {problem}. Fix: {fix}")


# Terraform templates may hold `${name}` interpolations, `$${` escapes and `%{...}` directives;
# the host templates use only the first two, so that tests can render them exactly as Terraform.
_TEMPLATE_TOKEN = re.compile(r"\$\$\{|%%\{|\$\{([^}]*)\}|%\{")


def template_variables(text: str) -> set[str]:
    return {match.group(1).strip() for match in _TEMPLATE_TOKEN.finditer(text) if match.group(1)}


def render_template(path: Path, variables: Mapping[str, Any]) -> str:
    """Render a Terraform template file as `templatefile(path, variables)` would."""
    text = path.read_text()

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("$${", "%%{"):
            return token[1:]
        if token == "%{":
            raise TemplateError(path, "uses a template directive (%{...})", "use ${name} only")
        name = match.group(1).strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise TemplateError(path, f"uses the expression ${{{name}}}", "use ${name} only")
        if name not in variables:
            raise TemplateError(
                path, f"variable {name!r} is not given", "pass it to templatefile()"
            )
        value = variables[name]
        return str(value).lower() if isinstance(value, bool) else str(value)

    return _TEMPLATE_TOKEN.sub(replace, text)
