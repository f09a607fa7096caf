"""`/v2/openapi.json`: the subset of Telnyx's API this face serves, with the gateway as
server, generated from the gateway's own models so internal teams can generate clients."""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from gateway import __version__
from gateway.rest import wire
from gateway.telnyx import models

_SCHEMAS: dict[str, type[BaseModel]] = {
    "MessagingProfile": models.MessagingProfile,
    "ShortCode": models.ShortCode,
    "PhoneNumberWithMessagingSettings": models.PhoneNumberWithMessagingSettings,
    "PaginationMeta": models.PaginationMeta,
    "Errors": models.Errors,
    "CreateMessagingProfileRequest": models.CreateMessagingProfileRequest,
    "UpdateMessagingProfileRequest": models.UpdateMessagingProfileRequest,
    "UpdateShortCodeRequest": models.UpdateShortCodeRequest,
    "UpdatePhoneNumberMessagingSettingsRequest": models.UpdatePhoneNumberMessagingRequest,
}

_PAGE = [
    {
        "name": "page[number]",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": wire.PAGE_NUMBER_MAX, "default": 1},
    },
    {
        "name": "page[size]",
        "in": "query",
        "schema": {
            "type": "integer",
            "minimum": 1,
            "maximum": wire.PAGE_SIZE_MAX,
            "default": wire.PAGE_SIZE_DEFAULT,
        },
    },
]


def _query(name: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": {"type": "string", **schema}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _one(name: str) -> dict[str, Any]:
    return {"type": "object", "properties": {"data": _ref(name)}, "required": ["data"]}


def _list(name: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "data": {"type": "array", "items": _ref(name)},
            "meta": _ref("PaginationMeta"),
        },
        "required": ["data", "meta"],
    }


def _id(description: str, **schema: str) -> dict[str, Any]:
    return {
        "name": "id",
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", **schema},
    }


_ID = _id("The messaging profile's id.", format="uuid")
_SHORT_CODE_ID = _id("The short code's id.", format="uuid")
# Telnyx's numeric id, or the number itself in E.164 (`+` may be sent unencoded).
_NUMBER_ID = _id("The phone number's id, or the phone number in +E.164.")

# (method, path, operationId, summary, parameters, request schema, response schema)
_OPERATIONS: list[tuple[str, str, str, str, list[dict[str, Any]], str | None, dict[str, Any]]] = [
    ("get", "/messaging_profiles", "ListMessagingProfiles", "List messaging profiles",
     [_query("filter[name]"), _query("filter[name][eq]"), _query("filter[name][contains]"), *_PAGE],
     None, _list("MessagingProfile")),
    ("post", "/messaging_profiles", "CreateMessagingProfile", "Create a messaging profile",
     [], "CreateMessagingProfileRequest", _one("MessagingProfile")),
    ("get", "/messaging_profiles/{id}", "RetrieveMessagingProfile", "Retrieve a messaging profile",
     [_ID], None, _one("MessagingProfile")),
    ("patch", "/messaging_profiles/{id}", "UpdateMessagingProfile", "Update a messaging profile",
     [_ID], "UpdateMessagingProfileRequest", _one("MessagingProfile")),
    ("delete", "/messaging_profiles/{id}", "DeleteMessagingProfile", "Delete a messaging profile",
     [_ID], None, _one("MessagingProfile")),
    ("get", "/messaging_profiles/{id}/phone_numbers", "ListProfilePhoneNumbers",
     "List the phone numbers of a messaging profile", [_ID, *_PAGE], None,
     _list("PhoneNumberWithMessagingSettings")),
    ("get", "/messaging_profiles/{id}/short_codes", "ListProfileShortCodes",
     "List the short codes of a messaging profile", [_ID, *_PAGE], None, _list("ShortCode")),
    ("get", "/short_codes", "ListShortCodes", "List short codes",
     [_query("filter[messaging_profile_id]"), *_PAGE], None, _list("ShortCode")),
    ("get", "/short_codes/{id}", "RetrieveShortCode", "Retrieve a short code",
     [_SHORT_CODE_ID], None, _one("ShortCode")),
    ("patch", "/short_codes/{id}", "UpdateShortCode", "Update a short code",
     [_SHORT_CODE_ID], "UpdateShortCodeRequest", _one("ShortCode")),
    ("get", "/phone_numbers/messaging", "ListPhoneNumbersWithMessagingSettings",
     "List phone numbers with messaging settings",
     [_query("filter[messaging_profile_id]"), _query("filter[phone_number]"),
      _query("filter[phone_number][contains]"),
      _query("filter[type]", enum=["tollfree", "longcode", "shortcode"]),
      _query("sort[phone_number]", enum=["asc", "desc"]), *_PAGE],
     None, _list("PhoneNumberWithMessagingSettings")),
    ("get", "/phone_numbers/{id}/messaging", "GetPhoneNumberMessagingSettings",
     "Retrieve a phone number's messaging settings", [_NUMBER_ID], None,
     _one("PhoneNumberWithMessagingSettings")),
    ("patch", "/phone_numbers/{id}/messaging", "UpdatePhoneNumberMessagingSettings",
     "Update a phone number's messaging settings", [_NUMBER_ID],
     "UpdatePhoneNumberMessagingSettingsRequest", _one("PhoneNumberWithMessagingSettings")),
]  # fmt: skip


