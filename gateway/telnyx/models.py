"""Telnyx's messaging resources, envelopes and request bodies.

Responses are kept as the JSON Telnyx sent: the upstream bytes, parsed with orjson into
plain dicts when a value is needed. The TypedDicts below describe them for the type
checker and for `/v2/openapi.json`; nothing validates them field by field, which is what
the official SDKs do too (lenient: every field optional, unknown fields kept, enum-like
fields plain strings, so a value Telnyx adds tomorrow breaks nothing). Parsing checks only
the envelope. Request bodies are pydantic models carrying the spec's constraints, so input
is checked before anything is sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Generic, NotRequired, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, with_config
from typing_extensions import TypedDict

T = TypeVar("T")

COUNTRY_OR_ALL = re.compile(r"^(?:[A-Z]{2}|\*)$")
ALPHA_SENDER = re.compile(r"^[A-Za-z0-9 ]{1,11}$")
SPEND_LIMIT = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")
URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$")
URL_OR_EMPTY = r"^(?:https?://[^\s/?#]+\S*)?$"
URL_MAX = 2000
SPEND_LIMIT_MAX = 32

WEBHOOK_API_VERSIONS = ("1", "2", "2010-04-01")

# ISO 8601, as Telnyx sends it; kept as text.
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]

# --- resources ------------------------------------------------------------------------


@with_config(ConfigDict(extra="allow"))
class NumberPoolSettings(TypedDict, total=False):
    toll_free_weight: float | None
    long_code_weight: float | None
    skip_unhealthy: bool | None
    sticky_sender: bool | None
    geomatch: bool | None


@with_config(ConfigDict(extra="allow"))
class UrlShortenerSettings(TypedDict, total=False):
    domain: str | None
    prefix: str | None
    replace_blacklist_only: bool | None
    send_webhooks: bool | None


@with_config(ConfigDict(extra="allow"))
class MessagingProfile(TypedDict, total=False):
    id: str | None
    record_type: str | None
    name: str | None
    enabled: bool | None
    webhook_url: str | None
    webhook_failover_url: str | None
    webhook_api_version: str | None
    whitelisted_destinations: list[str] | None
    created_at: Timestamp | None
    updated_at: Timestamp | None
    number_pool_settings: NumberPoolSettings | None
    url_shortener_settings: UrlShortenerSettings | None
    alpha_sender: str | None
    daily_spend_limit: str | None
    daily_spend_limit_enabled: bool | None
    mms_fall_back_to_sms: bool | None
    mms_transcoding: bool | None
    mobile_only: bool | None
    smart_encoding: bool | None
    redaction_enabled: bool | None
    redaction_level: int | None
    v1_secret: str | None
    health_webhook_url: str | None
    organization_id: str | None
    ai_assistant_id: str | None
    resource_group_id: str | None


@with_config(ConfigDict(extra="allow"))
class ShortCode(TypedDict, total=False):
    id: str | None
    record_type: str | None
    short_code: str | None
    country_code: str | None
    messaging_profile_id: str | None
    tags: list[str] | None
    created_at: Timestamp | None
    updated_at: Timestamp | None


@with_config(ConfigDict(extra="allow"))
class MessagingFeatureSet(TypedDict, total=False):
    domestic_two_way: bool | None
    international_inbound: bool | None
    international_outbound: bool | None


@with_config(ConfigDict(extra="allow"))
class MessagingFeatures(TypedDict, total=False):
    sms: MessagingFeatureSet | None
    mms: MessagingFeatureSet | None


@with_config(ConfigDict(extra="allow"))
class NumberHealthMetrics(TypedDict, total=False):
    message_count: int | None
    inbound_outbound_ratio: float | None
    success_ratio: float | None
    spam_ratio: float | None


@with_config(ConfigDict(extra="allow"))
class PhoneNumberWithMessagingSettings(TypedDict, total=False):
    id: str | None
    record_type: str | None
    phone_number: str | None
    country_code: str | None
    messaging_profile_id: str | None
    messaging_product: str | None
    eligible_messaging_products: list[str] | None
    traffic_type: str | None
    type: str | None
    features: MessagingFeatures | None
    health: NumberHealthMetrics | None
    tags: list[str] | None
    organization_id: str | None
    created_at: Timestamp | None
    updated_at: Timestamp | None


@with_config(ConfigDict(extra="allow"))
class AlphanumericSenderId(TypedDict, total=False):
    id: str | None
    record_type: str | None
    alphanumeric_sender_id: str | None
    messaging_profile_id: str | None
    organization_id: str | None
    us_long_code_fallback: str | None


@with_config(ConfigDict(extra="allow"))
class ProfileMetrics(TypedDict, total=False):
    """Detailed metrics of one profile: free-form (Telnyx names no fields)."""


@with_config(ConfigDict(extra="allow"))
class ProfileMetricsHighLevel(TypedDict, total=False):
    """A summary of one profile's metrics: free-form (Telnyx names no fields)."""


# --- envelopes ------------------------------------------------------------------------


@with_config(ConfigDict(extra="allow"))
class PaginationMeta(TypedDict, total=False):
    page_number: int | None
    page_size: int | None
    total_pages: int | None
    total_results: int | None


class Data(TypedDict, Generic[T]):
    """`{"data": ...}`: the envelope of a single resource."""

    data: T


class Page(TypedDict, Generic[T]):
    """`{"data": [...], "meta": {...}}`: one page of a list."""

    data: list[T]
    meta: NotRequired[PaginationMeta | None]


