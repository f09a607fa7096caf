"""Validate responses against Telnyx's spec extract, read from ``<repo>/../shared/telnyx``.

The spec is never copied into the repository. Without it the contract tests skip, unless
``GATEWAY_REQUIRE_SPEC=1`` (set in CI), where a missing spec fails them instead.
"""

from __future__ import annotations

import functools
import os
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema  # no stubs in the lock files
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).resolve().parents[1].parent / "shared/telnyx/openapi-messaging.yaml"
SPEC_URI = "urn:telnyx:openapi-messaging"
API_PREFIX = "/v2"  # the path of the spec's server URL

# RFC 3339, which JSON Schema's date-time means; jsonschema checks it only when an optional
# package is installed, so the check is spelled out here.
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$"
)


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True  # formats constrain strings only
    if not _DATE_TIME.match(value):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))  # raises if out of range
    return True


def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return True
    uuid.UUID(value)  # raises ValueError
    return len(value) == 36


FORMATS = jsonschema.FormatChecker(formats=())
FORMATS.checks("date-time", raises=ValueError)(_is_date_time)
FORMATS.checks("uuid", raises=ValueError)(_is_uuid)


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    responses: dict[str, Any]


class Spec:
    """The loaded spec: finds an operation by method and path, and validates its responses."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource: Resource[Any] = DRAFT202012.create_resource(document)
        self.registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
        self.operations: list[Operation] = []
        for template, item in document["paths"].items():
            regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            for method, operation in item.items():
                self.operations.append(
                    Operation(
                        method.upper(), template, re.compile(f"^{regex}$"), operation["responses"]
                    )
                )

    def find(self, method: str, path: str) -> Operation | None:
        """The operation serving `method` on a concrete path (with or without /v2), if any."""
        path = path.removeprefix(API_PREFIX)
        found = [
            op for op in self.operations if op.method == method.upper() and op.pattern.match(path)
        ]
        # A literal segment beats a template: /phone_numbers/messaging is not {id}.
        found.sort(key=lambda op: op.template.count("{"))
        return found[0] if found else None

    def operation(self, method: str, path: str) -> Operation:
        found = self.find(method, path)
        if found is None:
            raise LookupError(f"the spec has no operation {method} {path}")
        return found

    def response_key(self, operation: Operation, status: int) -> str | None:
        """The key of `responses` that covers `status` ('404', then '4XX'), if any."""
        for key in (str(status), f"{str(status)[0]}XX"):
            if key in operation.responses:
                return key
        return None

    def schema(self, operation: Operation, key: str) -> dict[str, Any]:
        """A schema that refers to the response body schema inside the spec document."""
        response = operation.responses[key]
        parts = ["paths", operation.template, operation.method.lower(), "responses", key]
        if "$ref" in response:
            parts = response["$ref"].removeprefix("#/").split("/")
        return {"$ref": f"{SPEC_URI}#/{_pointer(*parts, 'content', 'application/json', 'schema')}"}

    def validate(self, method: str, path: str, status: int, body: Any) -> None:
        """Raise jsonschema.ValidationError (or LookupError) unless the spec allows this response."""
        operation = self.operation(method, path)
        key = self.response_key(operation, status)
        if key is None:
            raise LookupError(f"{operation.method} {operation.template} declares no {status}")
        validator = jsonschema.Draft202012Validator(
            self.schema(operation, key), registry=self.registry, format_checker=FORMATS
        )
        validator.validate(body)

    def validate_component(self, name: str, instance: Any) -> None:
        """Validate against `#/components/schemas/<name>`, e.g. messaging_Errors."""
        schema = {"$ref": f"{SPEC_URI}#/components/schemas/{name}"}
        jsonschema.Draft202012Validator(
            schema, registry=self.registry, format_checker=FORMATS
        ).validate(instance)

    def component(self, name: str) -> dict[str, Any]:
        schema: dict[str, Any] = self.document["components"]["schemas"][name]
        return schema


def _spec_required() -> bool:
    # CI must never skip the contract tests silently.
    return os.environ.get("GATEWAY_REQUIRE_SPEC") == "1"  # noqa: TID251 -- a test switch, not a setting


@functools.cache
def _load(path: Path) -> Spec:
    with path.open(encoding="utf-8") as handle:
        return Spec(yaml.safe_load(handle))


def load_spec() -> Spec:
    """The spec, or a skip (a failure when GATEWAY_REQUIRE_SPEC=1) when the file is absent."""
    if not SPEC_PATH.is_file():
        reason = f"Telnyx spec extract not found at {SPEC_PATH}"
        if _spec_required():
            pytest.fail(f"{reason} and GATEWAY_REQUIRE_SPEC=1")
        pytest.skip(reason)
    return _load(SPEC_PATH)


def optional_spec() -> Spec | None:
    """The spec if present; None when absent (a failure when GATEWAY_REQUIRE_SPEC=1)."""
    if SPEC_PATH.is_file() or _spec_required():
        return load_spec()
    return None


@pytest.fixture
def spec() -> Spec:
    """The Telnyx spec extract (skips, or fails in CI, when it is absent)."""
    return load_spec()
