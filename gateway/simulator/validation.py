"""Request-body checks with Telnyx's error codes; every problem carries an RFC 6901 pointer.

Codes follow Telnyx's official table (NOTES.md §4): 10004 missing, 10026 wrong JSON type,
10032 not in an enum, 10033 out of range, 10003 bad URL, 10015 any other bad value.
All problems of one body are reported together, as a 422.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from gateway.simulator.store import JSON
from gateway.simulator.wire import ApiError, Problem
from gateway.telnyx.models import ALPHA_SENDER, SPEND_LIMIT, URL, WEBHOOK_API_VERSIONS

COUNTRY = re.compile(r"^[A-Z]{2}$")
ID_MAX_LENGTH = 64

_TYPE_NAMES = {
    str: "a string",
    bool: "a boolean",
    float: "a number",
    list: "an array",
    dict: "an object",
}

# Seen on the live API: a profile without destinations is refused with HTTP 400, code 40331
# (FIELD reports in NOTES.md §4 and MESSAGING_PROFILE_FACTS.md), not with the 422 the
# spec's `required` would suggest. It is checked after the 422 checks, like a business rule.
MISSING_DESTINATIONS = Problem(
    "40331",
    "Missing whitelisted destinations",
    "Messaging profile is missing whitelisted destinations",
    pointer="/whitelisted_destinations",
)


def _is(value: Any, kind: type) -> bool:
    if kind is float:  # JSON numbers; a bool is not one
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is str or kind is list or kind is dict:
        return isinstance(value, kind)
    return isinstance(value, bool)


def _wrong_type(name: str, kind: type, pointer: str, *, item: bool = False) -> Problem:
    what = f"Each item of '{name}'" if item else f"The '{name}' parameter"
    return Problem(
        "10026", "Invalid parameter type", f"{what} must be {_TYPE_NAMES[kind]}.", pointer=pointer
    )


def _missing(name: str, pointer: str) -> Problem:
    return Problem(
        "10004", "Missing required parameter", f"The '{name}' parameter is required.", pointer
    )


class _Checker:
    """Collects the problems of one request body."""

    def __init__(self, body: Any) -> None:
        self.problems: list[Problem] = []
        if not isinstance(body, dict):
            # Telnyx's own root pointer is "/" (spec example users_UnauthorizedResponse).
            self.problems.append(
                Problem("10026", "Invalid parameter type", "The body must be a JSON object.", "/")
            )
            body = {}
        self.body: JSON = body

    def present(
        self,
        name: str,
        kind: type,
        *,
        nullable: bool = False,
        source: JSON | None = None,
        base: str = "",
    ) -> bool:
        """Whether `name` is in the object with an allowed type; a wrong type is reported.

        `source` is a nested object of the body, found at the pointer `base`.
        """
        obj = self.body if source is None else source
        if name not in obj:
            return False
        value = obj[name]
        if (value is None and nullable) or (value is not None and _is(value, kind)):
            return True
        self.problems.append(_wrong_type(name, kind, f"{base}/{name}"))
        return False

    def bad(self, code: str, title: str, detail: str, pointer: str) -> None:
        self.problems.append(Problem(code, title, detail, pointer))

    def raise_if_any(self) -> None:
        if self.problems:
            raise ApiError(422, self.problems)


def _destinations(check: _Checker, values: list[Any]) -> None:
    if values == ["*"]:  # documented: all destinations
        return
    for index, value in enumerate(values):
        pointer = f"/whitelisted_destinations/{index}"
        if not isinstance(value, str):
            check.problems.append(_wrong_type("whitelisted_destinations", str, pointer, item=True))
        elif not COUNTRY.fullmatch(value):
            check.bad(
                "10015",
                "Bad Request",
                'Each destination must be an ISO 3166-1 alpha-2 country code, or the list must be ["*"].',
                pointer,
            )


def _number_pool(check: _Checker, pool: JSON) -> JSON:
    clean: JSON = {"sticky_sender": False, "geomatch": False}  # the spec's defaults
    for name in ("toll_free_weight", "long_code_weight"):
        if check.present(name, float, source=pool, base="/number_pool_settings"):
            if pool[name] < 0:
                check.bad(
                    "10033",
                    "Value outside of range",
                    f"The '{name}' parameter must be greater than or equal to 0.",
                    f"/number_pool_settings/{name}",
                )
            clean[name] = pool[name]
        elif name not in pool:
            check.problems.append(_missing(name, f"/number_pool_settings/{name}"))
    for name in ("skip_unhealthy", "sticky_sender", "geomatch"):
        if check.present(name, bool, source=pool, base="/number_pool_settings"):
            clean[name] = pool[name]
        elif name == "skip_unhealthy" and name not in pool:
            check.problems.append(_missing(name, f"/number_pool_settings/{name}"))
    return clean


def _url_shortener(check: _Checker, settings: JSON) -> JSON:
    clean: JSON = {"prefix": "", "replace_blacklist_only": False, "send_webhooks": False}
    if (
        check.present("domain", str, source=settings, base="/url_shortener_settings")
        and settings["domain"]
    ):
        clean["domain"] = settings["domain"]
    elif settings.get("domain") in (None, ""):
        check.problems.append(_missing("domain", "/url_shortener_settings/domain"))
    if check.present("prefix", str, source=settings, base="/url_shortener_settings"):
        clean["prefix"] = settings["prefix"]
    for name in ("replace_blacklist_only", "send_webhooks"):
        if check.present(name, bool, source=settings, base="/url_shortener_settings"):
            clean[name] = settings[name]
    return clean


_BOOLEANS = (
    "enabled",
    "daily_spend_limit_enabled",
    "mms_fall_back_to_sms",
    "mms_transcoding",
    "mobile_only",
    "smart_encoding",
)
_URLS = ("webhook_url", "webhook_failover_url", "health_webhook_url")
_NESTED: tuple[tuple[str, Callable[[_Checker, JSON], JSON]], ...] = (
    ("number_pool_settings", _number_pool),
    ("url_shortener_settings", _url_shortener),
)


def _profile_fields(check: _Checker, *, creating: bool) -> JSON:
    """The known profile fields of the body, checked; unknown and read-only fields are ignored."""
    body: JSON = check.body
    fields: JSON = {}
    if check.present("name", str):
        if not body["name"].strip():
            check.bad("10015", "Bad Request", "The 'name' parameter must not be blank.", "/name")
        fields["name"] = body["name"]
    elif creating and "name" not in body:
        check.problems.append(_missing("name", "/name"))
    if check.present("whitelisted_destinations", list):
        _destinations(check, body["whitelisted_destinations"])
        fields["whitelisted_destinations"] = body["whitelisted_destinations"]
    for name in _BOOLEANS:
        if check.present(name, bool):
            fields[name] = body[name]
    for name in _URLS:
        if check.present(name, str, nullable=True):
            url = body[name]
            if url and (len(url) > 2000 or not URL.fullmatch(url)):
                check.bad(
                    "10003",
                    "Invalid URL",
                    f"The '{name}' parameter must be empty or an http(s) URL of at most 2000 characters.",
                    f"/{name}",
                )
            fields[name] = url
    if check.present("webhook_api_version", str):
        if body["webhook_api_version"] not in WEBHOOK_API_VERSIONS:
            check.bad(
                "10032",
                "Invalid enumerated value",
                "The 'webhook_api_version' parameter must be one of: 1, 2, 2010-04-01.",
                "/webhook_api_version",
            )
        fields["webhook_api_version"] = body["webhook_api_version"]
    if check.present("alpha_sender", str, nullable=True):
        sender = body["alpha_sender"]
        if sender is not None and not ALPHA_SENDER.fullmatch(sender):
            check.bad(
                "10015",
                "Bad Request",
                "The 'alpha_sender' parameter must be 1 to 11 letters, digits or spaces.",
                "/alpha_sender",
            )
        fields["alpha_sender"] = sender
    if check.present("daily_spend_limit", str):
        if not SPEND_LIMIT.fullmatch(body["daily_spend_limit"]):
            check.bad(
                "10015",
                "Bad Request",
                "The 'daily_spend_limit' parameter must be a decimal amount such as 10.00.",
                "/daily_spend_limit",
            )
        fields["daily_spend_limit"] = body["daily_spend_limit"]
    for name in ("ai_assistant_id", "resource_group_id"):
        if check.present(name, str, nullable=True):
            if body[name] is not None and len(body[name]) > ID_MAX_LENGTH:
                check.bad(
                    "10015",
                    "Bad Request",
                    f"The '{name}' parameter must be at most {ID_MAX_LENGTH} characters.",
                    f"/{name}",
                )
            fields[name] = body[name]
    for name, clean in _NESTED:
        if check.present(name, dict, nullable=True):
            fields[name] = None if body[name] is None else clean(check, body[name])
    if not creating and check.present("v1_secret", str):
        fields["v1_secret"] = body["v1_secret"]
    return fields


def _finish(check: _Checker, fields: JSON, *, creating: bool) -> JSON:
    check.raise_if_any()
    destinations = fields.get("whitelisted_destinations")
    if destinations == [] or (creating and destinations is None):
        raise ApiError(400, [MISSING_DESTINATIONS])
    return fields


def create_profile_fields(body: Any) -> JSON:
    """The fields of a valid CreateMessagingProfileRequest, or an ApiError."""
    check = _Checker(body)
    return _finish(check, _profile_fields(check, creating=True), creating=True)


def update_profile_fields(body: Any) -> JSON:
    """The fields of a valid UpdateMessagingProfileRequest, or an ApiError."""
    check = _Checker(body)
    return _finish(check, _profile_fields(check, creating=False), creating=False)


def _tags(check: _Checker, fields: JSON) -> None:
    if check.present("tags", list):
        for index, tag in enumerate(check.body["tags"]):
            if not isinstance(tag, str):
                check.problems.append(_wrong_type("tags", str, f"/tags/{index}", item=True))
        fields["tags"] = check.body["tags"]


def short_code_fields(body: Any) -> JSON:
    """UpdateShortCodeRequest: `messaging_profile_id` is required; null or "" unbinds."""
    check = _Checker(body)
    fields: JSON = {}
    if "messaging_profile_id" not in check.body:
        check.problems.append(_missing("messaging_profile_id", "/messaging_profile_id"))
    elif check.present("messaging_profile_id", str, nullable=True):
        fields["messaging_profile_id"] = check.body["messaging_profile_id"] or None
    _tags(check, fields)
    check.raise_if_any()
    return fields


def phone_number_fields(body: Any) -> JSON:
    """UpdatePhoneNumberMessagingSettingsRequest: omitted or null keeps, "" unassigns."""
    check = _Checker(body)
    fields: JSON = {}
    if check.present("messaging_profile_id", str, nullable=True):
        profile_id = check.body["messaging_profile_id"]
        if profile_id is not None:  # null keeps the current profile; "" unassigns
            fields["messaging_profile_id"] = profile_id or None
    if check.present("messaging_product", str, nullable=True):
        product = check.body["messaging_product"]
        if product:
            fields["messaging_product"] = product
        elif product == "":
            check.bad(
                "10015",
                "Bad Request",
                "The 'messaging_product' parameter must not be empty.",
                "/messaging_product",
            )
    _tags(check, fields)
    check.raise_if_any()
    return fields


def unknown_profile(profile_id: str) -> ApiError:
    """A body names a profile the account does not have (10017, at the field)."""
    return ApiError(
        422,
        [
            Problem(
                "10017",
                "Associated resource does not exist",
                f"No messaging profile with id '{profile_id}' exists.",
                pointer="/messaging_profile_id",
            )
        ],
    )
