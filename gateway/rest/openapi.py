"""`/v2/openapi.json`: the operations this face serves, with the gateway as server,
generated from their descriptions (`gateway.telnyx.operations`) so internal teams can
generate clients."""

from __future__ import annotations

from functools import cache
from typing import Any, Literal, get_args

from pydantic import TypeAdapter

from gateway import __version__
from gateway.telnyx import models
from gateway.telnyx.operation import Operation, Write, result_type
from gateway.telnyx.operations import OPERATIONS

REF = "#/components/schemas/{model}"
_SCHEMA_MODE: Literal["validation"] = "validation"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _response(result: Any) -> dict[str, Any]:
    """`{"data": X}` or `{"data": [X], "meta": ...}` for an operation's result type."""
    (item,) = get_args(result)
    if result.__origin__ is models.Data:
        return {"type": "object", "properties": {"data": _ref(item.__name__)}, "required": ["data"]}
    return {
        "type": "object",
        "properties": {
            "data": {"type": "array", "items": _ref(item.__name__)},
            "meta": _ref("PaginationMeta"),
        },
        "required": ["data", "meta"],
    }


def _resources() -> set[type]:
    """The resources the operations answer with, and what every answer may carry."""
    found: set[type] = {models.PaginationMeta, models.Errors}
    for operation in OPERATIONS:
        found.add(get_args(result_type(operation))[0])
        if issubclass(operation, Write) and operation.body is not None:
            found.add(operation.body)
    return found


@cache
def _components() -> dict[str, Any]:
    types = sorted(_resources(), key=lambda kind: kind.__name__)
    keyed, defs = TypeAdapter.json_schemas(
        [(kind, _SCHEMA_MODE, TypeAdapter(kind)) for kind in types], ref_template=REF
    )
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    for kind in types:
        schema = keyed[(kind, _SCHEMA_MODE)]
        if "$ref" not in schema:
            schemas[kind.__name__] = schema
    return schemas


def _parameter(operation: type[Operation[Any]], field: str, where: str) -> dict[str, Any]:
    schema = dict(operation.model_json_schema(ref_template=REF)["properties"][field])
    # A query parameter that is not set is absent, not null.
    branches = [branch for branch in schema.pop("anyOf", []) if branch.get("type") != "null"]
    if branches:
        schema.update(branches[0])
    schema.pop("title", None)
    if schema.get("default", 0) is None:
        del schema["default"]
    description = schema.pop("description", None)
    wire = dict(operation.query_fields).get(field, field)
    parameter: dict[str, Any] = {"name": wire, "in": where, "schema": schema}
    if where == "path":
        parameter["required"] = True
    if description:
        parameter["description"] = description
    return parameter


def _operation(operation: type[Operation[Any]]) -> dict[str, Any]:
    error = {
        "description": "Telnyx's error envelope",
        "content": {"application/json": {"schema": _ref("Errors")}},
    }
    described: dict[str, Any] = {
        "operationId": operation.http.operation_id,
        "summary": operation.http.summary,
        "parameters": [
            *(_parameter(operation, name, "path") for name in operation.path_fields),
            *(_parameter(operation, name, "query") for name, _ in operation.query_fields),
        ],
        "security": [{"bearerAuth": []}],
        "responses": {
            "200": {
                "description": "Success",
                "content": {"application/json": {"schema": _response(result_type(operation))}},
            },
            "4XX": error,
            "5XX": error,
        },
    }
    if issubclass(operation, Write) and operation.body is not None:
        described["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(operation.body.__name__)}},
        }
    return described


def openapi_document(server_url: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.http.path, {})[operation.http.method.lower()] = _operation(
            operation
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Telnyx messaging gateway: Telnyx-compatible REST face",
            "version": __version__,
            "description": "The messaging-profile operations of Telnyx API v2, served by the "
            "gateway. Authenticate with the tenant token as the bearer API key.",
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": _components(),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }
