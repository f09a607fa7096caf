"""Readers for the files under deploy/ and the names the code accepts."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config import Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
COMPOSE_FILE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "gateway.json"

# OTEL_* variables the deploy files may set that Settings does not read but the OpenTelemetry
# SDK does (test_manifests.py checks each is one the SDK documents).
OTEL_SDK_VARIABLES = frozenset({"OTEL_RESOURCE_ATTRIBUTES"})
# Interpreter and image plumbing the Dockerfile sets; not settings of the gateway.
IMAGE_VARIABLES = frozenset(
    {
        "PATH",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONUNBUFFERED",
        "PIP_DISABLE_PIP_VERSION_CHECK",
        "PIP_NO_CACHE_DIR",
    }
)


def setting_variables() -> frozenset[str]:
    """Every environment variable Settings reads: GATEWAY_<FIELD> or the field's alias."""
    names = set()
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        names.add(alias if isinstance(alias, str) else f"GATEWAY_{name.upper()}")
    return frozenset(names)


def unknown_variables(names: set[str] | frozenset[str]) -> list[str]:
    """The GATEWAY_* and OTEL_* names among `names` that nothing reads, sorted."""
    known = setting_variables() | OTEL_SDK_VARIABLES
    return sorted(
        name for name in names if name.startswith(("GATEWAY_", "OTEL_")) and name not in known
    )


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def kubernetes_object(kind: str) -> dict[str, Any]:
    """The one object of `kind` among the manifests kustomization.yaml lists."""
    kustomization = load_yaml(KUBERNETES / "kustomization.yaml")
    found = [
        document
        for resource in kustomization["resources"]
        for document in yaml.safe_load_all((KUBERNETES / resource).read_text())
        if document and document["kind"] == kind
    ]
    assert len(found) == 1, f"{len(found)} {kind} objects in the kustomization"
    result: dict[str, Any] = found[0]
    return result


def kubernetes_configmap() -> tuple[str, dict[str, str]]:
    """The name and data of the ConfigMap kustomization.yaml generates from its env file(s),
    read as kustomize reads them: KEY=VALUE lines, blank lines and # comments skipped, the
    value verbatim after the first '='."""
    kustomization = load_yaml(KUBERNETES / "kustomization.yaml")
    (generator,) = kustomization["configMapGenerator"]
    data: dict[str, str] = {}
    for env_file in generator["envs"]:
        for line in (KUBERNETES / env_file).read_text().splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            key, separator, value = line.partition("=")
            assert separator, f"{env_file}: {line!r} is not KEY=VALUE"
            assert key not in data, f"{env_file}: {key} twice"
            data[key] = value
    return generator["name"], data


def readme_commands(path: Path) -> set[str]:
    """Every `inline code` span of a Markdown file."""
    return set(re.findall(r"`([^`\n]+)`", path.read_text()))


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    stage: int  # index of the FROM that starts the stage

    def exec_form(self) -> list[str]:
        """The JSON (exec) form of CMD, ENTRYPOINT or HEALTHCHECK ... CMD, as a list."""
        start = self.arguments.index("[")
        value = json.loads(self.arguments[start:])
        assert isinstance(value, list)
        return [str(part) for part in value]

    def words(self) -> list[str]:
        return shlex.split(self.arguments)


def dockerfile() -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    instructions = []
    stage = -1
    for text in logical:
        keyword, _, arguments = text.partition(" ")
        if keyword.upper() == "FROM":
            stage += 1
        instructions.append(Instruction(keyword.upper(), arguments.strip(), stage))
    return instructions


def settings_from(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as the gateway would read them from exactly `env`."""
    for name in setting_variables() | OTEL_SDK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool


def compose_mounts(service: Mapping[str, Any]) -> list[Mount]:
    """A compose service's short-syntax volumes."""
    mounts = []
    for volume in service.get("volumes", []):
        source, target, *mode = str(volume).split(":")
        mounts.append(Mount(source, target, mode == ["ro"]))
    return mounts
