"""The Telnyx operations under /v2, one handler each."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.simulator import validation
from gateway.simulator.store import JSON, Account
from gateway.simulator.wire import (
    INVALID_JSON,
    NOT_FOUND,
    ApiError,
    Problem,
    json_response,
    page,
    page_request,
    route,
)

ACCOUNT_SCOPE_KEY = "simulator.account"

_TIME_FRAMES = ("1h", "3h", "24h", "3d", "7d", "30d")
_NUMBER_TYPES = ("tollfree", "longcode", "shortcode")


def _account(request: Request) -> Account:
    account: Account = request.scope[ACCOUNT_SCOPE_KEY]
    return account


async def _body(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise ApiError(400, [INVALID_JSON]) from None


def _found(item: JSON | None) -> JSON:
    if item is None:
        raise ApiError(404, [NOT_FOUND])
    return item


def _profile(request: Request) -> JSON:
    return _found(_account(request).profiles.get(request.path_params["id"]))


def _enum(request: Request, name: str, allowed: tuple[str, ...], status: int = 422) -> str | None:
    value = request.query_params.get(name)
    if value is None or value in allowed:
        return value
    raise ApiError(
        status,
        [
            Problem(
                "10032",
                "Invalid enumerated value",
                f"{name} must be one of: {', '.join(allowed)}.",
                parameter=name,
            )
        ],
    )


def _listed(request: Request, items: list[JSON]) -> Response:
    return json_response(page(items, page_request(request.query_params)))


# --- messaging profiles -----------------------------------------------------------------


async def list_profiles(request: Request) -> Response:
    query = request.query_params
    target = page_request(query)
    items = list(_account(request).profiles.values())
    # filter[name] (the deepObject form) is an exact match, like filter[name][eq].
    for exact in (query.get("filter[name]"), query.get("filter[name][eq]")):
        if exact is not None:
            items = [item for item in items if item["name"] == exact]
    contains = query.get("filter[name][contains]")
    if contains is not None:
        needle = contains.casefold()
        items = [item for item in items if needle in item["name"].casefold()]
    return json_response(page(items, target))


async def create_profile(request: Request) -> Response:
    fields = validation.create_profile_fields(await _body(request))
    # Telnyx answers a create with 200, not 201 (spec).
    return json_response({"data": _account(request).new_profile(fields)})


async def retrieve_profile(request: Request) -> Response:
    return json_response({"data": _profile(request)})


async def update_profile(request: Request) -> Response:
    profile = _profile(request)
    fields = validation.update_profile_fields(await _body(request))
    return json_response({"data": _account(request).update_profile(profile, fields)})


async def delete_profile(request: Request) -> Response:
    return json_response({"data": _account(request).delete_profile(_profile(request))})


async def regenerate_secret(request: Request) -> Response:
    return json_response({"data": _account(request).regenerate_secret(_profile(request))})


async def list_profile_phone_numbers(request: Request) -> Response:
    profile_id = _profile(request)["id"]
    numbers = _account(request).phone_numbers.values()
    return _listed(request, [n for n in numbers if n["messaging_profile_id"] == profile_id])


async def list_profile_short_codes(request: Request) -> Response:
    profile_id = _profile(request)["id"]
    codes = _account(request).short_codes.values()
    return _listed(request, [c for c in codes if c["messaging_profile_id"] == profile_id])


async def list_alphanumeric_sender_ids(request: Request) -> Response:
    senders = _account(request).alphanumeric_sender_ids(_profile(request))
    # This operation declares its own page parameters, without a maximum size.
    return json_response(page(senders, page_request(request.query_params, max_size=None)))


def _metrics(account: Account, profile: JSON, time_frame: str) -> JSON:
    # The spec leaves metrics free-form; these figures come from the numbers' health.
    numbers = [
        n for n in account.phone_numbers.values() if n["messaging_profile_id"] == profile["id"]
    ]
    return {
        "messaging_profile_id": profile["id"],
        "name": profile["name"],
        "time_frame": time_frame,
        "phone_numbers": len(numbers),
        "message_count": sum(n["health"]["message_count"] for n in numbers),
    }


async def profile_metrics(request: Request) -> Response:
    time_frame = _enum(request, "time_frame", _TIME_FRAMES, status=400) or "24h"
    profile = _profile(request)
    return json_response({"data": _metrics(_account(request), profile, time_frame)})


async def list_profile_metrics(request: Request) -> Response:
    time_frame = _enum(request, "time_frame", _TIME_FRAMES, status=400) or "24h"
    account = _account(request)
    items = [_metrics(account, profile, time_frame) for profile in account.profiles.values()]
    return _listed(request, items)


# --- short codes ----------------------------------------------------------------------


def _short_code(request: Request) -> JSON:
    return _found(_account(request).short_codes.get(request.path_params["id"]))


def _profile_reference(account: Account, profile_id: str | None) -> str | None:
    if profile_id is not None and profile_id not in account.profiles:
        raise validation.unknown_profile(profile_id)
    return profile_id


async def list_short_codes(request: Request) -> Response:
    items = list(_account(request).short_codes.values())
    wanted = request.query_params.get("filter[messaging_profile_id]")
    if wanted is not None:
        # The literal string "null" selects short codes without a profile (spec).
        profile_id = None if wanted == "null" else wanted
        items = [item for item in items if item["messaging_profile_id"] == profile_id]
    return _listed(request, items)


async def retrieve_short_code(request: Request) -> Response:
    return json_response({"data": _short_code(request)})


async def update_short_code(request: Request) -> Response:
    account = _account(request)
    short_code = _short_code(request)
    fields = validation.short_code_fields(await _body(request))
    profile_id = _profile_reference(account, fields["messaging_profile_id"])
    if "tags" in fields:
        short_code["tags"] = fields["tags"]
    return json_response({"data": account.assign(short_code, profile_id)})


# --- phone numbers --------------------------------------------------------------------


def _phone_number(request: Request) -> JSON:
    return _found(_account(request).phone_number(request.path_params["id"]))


def _e164(value: str) -> str:
    # A raw "+" in a query string decodes to a space; accept the number either way.
    return "+" + value.strip().lstrip("+")


async def list_phone_numbers(request: Request) -> Response:
    query = request.query_params
    target = page_request(query)
    number_type = _enum(request, "filter[type]", _NUMBER_TYPES)
    order = _enum(request, "sort[phone_number]", ("asc", "desc"))
    items = list(_account(request).phone_numbers.values())
    wanted = query.get("filter[messaging_profile_id]")
    if wanted is not None:
        profile_id = None if wanted == "null" else wanted
        items = [item for item in items if item["messaging_profile_id"] == profile_id]
    exact = query.get("filter[phone_number]")
    if exact is not None:
        numbers = {_e164(part) for part in exact.split(",") if part.strip()}
        items = [item for item in items if item["phone_number"] in numbers]
    contains = query.get("filter[phone_number][contains]")
    if contains is not None:
        needle = contains.strip()
        items = [item for item in items if needle in item["phone_number"]]
    if number_type is not None:
        # Stored types may be spelled "toll-free" or "tollfree"; the filter uses the latter.
        items = [item for item in items if item["type"].replace("-", "") == number_type]
    if order is not None:
        items.sort(key=lambda item: str(item["phone_number"]), reverse=order == "desc")
    return json_response(page(items, target))


async def retrieve_phone_number(request: Request) -> Response:
    return json_response({"data": _phone_number(request)})


async def update_phone_number(request: Request) -> Response:
    account = _account(request)
    number = _phone_number(request)
    fields = validation.phone_number_fields(await _body(request))
    if "messaging_profile_id" in fields:
        number["messaging_profile_id"] = _profile_reference(account, fields["messaging_profile_id"])
    for name in ("messaging_product", "tags"):
        if name in fields:
            number[name] = fields[name]
    return json_response({"data": account.assign(number, number["messaging_profile_id"])})


ROUTES = [
    route("/messaging_profiles", GET=list_profiles, POST=create_profile),
    route(
        "/messaging_profiles/{id}",
        GET=retrieve_profile,
        PATCH=update_profile,
        DELETE=delete_profile,
    ),
    route("/messaging_profiles/{id}/phone_numbers", GET=list_profile_phone_numbers),
    route("/messaging_profiles/{id}/short_codes", GET=list_profile_short_codes),
    route("/messaging_profiles/{id}/metrics", GET=profile_metrics),
    route("/messaging_profiles/{id}/actions/regenerate_secret", POST=regenerate_secret),
    route("/messaging_profiles/{id}/alphanumeric_sender_ids", GET=list_alphanumeric_sender_ids),
    route("/messaging_profile_metrics", GET=list_profile_metrics),
    route("/short_codes", GET=list_short_codes),
    route("/short_codes/{id}", GET=retrieve_short_code, PATCH=update_short_code),
    route("/phone_numbers/messaging", GET=list_phone_numbers),
    route("/phone_numbers/{id}/messaging", GET=retrieve_phone_number, PATCH=update_phone_number),
]