# The spec's constraints that the request models check in validators, which JSON Schema
# cannot see: without them, generated clients and fuzzers send what Telnyx refuses.
_URL_OR_EMPTY = r"^(?:https?://[^\s/?#]+\S*)?$"
_PROFILE_CONSTRAINTS: dict[str, dict[str, Any]] = {
    "name": {"pattern": r"\S"},
    "whitelisted_destinations": {"items": {"type": "string", "pattern": r"^(?:[A-Z]{2}|\*)$"}},
    "alpha_sender": {"pattern": models.ALPHA_SENDER.pattern},
    "daily_spend_limit": {"pattern": models.SPEND_LIMIT.pattern},
    "webhook_api_version": {"enum": list(models.WEBHOOK_API_VERSIONS)},
    "webhook_url": {"pattern": _URL_OR_EMPTY, "maxLength": 2000},
    "webhook_failover_url": {"pattern": _URL_OR_EMPTY, "maxLength": 2000},
    "health_webhook_url": {"pattern": _URL_OR_EMPTY, "maxLength": 2000},
}


def _constrain(prop: dict[str, Any], keywords: dict[str, Any]) -> None:
    """Add `keywords` to the non-null branch of a property's schema."""
    for branch in prop.get("anyOf", [prop]):
        if branch.get("type") != "null":
            branch.update(keywords)


@cache
def _components() -> dict[str, Any]:
    pairs: list[tuple[type[BaseModel], Literal["validation"]]] = [
        (model, "validation") for model in _SCHEMAS.values()
    ]
    keyed, defs = models_json_schema(pairs, ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    for name, model in _SCHEMAS.items():
        schema = keyed[(model, "validation")]
        if "$ref" in schema:
            target = schema["$ref"].rsplit("/", 1)[-1]
            schemas[name] = schemas.pop(target) if target != name else schemas[target]
        else:
            schemas[name] = schema
    for name in ("CreateMessagingProfileRequest", "UpdateMessagingProfileRequest"):
        properties = schemas[name]["properties"]
        for field, keywords in _PROFILE_CONSTRAINTS.items():
            _constrain(properties[field], keywords)
    return schemas


def openapi_document(server_url: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    error = {
        "description": "Telnyx's error envelope",
        "content": {"application/json": {"schema": _ref("Errors")}},
    }
    for method, path, operation_id, summary, parameters, request, response in _OPERATIONS:
        operation: dict[str, Any] = {
            "operationId": operation_id,
            "summary": summary,
            "parameters": parameters,
            "security": [{"bearerAuth": []}],
            "responses": {
                "200": {
                    "description": "Success",
                    "content": {"application/json": {"schema": response}},
                },
                "4XX": error,
                "5XX": error,
            },
        }
        if request is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _ref(request)}},
            }
        paths.setdefault(path, {})[method] = operation
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
