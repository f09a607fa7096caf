"""Pydantic models of the Telnyx messaging-profile resources, requests and envelopes.

Response models are lenient, like the official SDKs: every field optional, unknown fields
kept (``extra="allow"``), enum-like fields typed as plain strings so a value Telnyx adds
tomorrow does not break parsing. Request models carry the spec's constraints, so input
can be checked before anything is sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter

T = TypeVar("T")

COUNTRY_OR_ALL = re.compile(r"^(?:[A-Z]{2}|\*)$")
ALPHA_SENDER = re.compile(r"^[A-Za-z0-9 ]{1,11}$")
SPEND_LIMIT = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")
URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$")

WEBHOOK_API_VERSIONS = ("1", "2", "2010-04-01")


class _Resource(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


# --- resources ------------------------------------------------------------------------


class NumberPoolSettings(_Resource):
    toll_free_weight: float | None = None
    long_code_weight: float | None = None
    skip_unhealthy: bool | None = None
    sticky_sender: bool | None = None
    geomatch: bool | None = None


class UrlShortenerSettings(_Resource):
    domain: str | None = None
    prefix: str | None = None
    replace_blacklist_only: bool | None = None
    send_webhooks: bool | None = None


class MessagingProfile(_Resource):
    id: str | None = None
    record_type: str | None = None
    name: str | None = None
    enabled: bool | None = None
    webhook_url: str | None = None
    webhook_failover_url: str | None = None
    webhook_api_version: str | None = None
    whitelisted_destinations: list[str] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    number_pool_settings: NumberPoolSettings | None = None
    url_shortener_settings: UrlShortenerSettings | None = None
    alpha_sender: str | None = None
    daily_spend_limit: str | None = None
    daily_spend_limit_enabled: bool | None = None
    mms_fall_back_to_sms: bool | None = None
    mms_transcoding: bool | None = None
    mobile_only: bool | None = None
    smart_encoding: bool | None = None
    redaction_enabled: bool | None = None
    redaction_level: int | None = None
    v1_secret: str | None = None
    health_webhook_url: str | None = None
    organization_id: str | None = None
    ai_assistant_id: str | None = None
    resource_group_id: str | None = None


class ShortCode(_Resource):
    id: str | None = None
    record_type: str | None = None
    short_code: str | None = None
    country_code: str | None = None
    messaging_profile_id: str | None = None
    tags: list[str] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class MessagingFeatureSet(_Resource):
    domestic_two_way: bool | None = None
    international_inbound: bool | None = None
    international_outbound: bool | None = None


class MessagingFeatures(_Resource):
    sms: MessagingFeatureSet | None = None
    mms: MessagingFeatureSet | None = None


class NumberHealthMetrics(_Resource):
    message_count: int | None = None
    inbound_outbound_ratio: float | None = None
    success_ratio: float | None = None
    spam_ratio: float | None = None


class PhoneNumberWithMessagingSettings(_Resource):
    id: str | None = None
    record_type: str | None = None
    phone_number: str | None = None
    country_code: str | None = None
    messaging_profile_id: str | None = None
    messaging_product: str | None = None
    eligible_messaging_products: list[str] | None = None
    traffic_type: str | None = None
    type: str | None = None
    features: MessagingFeatures | None = None
    health: NumberHealthMetrics | None = None
    tags: list[str] | None = None
    organization_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


# --- envelopes ------------------------------------------------------------------------


class PaginationMeta(_Resource):
    page_number: int | None = None
    page_size: int | None = None
    total_pages: int | None = None
    total_results: int | None = None


class Data(BaseModel, Generic[T]):
    """`{"data": ...}`: the envelope of a single resource."""

    model_config = ConfigDict(extra="allow", frozen=True)

    data: T


class Page(BaseModel, Generic[T]):
    """`{"data": [...], "meta": {...}}`: one page of a list."""

    model_config = ConfigDict(extra="allow", frozen=True)

    data: list[T]
    meta: PaginationMeta | None = None

    def is_last(self) -> bool:
        """The official SDKs' stop rule: no data, or `page_number >= total_pages`."""
        if not self.data:
            return True
        if self.meta is None or self.meta.total_pages is None:
            return False
        current = self.meta.page_number or 1
        return current >= self.meta.total_pages


class ErrorSource(_Resource):
    pointer: str | None = None
    parameter: str | None = None


class Error(_Resource):
    code: str | None = None
    title: str | None = None
    detail: str | None = None
    source: ErrorSource | None = None
    meta: dict[str, Any] | None = None


class Errors(_Resource):
    errors: list[Error] = Field(default_factory=list)


# --- requests -------------------------------------------------------------------------


def _check(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def validate(value: str | None) -> str | None:
        if value is not None and not pattern.fullmatch(value):
            raise ValueError(what)
        return value

    return AfterValidator(validate)


def _url_or_empty(value: str | None) -> str | None:
    if value and not URL.fullmatch(value):
        raise ValueError("must be an http(s) URL or empty")
    return value


def _webhook_api_version(value: str | None) -> str | None:
    if value is not None and value not in WEBHOOK_API_VERSIONS:
        raise ValueError(f"must be one of {', '.join(WEBHOOK_API_VERSIONS)}")
    return value


Country = Annotated[str, _check(COUNTRY_OR_ALL, "must be an ISO 3166-1 alpha-2 code or *")]
AlphaSender = Annotated[str | None, _check(ALPHA_SENDER, "must be 1-11 letters, digits or spaces")]
SpendLimit = Annotated[str, _check(SPEND_LIMIT, "must be a decimal amount such as 10.00")]
Url = Annotated[str | None, AfterValidator(_url_or_empty)]
WebhookApiVersion = Annotated[str, AfterValidator(_webhook_api_version)]
Weight = Annotated[float, Field(ge=0)]


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
    domain: str = Field(min_length=1)
    prefix: str | None = None
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
    name: str = Field(min_length=1)
    whitelisted_destinations: list[Country]


class UpdateMessagingProfileRequest(_ProfileFields):
    name: str | None = Field(default=None, min_length=1)
    whitelisted_destinations: list[Country] | None = None
    v1_secret: str | None = None


class UpdateShortCodeRequest(Request):
    # null or "" unbinds the short code from its profile.
    messaging_profile_id: str | None
    tags: list[str] | None = None


class UpdatePhoneNumberMessagingRequest(Request):
    # Omitted or null keeps the current profile; "" unassigns the number.
    messaging_profile_id: str | None = None
    messaging_product: str | None = None
    tags: list[str] | None = None


# --- parsers: built once, used on every response ----------------------------------------

PROFILE = TypeAdapter(Data[MessagingProfile])
PROFILE_PAGE = TypeAdapter(Page[MessagingProfile])
SHORT_CODE = TypeAdapter(Data[ShortCode])
SHORT_CODE_PAGE = TypeAdapter(Page[ShortCode])
PHONE_NUMBER = TypeAdapter(Data[PhoneNumberWithMessagingSettings])
PHONE_NUMBER_PAGE = TypeAdapter(Page[PhoneNumberWithMessagingSettings])
ERRORS = TypeAdapter(Errors)
