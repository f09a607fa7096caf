"""Mutation and filter inputs, and their checked translation into Telnyx request models.

Input fields carry Telnyx's request field names (in camelCase on the wire, snake_case in
Python), so a set field maps onto the request body by name. Every field defaults to UNSET:
only what the caller gave is sent, and an explicit null is sent as null.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, TypeVar

import strawberry
from pydantic import BaseModel, ValidationError

from gateway.errors import BadInputError
from gateway.telnyx import models as telnyx
from gateway.telnyx.operation import problems_of
from schema.api.values import PhoneNumberType, WebhookApiVersion

R = TypeVar("R", bound=BaseModel)

INPUT = "input"


@strawberry.input(description="Number pool settings; all weights are non-negative.")
class NumberPoolSettingsInput:
    toll_free_weight: float = strawberry.field(
        description="Relative share of toll-free senders; 0 leaves them out."
    )
    long_code_weight: float = strawberry.field(
        description="Relative share of long-code senders; 0 leaves them out."
    )
    skip_unhealthy: bool = strawberry.field(description="Leave out unhealthy numbers.")
    sticky_sender: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Keep one sender per recipient."
    )
    geomatch: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Prefer senders with the recipient's area code."
    )


@strawberry.input(description="Link shortening settings.")
class UrlShortenerSettingsInput:
    domain: str = strawberry.field(description="The domain of the generated links.")
    prefix: str | None = strawberry.field(
        default=strawberry.UNSET, description="An optional path prefix."
    )
    replace_blacklist_only: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Replace only links Telnyx has blacklisted."
    )
    send_webhooks: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Send link-click events to the webhooks."
    )


def _opt(description: str) -> Any:
    return strawberry.field(default=strawberry.UNSET, description=description)


@strawberry.input(description="Settings every profile mutation accepts.")
class _ProfileFieldsInput:
    enabled: bool | None = _opt("Whether the profile's numbers may send and receive.")
    webhook_url: str | None = _opt("An http(s) URL for message webhooks, or empty for none.")
    webhook_failover_url: str | None = _opt("An http(s) URL used when the main one fails.")
    webhook_api_version: WebhookApiVersion | None = _opt("The webhook payload format.")
    number_pool_settings: NumberPoolSettingsInput | None = _opt(
        "The number pool; null turns it off."
    )
    url_shortener_settings: UrlShortenerSettingsInput | None = _opt(
        "Link shortening; null turns it off."
    )
    alpha_sender: str | None = _opt("1-11 letters, digits or spaces; null removes it.")
    daily_spend_limit: str | None = _opt('A USD amount as a decimal string, e.g. "10.00".')
    daily_spend_limit_enabled: bool | None = _opt("Enforce the daily spend limit.")
    mms_fall_back_to_sms: bool | None = _opt("Send an SMS when an MMS cannot be delivered.")
    mms_transcoding: bool | None = _opt("Shrink MMS media to the carrier's limit.")
    mobile_only: bool | None = _opt("Send only to mobile numbers.")
    smart_encoding: bool | None = _opt("Replace Unicode characters with GSM-7 look-alikes.")
    health_webhook_url: str | None = _opt("Deprecated by Telnyx: number-health webhooks.")
    ai_assistant_id: str | None = _opt("A linked AI assistant (at most 64 characters).")
    resource_group_id: str | None = _opt("A resource group (at most 64 characters).")


@strawberry.input(description="A new messaging profile.")
class CreateMessagingProfileInput(_ProfileFieldsInput):
    name: str = strawberry.field(description="A user-chosen name.")
    whitelisted_destinations: list[str] = strawberry.field(
        description='ISO 3166-1 alpha-2 countries the profile may send to; ["*"] for all.'
    )


@strawberry.input(description="Changes to a messaging profile; omitted fields are kept.")
class UpdateMessagingProfileInput(_ProfileFieldsInput):
    name: str | None = _opt("A user-chosen name.")
    whitelisted_destinations: list[str] | None = _opt(
        'ISO 3166-1 alpha-2 countries the profile may send to; ["*"] for all.'
    )


@strawberry.input(description="Assign a short code to a profile, or unbind it; set its tags.")
class UpdateShortCodeInput:
    messaging_profile_id: strawberry.ID | None = _opt(
        "The profile to assign, or null to unbind. Required by Telnyx."
    )
    tags: list[str] | None = _opt("Replaces the short code's tags.")


@strawberry.input(description="Assign a number to a profile or unassign it; omitted is kept.")
class UpdatePhoneNumberMessagingInput:
    messaging_profile_id: strawberry.ID | None = _opt(
        "The profile to assign; null unassigns the number; omitted keeps the current one."
    )
    messaging_product: str | None = _opt('The messaging product, e.g. "P2P"; null keeps it.')
    tags: list[str] | None = _opt("Replaces the number's tags.")


@strawberry.input(description="Narrows the list of messaging profiles.")
class MessagingProfileFilter:
    name: str | None = _opt("Only the profiles with exactly this name.")
    name_contains: str | None = _opt("Only the profiles whose name contains this text.")


@strawberry.input(description="Narrows the list of short codes.")
class ShortCodeFilter:
    messaging_profile_id: strawberry.ID | None = _opt("Only the short codes of this profile.")
    unassigned: bool | None = _opt(
        "true: only the short codes with no profile. Not combinable with messagingProfileId."
    )


@strawberry.input(description="Narrows the list of phone numbers.")
class PhoneNumberFilter:
    messaging_profile_id: strawberry.ID | None = _opt("Only the numbers of this profile.")
    phone_number: str | None = _opt("Only this number (+E.164); a comma-separated list is allowed.")
    phone_number_contains: str | None = _opt("Only the numbers containing these digits.")
    type: PhoneNumberType | None = _opt("Only numbers of this kind.")


# --- translation --------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A strawberry input as the JSON-ready dict of the fields the caller set."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not strawberry.UNSET
        }
    return value


def checked(model: type[R], body: dict[str, Any]) -> R:
    """Build a Telnyx request model, or raise BadInputError with one problem per field."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise BadInputError(problems_of(exc, where=(INPUT,))) from None


def create_profile_request(
    data: CreateMessagingProfileInput,
) -> telnyx.CreateMessagingProfileRequest:
    return checked(telnyx.CreateMessagingProfileRequest, _plain(data))


def update_profile_request(
    data: UpdateMessagingProfileInput,
) -> telnyx.UpdateMessagingProfileRequest:
    return checked(telnyx.UpdateMessagingProfileRequest, _plain(data))


def update_short_code_request(data: UpdateShortCodeInput) -> telnyx.UpdateShortCodeRequest:
    return checked(telnyx.UpdateShortCodeRequest, _plain(data))


def update_phone_number_request(
    data: UpdatePhoneNumberMessagingInput,
) -> telnyx.UpdatePhoneNumberMessagingRequest:
    body = _plain(data)
    # GraphQL's explicit null means "unassign", which Telnyx spells ""; Telnyx's own null
    # (keep) is what an omitted field already means here.
    if body.get("messaging_profile_id", "") is None:
        body["messaging_profile_id"] = ""
    if body.get("messaging_product", "") is None:
        del body["messaging_product"]
    return checked(telnyx.UpdatePhoneNumberMessagingRequest, body)