def count(value: object) -> int | None:
    """An integer of `meta`, or None when Telnyx sent none (or something else)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def meta_of(page: Page[Any]) -> PaginationMeta:
    return page.get("meta") or {}


def total_results(page: Page[Any]) -> int | None:
    return count(meta_of(page).get("total_results"))


def is_last(page: Page[Any]) -> bool:
    """The official SDKs' stop rule: no data, or `page_number >= total_pages`."""
    if not page["data"]:
        return True
    meta = meta_of(page)
    total_pages = count(meta.get("total_pages"))
    if total_pages is None:
        return False
    return (count(meta.get("page_number")) or 1) >= total_pages


class ErrorSource(TypedDict, total=False):
    pointer: str
    parameter: str


class Error(TypedDict, total=False):
    code: str
    title: str
    detail: str
    source: ErrorSource
    meta: dict[str, Any]


class Errors(TypedDict):
    errors: list[Error]


# --- request bodies -------------------------------------------------------------------


def _check(pattern: re.Pattern[str], what: str, *, longest: int = 255) -> AfterValidator:
    def validate(value: str | None) -> str | None:
        if value is not None and (len(value) > longest or not pattern.fullmatch(value)):
            raise ValueError(what)
        return value

    return AfterValidator(validate)


def _url_or_empty(value: str | None) -> str | None:
    if value and (len(value) > URL_MAX or not URL.fullmatch(value)):
        raise ValueError(f"must be an http(s) URL of at most {URL_MAX} characters, or empty")
    return value


def _webhook_api_version(value: str | None) -> str | None:
    if value is not None and value not in WEBHOOK_API_VERSIONS:
        raise ValueError(f"must be one of {', '.join(WEBHOOK_API_VERSIONS)}")
    return value


# The checks live in validators (for their messages); the schema keywords beside them tell
# `/v2/openapi.json`, so generated clients and fuzzers send what Telnyx accepts.
Country = Annotated[
    str,
    _check(COUNTRY_OR_ALL, "must be an ISO 3166-1 alpha-2 code or *"),
    Field(json_schema_extra={"pattern": COUNTRY_OR_ALL.pattern}),
]
AlphaSender = Annotated[
    str | None,
    _check(ALPHA_SENDER, "must be 1-11 letters, digits or spaces"),
    Field(json_schema_extra={"pattern": ALPHA_SENDER.pattern}),
]
SpendLimit = Annotated[
    str,
    _check(SPEND_LIMIT, "must be a decimal amount such as 10.00", longest=SPEND_LIMIT_MAX),
    Field(json_schema_extra={"pattern": SPEND_LIMIT.pattern, "maxLength": SPEND_LIMIT_MAX}),
]
# The checks are in the validator: a length constraint on an optional string would be
# applied to its null too.
Url = Annotated[
    str | None,
    AfterValidator(_url_or_empty),
    Field(json_schema_extra={"pattern": URL_OR_EMPTY, "maxLength": URL_MAX}),
]
WebhookApiVersion = Annotated[
    str,
    AfterValidator(_webhook_api_version),
    Field(json_schema_extra={"enum": list(WEBHOOK_API_VERSIONS)}),
]
Weight = Annotated[float, Field(ge=0)]
Name = Annotated[str, Field(min_length=1, max_length=255, json_schema_extra={"pattern": r"\S"})]
Tag = Annotated[str, Field(max_length=255)]


# A request body exactly as a caller wrote it (the REST face forwards these unvalidated).
RawBody = Mapping[str, Any]


class Request(BaseModel):
    """A request body; `to_json` is what goes on the wire."""

    # Fields Telnyx adds before we model them are forwarded, not dropped.
    model_config = ConfigDict(extra="allow")

    def to_json(self) -> dict[str, Any]:
        """The body to send: only the fields the caller set, so PATCH keeps the rest."""
        return self.model_dump(mode="json", exclude_unset=True)


class NumberPoolSettingsInput(Request):
    toll_free_weight: Weight
    long_code_weight: Weight
    skip_unhealthy: bool
    sticky_sender: bool | None = None
    geomatch: bool | None = None


class UrlShortenerSettingsInput(Request):
    domain: str = Field(min_length=1, max_length=255)
    prefix: str | None = Field(default=None, max_length=255)
    replace_blacklist_only: bool | None = None
    send_webhooks: bool | None = None


class _ProfileFields(Request):
    enabled: bool | None = None
    webhook_url: Url = None
    webhook_failover_url: Url = None
    webhook_api_version: WebhookApiVersion | None = None
    number_pool_settings: NumberPoolSettingsInput | None = None
    url_shortener_settings: UrlShortenerSettingsInput | None = None
    alpha_sender: AlphaSender = None
    daily_spend_limit: SpendLimit | None = None
    daily_spend_limit_enabled: bool | None = None
    mms_fall_back_to_sms: bool | None = None
    mms_transcoding: bool | None = None
    mobile_only: bool | None = None
    smart_encoding: bool | None = None
    health_webhook_url: Url = None
    ai_assistant_id: str | None = Field(default=None, max_length=64)
    resource_group_id: str | None = Field(default=None, max_length=64)


class CreateMessagingProfileRequest(_ProfileFields):
    name: Name
    whitelisted_destinations: list[Country] = Field(max_length=300)


class UpdateMessagingProfileRequest(_ProfileFields):
    name: Name | None = None
    whitelisted_destinations: list[Country] | None = Field(default=None, max_length=300)
    v1_secret: str | None = Field(default=None, max_length=255)


class UpdateShortCodeRequest(Request):
    # null or "" unbinds the short code from its profile.
    messaging_profile_id: str | None = Field(max_length=64)
    tags: list[Tag] | None = Field(default=None, max_length=100)


class UpdatePhoneNumberMessagingRequest(Request):
    # Omitted or null keeps the current profile; "" unassigns the number.
    messaging_profile_id: str | None = Field(default=None, max_length=64)
    messaging_product: str | None = Field(default=None, max_length=64)
    tags: list[Tag] | None = Field(default=None, max_length=100)
