"""The GraphQL object types: Telnyx's resources, every field in camelCase.

`v1_secret` is deliberately absent: it authenticates Telnyx's legacy v1 API, and frontend
callers have no use for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, TypeVar, cast

import strawberry
from strawberry.scalars import JSON

from gateway.telnyx import models as telnyx
from schema.api.connection import Connection, build_connection, connect
from schema.api.context import Info
from schema.api.loaders import read_nested
from schema.api.nested import ALPHANUMERIC_SENDER_IDS, PHONE_NUMBERS, SHORT_CODES, Nested
from schema.api.paging import DEFAULT_FIRST, Slice, window
from schema.api.values import (
    MessagingFeatures,
    MessagingFeatureSet,
    MetricsTimeFrame,
    NumberHealthMetrics,
    NumberPoolSettings,
    PhoneNumberType,
    UrlShortenerSettings,
    WebhookApiVersion,
    enum_of,
    id_of,
    time_of,
)

T = TypeVar("T")
N = TypeVar("N")

First = Annotated[
    int | None,
    strawberry.argument(
        description=f"How many items to return: {DEFAULT_FIRST} when omitted, at most the "
        "gateway's maximum page size."
    ),
]
After = Annotated[
    str | None,
    strawberry.argument(description="Return the items after this cursor (an `endCursor`)."),
]


def _nested(
    nested: Nested[T],
    node: Callable[[T], N],
    root: MessagingProfile,
    info: Info,
    first: int | None,
    after: str | None,
) -> Connection[N] | Awaitable[Connection[N]]:
    """The connection of a profile's nested list. Synchronous when its pages were read
    ahead with the profile (`schema.speedups.lookahead`), so it completes without a
    coroutine; otherwise an awaitable."""
    win = window(nested.kind, first, after, max_first=info.context.max_page_size)
    loader = info.context.loaders.nested(nested)
    turns = info.context.turns
    sliced = read_nested(loader, root.id, win)
    if not isinstance(sliced, Slice):
        return connect(nested.kind, sliced, node)
    if turns.building and turns.due():
        # A heavy answer past its slice: build this page in its turn (`schema.limits.turns`).
        async def in_turn(sliced: Slice[T]) -> Connection[N]:
            async with turns.turn():
                return build_connection(nested.kind, sliced, node)

        return in_turn(sliced)
    return build_connection(nested.kind, sliced, node)


def _profile_phone_numbers(
    root: MessagingProfile, info: Info, first: First = None, after: After = None
) -> Connection[PhoneNumber] | Awaitable[Connection[PhoneNumber]]:
    return _nested(PHONE_NUMBERS, PhoneNumber.from_telnyx, root, info, first, after)


def _profile_short_codes(
    root: MessagingProfile, info: Info, first: First = None, after: After = None
) -> Connection[ShortCode] | Awaitable[Connection[ShortCode]]:
    return _nested(SHORT_CODES, ShortCode.from_telnyx, root, info, first, after)


def _profile_alphanumeric_sender_ids(
    root: MessagingProfile, info: Info, first: First = None, after: After = None
) -> Connection[AlphanumericSenderId] | Awaitable[Connection[AlphanumericSenderId]]:
    return _nested(
        ALPHANUMERIC_SENDER_IDS, AlphanumericSenderId.from_telnyx, root, info, first, after
    )


async def _profile_metrics(
    root: MessagingProfile,
    info: Info,
    time_frame: Annotated[
        MetricsTimeFrame | None,
        strawberry.argument(description="The period; Telnyx's default (24 hours) when omitted."),
    ] = None,
) -> JSON:
    frame = None if time_frame is None else cast(str, time_frame.value)
    return JSON(await info.context.loaders.metrics.load((root.id, frame)))


async def _profile(root: ShortCode | PhoneNumber, info: Info) -> MessagingProfile | None:
    if not root.messaging_profile_id:
        return None
    loaded = await info.context.loaders.profile.load(root.messaging_profile_id)
    return MessagingProfile.from_telnyx(loaded)


@strawberry.type(description="A messaging profile: webhooks and sending rules for its numbers.")
class MessagingProfile:
    id: strawberry.ID = strawberry.field(description="Telnyx's id of the profile (a UUID).")
    record_type: str | None = strawberry.field(description='Always "messaging_profile".')
    name: str | None = strawberry.field(description="A user-chosen name.")
    enabled: bool | None = strawberry.field(
        description="Whether the profile's numbers may send and receive."
    )
    webhook_url: str | None = strawberry.field(
        description="Where message webhooks are sent; empty for none."
    )
    webhook_failover_url: str | None = strawberry.field(
        description="Where webhooks go when the main URL fails; empty for none."
    )
    webhook_api_version: WebhookApiVersion | None = strawberry.field(
        description="The webhook payload format."
    )
    whitelisted_destinations: list[str] | None = strawberry.field(
        description='ISO 3166-1 alpha-2 countries the profile may send to; ["*"] for all.'
    )
    created_at: datetime | None = strawberry.field(description="When the profile was created.")
    updated_at: datetime | None = strawberry.field(description="When it last changed.")
    number_pool_settings: NumberPoolSettings | None = strawberry.field(
        description="The number pool; null when the pool is off."
    )
    url_shortener_settings: UrlShortenerSettings | None = strawberry.field(
        description="Link shortening; null when off."
    )
    alpha_sender: str | None = strawberry.field(
        description="Alphanumeric sender id (1-11 letters, digits, spaces); one-way, not to US/CA."
    )
    daily_spend_limit: str | None = strawberry.field(
        description='Daily USD spend limit as a decimal string, e.g. "10.00".'
    )
    daily_spend_limit_enabled: bool | None = strawberry.field(
        description="Whether the daily spend limit is enforced (resets at midnight UTC)."
    )
    mms_fall_back_to_sms: bool | None = strawberry.field(
        description="Send an SMS when an MMS cannot be delivered."
    )
    mms_transcoding: bool | None = strawberry.field(
        description="Shrink MMS media to the destination carrier's size limit."
    )
    mobile_only: bool | None = strawberry.field(description="Send only to mobile numbers.")
    smart_encoding: bool | None = strawberry.field(
        description="Replace Unicode characters with GSM-7 look-alikes to save segments."
    )
    redaction_enabled: bool | None = strawberry.field(
        description="Whether message content is redacted in logs."
    )
    redaction_level: int | None = strawberry.field(description="How much is redacted.")
    health_webhook_url: str | None = strawberry.field(
        description="Where number-health webhooks are sent.",
        deprecation_reason="Deprecated by Telnyx.",
    )
    organization_id: str | None = strawberry.field(description="The owning Telnyx organization.")
    ai_assistant_id: str | None = strawberry.field(description="A linked AI assistant, if any.")
    resource_group_id: str | None = strawberry.field(description="A resource group, if any.")

    @classmethod
    def from_telnyx(cls, p: telnyx.MessagingProfile) -> MessagingProfile:
        pool, shortener = p.get("number_pool_settings"), p.get("url_shortener_settings")
        return cls(
            id=strawberry.ID(p.get("id") or ""),
            record_type=p.get("record_type"),
            name=p.get("name"),
            enabled=p.get("enabled"),
            webhook_url=p.get("webhook_url"),
            webhook_failover_url=p.get("webhook_failover_url"),
            webhook_api_version=enum_of(WebhookApiVersion, p.get("webhook_api_version")),
            whitelisted_destinations=p.get("whitelisted_destinations"),
            created_at=time_of(p.get("created_at")),
            updated_at=time_of(p.get("updated_at")),
            number_pool_settings=NumberPoolSettings.from_telnyx(pool) if pool else None,
            url_shortener_settings=UrlShortenerSettings.from_telnyx(shortener)
            if shortener
            else None,
            alpha_sender=p.get("alpha_sender"),
            daily_spend_limit=p.get("daily_spend_limit"),
            daily_spend_limit_enabled=p.get("daily_spend_limit_enabled"),
            mms_fall_back_to_sms=p.get("mms_fall_back_to_sms"),
            mms_transcoding=p.get("mms_transcoding"),
            mobile_only=p.get("mobile_only"),
            smart_encoding=p.get("smart_encoding"),
            redaction_enabled=p.get("redaction_enabled"),
            redaction_level=p.get("redaction_level"),
            health_webhook_url=p.get("health_webhook_url"),
            organization_id=p.get("organization_id"),
            ai_assistant_id=p.get("ai_assistant_id"),
            resource_group_id=p.get("resource_group_id"),
        )

    # The GraphQL type is the annotation's; the resolvers may return it later (awaitable).
    phone_numbers: Connection[PhoneNumber] = strawberry.field(  # type: ignore[assignment]
        resolver=_profile_phone_numbers,
        description="The phone numbers assigned to this profile, in phone-number order.",
    )
    short_codes: Connection[ShortCode] = strawberry.field(  # type: ignore[assignment]
        resolver=_profile_short_codes,
        description="The short codes assigned to this profile, in the order Telnyx lists the "
        "account's short codes.",
    )
    alphanumeric_sender_ids: Connection[AlphanumericSenderId] = strawberry.field(  # type: ignore[assignment]
        resolver=_profile_alphanumeric_sender_ids,
        description="The alphanumeric sender ids of this profile, as Telnyx lists them.",
    )
    metrics: JSON = strawberry.field(
        resolver=_profile_metrics,
        description="This profile's messaging metrics for the period, as Telnyx reports them "
        "(Telnyx documents no fixed fields).",
    )


@strawberry.type(description="A short code (a 5-6 digit sender) and the profile it sends for.")
class ShortCode:
    id: strawberry.ID = strawberry.field(description="Telnyx's id of the short code (a UUID).")
    record_type: str | None = strawberry.field(description='Always "short_code".')
    short_code: str | None = strawberry.field(description="The short code itself.")
    country_code: str | None = strawberry.field(description="ISO 3166-1 alpha-2 country.")
    messaging_profile_id: strawberry.ID | None = strawberry.field(
        description="The assigned profile's id; null when unassigned."
    )
    tags: list[str] | None = strawberry.field(description="User-defined tags.")
    created_at: datetime | None = strawberry.field(description="When it was created.")
    updated_at: datetime | None = strawberry.field(description="When it last changed.")

    @classmethod
    def from_telnyx(cls, s: telnyx.ShortCode) -> ShortCode:
        return cls(
            id=strawberry.ID(s.get("id") or ""),
            record_type=s.get("record_type"),
            short_code=s.get("short_code"),
            country_code=s.get("country_code"),
            messaging_profile_id=id_of(s.get("messaging_profile_id")),
            tags=s.get("tags"),
            created_at=time_of(s.get("created_at")),
            updated_at=time_of(s.get("updated_at")),
        )

    messaging_profile: MessagingProfile | None = strawberry.field(
        resolver=_profile, description="The assigned profile; null when unassigned."
    )


@strawberry.type(description="A phone number's messaging settings.")
class PhoneNumber:
    id: strawberry.ID = strawberry.field(description="Telnyx's id of the number.")
    record_type: str | None = strawberry.field(description="Telnyx's record type.")
    phone_number: str | None = strawberry.field(description="The number in +E.164 format.")
    country_code: str | None = strawberry.field(description="ISO 3166-1 alpha-2 country.")
    messaging_profile_id: strawberry.ID | None = strawberry.field(
        description="The assigned profile's id; null when unassigned."
    )
    messaging_product: str | None = strawberry.field(
        description='The messaging product, e.g. "P2P" or "A2P".'
    )
    eligible_messaging_products: list[str] | None = strawberry.field(
        description="The products the number may switch to."
    )
    traffic_type: str | None = strawberry.field(description="The number's traffic type.")
    type: PhoneNumberType | None = strawberry.field(description="The kind of number.")
    features: MessagingFeatures | None = strawberry.field(description="SMS and MMS capabilities.")
    health: NumberHealthMetrics | None = strawberry.field(description="Deliverability metrics.")
    tags: list[str] | None = strawberry.field(description="User-defined tags.")
    organization_id: str | None = strawberry.field(description="The owning Telnyx organization.")
    created_at: datetime | None = strawberry.field(description="When it was created.")
    updated_at: datetime | None = strawberry.field(description="When it last changed.")

    @classmethod
    def from_telnyx(cls, n: telnyx.PhoneNumberWithMessagingSettings) -> PhoneNumber:
        f, h, kind = n.get("features"), n.get("health"), n.get("type")
        return cls(
            id=strawberry.ID(n.get("id") or ""),
            record_type=n.get("record_type"),
            phone_number=n.get("phone_number"),
            country_code=n.get("country_code"),
            messaging_profile_id=id_of(n.get("messaging_profile_id")),
            messaging_product=n.get("messaging_product"),
            eligible_messaging_products=n.get("eligible_messaging_products"),
            traffic_type=n.get("traffic_type"),
            # Telnyx spells the kinds both "long-code" and "longcode".
            type=enum_of(PhoneNumberType, kind.replace("-", "") if isinstance(kind, str) else None),
            features=MessagingFeatures(
                sms=MessagingFeatureSet.from_telnyx(f.get("sms")),
                mms=MessagingFeatureSet.from_telnyx(f.get("mms")),
            )
            if f
            else None,
            health=NumberHealthMetrics(
                message_count=h.get("message_count"),
                inbound_outbound_ratio=h.get("inbound_outbound_ratio"),
                success_ratio=h.get("success_ratio"),
                spam_ratio=h.get("spam_ratio"),
            )
            if h
            else None,
            tags=n.get("tags"),
            organization_id=n.get("organization_id"),
            created_at=time_of(n.get("created_at")),
            updated_at=time_of(n.get("updated_at")),
        )

    messaging_profile: MessagingProfile | None = strawberry.field(
        resolver=_profile, description="The assigned profile; null when unassigned."
    )


@strawberry.type(description="An alphanumeric sender id: a text sender name of a profile.")
class AlphanumericSenderId:
    id: strawberry.ID = strawberry.field(description="Telnyx's id of the sender id (a UUID).")
    record_type: str | None = strawberry.field(description='Always "alphanumeric_sender_id".')
    alphanumeric_sender_id: str | None = strawberry.field(
        description="The sender name shown to recipients."
    )
    messaging_profile_id: strawberry.ID | None = strawberry.field(
        description="The profile it belongs to."
    )
    organization_id: str | None = strawberry.field(description="The owning Telnyx organization.")
    us_long_code_fallback: str | None = strawberry.field(
        description="The US long code sent from instead, for US destinations."
    )

    @classmethod
    def from_telnyx(cls, a: telnyx.AlphanumericSenderId) -> AlphanumericSenderId:
        return cls(
            id=strawberry.ID(a.get("id") or ""),
            record_type=a.get("record_type"),
            alphanumeric_sender_id=a.get("alphanumeric_sender_id"),
            messaging_profile_id=id_of(a.get("messaging_profile_id")),
            organization_id=a.get("organization_id"),
            us_long_code_fallback=a.get("us_long_code_fallback"),
        )
