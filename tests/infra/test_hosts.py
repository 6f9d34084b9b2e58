"""The hosts' user data and systemd units, rendered exactly as Terraform's templatefile()."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.infra.templates import TemplateError, render_template, template_variables
from tests.infra.terraform import TERRAFORM, load_module
from tests.infra.units import parse_unit, unit_template

UNITS = {
    "tracking": ["mlflow-server.service"],
    "orchestration": ["prefect-server.service", "textclf-deploy.service", "prefect-worker.service"],
    "serving": ["textclf-serve.service"],
}
HOME = "/var/lib/textclf/repo"


def sample_values(template: Path) -> dict[str, str]:
    """A value for each variable the template uses, shaped like the real one."""
    shaped = {"textclf_home": HOME, "service_user": "textclf", "port": "4200", "workers": "2"}
    return {
        name: shaped.get(name, f"sample-{name}")
        for name in template_variables(template.read_text())
    }


def test_bootstrap_script_is_valid_bash_that_installs_from_the_lock_file() -> None:
    template = TERRAFORM / "modules/host/templates/bootstrap.sh.tftpl"
    values = sample_values(template) | {"services": "prefect-server.service prefect-worker.service"}
    script = render_template(template, values)
    result = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
    assert result.returncode == 0, result.stderr
    assert f"{HOME}/scripts/install-host.sh" in script  # uv sync --frozen, the repo's own lock
    assert "systemctl enable --now prefect-server.service prefect-worker.service" in script
    assert os.access(REPO_ROOT / "scripts/install-host.sh", os.X_OK)
    assert "uv sync --frozen --no-dev" in (REPO_ROOT / "scripts/install-host.sh").read_text()


@pytest.mark.parametrize(
    ("module", "unit"), [(module, unit) for module, units in UNITS.items() for unit in units]
)
def test_units_run_programs_the_checkout_provides_and_log_where_cloudwatch_reads(
    module: str, unit: str
) -> None:
    template = unit_template(module, unit)
    sections = parse_unit(render_template(template, sample_values(template)))
    spec = sections["Service"]
    program = spec["ExecStart"][0].split()[0]
    assert program.startswith(f"{HOME}/")
    in_repo = program.removeprefix(f"{HOME}/")
    # .venv/bin/* comes from `uv sync --frozen --no-dev`, the same lock as this checkout's .venv.
    assert os.access(REPO_ROOT / in_repo, os.X_OK), in_repo
    assert spec["User"] == ["textclf"] and spec["WorkingDirectory"] == [HOME]
    host_locals = load_module(TERRAFORM / "modules/host").locals
    log_dir = host_locals["log_dir"].strip('"')
    # the host module ships <log_dir>/<unit name>.log to CloudWatch
    assert spec["StandardOutput"] == [f"append:{log_dir}/{unit.removesuffix('.service')}.log"]
    assert sections["Install"]["WantedBy"] == ["multi-user.target"]


def test_templates_use_only_what_the_python_renderer_renders_exactly() -> None:
    for template in TERRAFORM.rglob("*.tftpl"):
        text = template.read_text()
        assert "%{" not in text.replace("%%{", ""), f"{template}: directives are not rendered here"
        for name in template_variables(text):
            assert re.fullmatch(r"[a-z_]+", name), f"{template}: ${{{name}}} is an expression"


def test_render_template_matches_terraform_semantics(tmp_path: Path) -> None:
    template = tmp_path / "unit.tftpl"
    template.write_text("User=${user}\nEnvironment=HOME=$${HOME} %%{x}\nEnabled=${flag}\n")
    assert render_template(template, {"user": "textclf", "flag": True}) == (
        "User=textclf\nEnvironment=HOME=${HOME} %{x}\nEnabled=true\n"
    )
    with pytest.raises(TemplateError, match="'user' is not given"):
        render_template(template, {"flag": 1})
    template.write_text("%{ if x }y%{ endif }")
    with pytest.raises(TemplateError, match="directive"):
        render_template(template, {"x": 1})
    template.write_text("${upper(x)}")
    with pytest.raises(TemplateError, match="expression"):
        render_template(template, {"x": 1})
