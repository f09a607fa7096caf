"""The GraphQL value types: enums and the objects nested in Telnyx's resources, and the
conversions of Telnyx's loose values (a new enum value, a malformed time) into them."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TypeVar

import strawberry

from gateway.telnyx import models as telnyx


@strawberry.enum(description="The format of the webhooks a messaging profile sends.")
class WebhookApiVersion(enum.Enum):
    V1 = strawberry.enum_value("1", description='Telnyx API v1 payloads ("1").')
    V2 = strawberry.enum_value("2", description='Telnyx API v2 payloads ("2"), the default.')
    V2010_04_01 = strawberry.enum_value(
        "2010-04-01", description='The legacy TeXML-compatible format ("2010-04-01").'
    )


@strawberry.enum(description="The kind of a phone number.")
class PhoneNumberType(enum.Enum):
    LONG_CODE = strawberry.enum_value("longcode", description="A local (long code) number.")
    TOLL_FREE = strawberry.enum_value("tollfree", description="A toll-free number.")
    SHORT_CODE = strawberry.enum_value("shortcode", description="A short code.")


E = TypeVar("E", bound=enum.Enum)


def enum_of(kind: type[E], value: str | None) -> E | None:
    # A value Telnyx adds tomorrow reads as null rather than failing the whole query.
    try:
        return None if value is None else kind(value)
    except ValueError:
        return None


def time_of(value: str | None) -> datetime | None:
    """An ISO 8601 time as Telnyx sends it; null when it is not one."""
    try:
        return None if value is None else datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def id_of(value: str | None) -> strawberry.ID | None:
    return strawberry.ID(value) if value else None


@strawberry.enum(description="The period metrics are aggregated over.")
class MetricsTimeFrame(enum.Enum):
    ONE_HOUR = strawberry.enum_value("1h", description="The last hour.")
    THREE_HOURS = strawberry.enum_value("3h", description="The last three hours.")
    ONE_DAY = strawberry.enum_value("24h", description="The last 24 hours (Telnyx's default).")
    THREE_DAYS = strawberry.enum_value("3d", description="The last three days.")
    SEVEN_DAYS = strawberry.enum_value("7d", description="The last seven days.")
    THIRTY_DAYS = strawberry.enum_value("30d", description="The last thirty days.")


@strawberry.type(
    description="Number pool: Telnyx picks the sending number among the profile's numbers."
)
class NumberPoolSettings:
    toll_free_weight: float | None = strawberry.field(
        description="Relative share of sends from toll-free numbers; 0 leaves them out."
    )
    long_code_weight: float | None = strawberry.field(
        description="Relative share of sends from long-code numbers; 0 leaves them out."
    )
    skip_unhealthy: bool | None = strawberry.field(
        description="Leave out numbers below 25% deliverability or above 75% spam ratio."
    )
    sticky_sender: bool | None = strawberry.field(
        description="Keep sending to a recipient from the same number (pairing kept 8 days)."
    )
    geomatch: bool | None = strawberry.field(
        description="Prefer a sender with the recipient's area code (NANP only)."
    )

    @classmethod
    def from_telnyx(cls, s: telnyx.NumberPoolSettings) -> NumberPoolSettings:
        return cls(
            toll_free_weight=s.get("toll_free_weight"),
            long_code_weight=s.get("long_code_weight"),
            skip_unhealthy=s.get("skip_unhealthy"),
            sticky_sender=s.get("sticky_sender"),
            geomatch=s.get("geomatch"),
        )


@strawberry.type(description="Link shortening: public shortener links replaced by Telnyx's.")
class UrlShortenerSettings:
    domain: str | None = strawberry.field(description="The domain of the generated links.")
    prefix: str | None = strawberry.field(description="An optional path prefix for the links.")
    replace_blacklist_only: bool | None = strawberry.field(
        description="Replace only links Telnyx has blacklisted."
    )
    send_webhooks: bool | None = strawberry.field(
        description="Send link-click events to the profile's webhooks."
    )

    @classmethod
    def from_telnyx(cls, s: telnyx.UrlShortenerSettings) -> UrlShortenerSettings:
        return cls(
            domain=s.get("domain"),
            prefix=s.get("prefix"),
            replace_blacklist_only=s.get("replace_blacklist_only"),
            send_webhooks=s.get("send_webhooks"),
        )


@strawberry.type(description="What a number can do over SMS or MMS.")
class MessagingFeatureSet:
    domestic_two_way: bool | None = strawberry.field(
        description="Send and receive within the number's country."
    )
    international_inbound: bool | None = strawberry.field(
        description="Receive from other countries."
    )
    international_outbound: bool | None = strawberry.field(description="Send to other countries.")

    @classmethod
    def from_telnyx(cls, f: telnyx.MessagingFeatureSet | None) -> MessagingFeatureSet | None:
        if f is None:
            return None
        return cls(
            domestic_two_way=f.get("domestic_two_way"),
            international_inbound=f.get("international_inbound"),
            international_outbound=f.get("international_outbound"),
        )


@strawberry.type(description="A number's messaging capabilities.")
class MessagingFeatures:
    sms: MessagingFeatureSet | None = strawberry.field(
        description="SMS capabilities; null when the number has no SMS."
    )
    mms: MessagingFeatureSet | None = strawberry.field(
        description="MMS capabilities; null when the number has no MMS."
    )


@strawberry.type(description="A number's recent deliverability, recalculated by Telnyx.")
class NumberHealthMetrics:
    message_count: int | None = strawberry.field(description="Messages counted.")
    inbound_outbound_ratio: float | None = strawberry.field(
        description="Inbound messages per outbound message."
    )
    success_ratio: float | None = strawberry.field(description="Share delivered (0-1).")
    spam_ratio: float | None = strawberry.field(description="Share marked as spam (0-1).")
