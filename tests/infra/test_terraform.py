"""Static checks of infra/terraform: it parses, and every name it uses is declared somewhere."""

from __future__ import annotations

import re
from pathlib import Path

import hcl2
import pytest

from tests.infra.templates import template_variables
from tests.infra.terraform import (
    IDENT,
    META_ARGUMENTS,
    TERRAFORM,
    load_module,
    module_dirs,
    object_attributes,
    strings,
    templatefile_calls,
    unquote,
)
from textclf.infra import aws

MODULES = module_dirs()
ENVIRONMENTS = ("dev", "prod")


def test_every_terraform_file_parses() -> None:
    files = [
        *TERRAFORM.rglob("*.tf"),
        *TERRAFORM.rglob("*.tfvars"),
        *TERRAFORM.rglob("*.tfbackend"),
    ]
    assert len(files) > 20
    for file in files:
        with file.open() as handle:
            assert isinstance(hcl2.load(handle), dict), file


def test_modules_are_split_by_concern() -> None:
    names = {path.name for path in (TERRAFORM / "modules").iterdir()}
    assert {
        "storage",
        "tracking",
        "orchestration",
        "identity",
        "network",
        "serving",
        "batch_spark",
    } <= names
    for path in MODULES:
        assert {"main.tf", "variables.tf", "outputs.tf"} <= {
            f.name for f in path.glob("*.tf")
        }, path


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(TERRAFORM)) or "root")
def test_every_reference_is_declared(path: Path) -> None:
    module = load_module(path)
    used_variables = {name for (name,) in module.references(rf"\bvar\.({IDENT})")}
    assert used_variables <= set(module.variables), used_variables - set(module.variables)
    assert set(module.variables) <= used_variables, "declared but unused"
    used_locals = {name for (name,) in module.references(rf"\blocal\.({IDENT})")}
    assert used_locals <= set(module.locals), used_locals - set(module.locals)
    for call, output in module.references(rf"\bmodule\.({IDENT})\.({IDENT})"):
        assert call in module.calls, f"module.{call} is not called in {path}"
        assert output in module.callee(call).outputs, f"module.{call} has no output {output}"
    for variable in module.variables.values():
        assert variable.get("description"), "every variable says what it is for"
    for output in module.outputs.values():
        assert output.get("description"), "every output says what it is"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(TERRAFORM)) or "root")
def test_every_module_call_passes_declared_inputs(path: Path) -> None:
    module = load_module(path)
    for call, arguments in module.calls.items():
        callee = module.callee(call)
        assert callee.documents, f"module.{call}: no .tf files at {callee.path}"
        given = {key for key in arguments if not key.startswith("__")} - META_ARGUMENTS
        assert given <= set(
            callee.variables
        ), f"module.{call}: unknown {given - set(callee.variables)}"
        required = {name for name, body in callee.variables.items() if "default" not in body}
        assert required <= given, f"module.{call} misses {required - given}"


def test_shared_host_settings_match_the_host_module_type() -> None:
    """`local.host` (root) feeds `var.host` (tracking, orchestration), typed as host's `common`."""
    common = object_attributes(load_module(TERRAFORM / "modules/host").variables["common"]["type"])
    assert set(load_module(TERRAFORM).locals["host"]) == common
    for name in ("tracking", "orchestration", "serving"):
        used = {
            attr
            for (attr,) in load_module(TERRAFORM / "modules" / name).references(
                rf"\bvar\.host\.({IDENT})"
            )
        }
        assert used <= common, used - common


def test_templates_get_every_variable_they_use() -> None:
    calls = 0
    for path in MODULES:
        for text in strings(list(load_module(path).documents.values())):
            for template_path, given in templatefile_calls(text):
                calls += 1
                pattern = re.sub(r"\$\{[^}]+\}", "*", template_path)
                templates = list(path.glob(pattern))
                assert templates, f"{path}: no template matches {pattern}"
                for template in templates:
                    missing = template_variables(template.read_text()) - given
                    assert not missing, f"{template.name} needs {missing}"
    assert calls >= 4


def test_settings_command_reads_declared_outputs() -> None:
    root = load_module(TERRAFORM)
    wanted = {*aws.SETTINGS_OUTPUTS, aws.CI_ROLE_OUTPUT, *aws.TUNNEL_OUTPUTS.values()}
    assert wanted <= set(root.outputs), wanted - set(root.outputs)
    # The hosts get the same settings the command writes into a checkout.
    assert set(root.locals["settings"]) == set(aws.SETTINGS_OUTPUTS)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_has_variables_and_locked_remote_state(environment: str) -> None:
    declared = load_module(TERRAFORM).variables
    with (TERRAFORM / "envs" / f"{environment}.tfvars").open() as handle:
        values = {k: v for k, v in hcl2.load(handle).items() if not k.startswith("__")}
    assert set(values) <= set(declared), set(values) - set(declared)
    assert unquote(values["environment"]) == environment
    with (TERRAFORM / "envs" / f"{environment}.s3.tfbackend").open() as handle:
        backend = hcl2.load(handle)
    assert backend["use_lockfile"] is True and backend["encrypt"] is True
    assert f"/{environment}/" in unquote(backend["key"])
    versions = load_module(TERRAFORM).documents[TERRAFORM / "versions.tf"]["terraform"][0]
    assert "s3" in {unquote(label) for block in versions["backend"] for label in block}
    assert ">= 1.10" in versions["required_version"]  # use_lockfile needs 1.10


def test_checkov_skips_give_a_reason() -> None:
    skips = [
        line.strip()
        for file in TERRAFORM.rglob("*.tf")
        for line in file.read_text().splitlines()
        if "checkov:skip" in line
    ]
    assert skips
    for skip in skips:
        assert re.fullmatch(r"#checkov:skip=CKV2?_AWS_\d+:.{20,}", skip), skip


def test_spark_job_role_reaches_only_the_batch_bucket_and_its_logs() -> None:
    """The EMR Serverless job role: batch bucket prefixes, its KMS key and its log group; the
    worker may pass it to EMR Serverless only; the release matches the pinned pyspark."""
    module = load_module(TERRAFORM / "modules" / "batch_spark")
    (job,) = (
        body['"job"']
        for kind, body in module.blocks("data")
        if kind == "aws_iam_policy_document" and '"job"' in body
    )
    resources = [unquote(item) for statement in job["statement"] for item in statement["resources"]]
    for resource in resources:
        assert resource.startswith(
            ("${var.batch_bucket_arn}", "${var.kms_key_arn}", "${aws_cloudwatch_log_group.spark")
        ), resource
    writes = [
        unquote(item)
        for statement in job["statement"]
        if "s3:PutObject" in [unquote(action) for action in statement["actions"]]
        for item in statement["resources"]
    ]
    assert sorted(writes) == sorted(
        [
            "${var.batch_bucket_arn}/scored/*",
            "${var.batch_bucket_arn}/${local.staging}/runs/*",
            "${var.batch_bucket_arn}/${local.staging}/logs/*",
        ]
    )
    text = (TERRAFORM / "modules" / "batch_spark" / "main.tf").read_text()
    assert '"iam:PassedToService"' in text and '"emr-serverless.amazonaws.com"' in text
    root = load_module(TERRAFORM)
    release = unquote(root.variables["emr_release_label"]["default"])
    pyproject = (TERRAFORM.parent.parent / "pyproject.toml").read_text()
    assert release == "emr-spark-8.0.0" and '"pyspark>=4.0,<4.1"' in pyproject
