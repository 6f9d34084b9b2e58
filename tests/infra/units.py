"""Render the hosts' systemd units as Terraform does and run their services as systemd would."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from tests.infra.templates import render_template
from tests.infra.terraform import TERRAFORM


@dataclass(frozen=True)
class Service:
    """The [Service] section of a unit: what systemd would execute, where, with which env."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]
    stdout: str


def unit_template(module: str, unit: str) -> Path:
    return TERRAFORM / "modules" / module / "templates" / f"{unit}.tftpl"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        else:
            key, _, value = line.partition("=")
            current.setdefault(key, []).append(value)
    return sections


def read_env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs if not key.startswith("#")}


def service(module: str, unit: str, **variables: object) -> Service:
    """The rendered unit's service; its EnvironmentFile must exist, as systemd requires."""
    sections = parse_unit(render_template(unit_template(module, unit), variables))
    spec = sections["Service"]
    env: dict[str, str] = {}
    for assignment in spec.get("Environment", []):
        key, _, value = assignment.partition("=")
        env[key] = value
    for env_file in spec.get("EnvironmentFile", []):
        env.update(read_env_file(Path(env_file)))
    return Service(
        argv=shlex.split(spec["ExecStart"][0]),
        cwd=Path(spec["WorkingDirectory"][0]),
        env=env,
        stdout=spec["StandardOutput"][0],
    )
