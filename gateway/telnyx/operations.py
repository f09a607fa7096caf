"""Telnyx's messaging-profile operations, one class each (see `gateway.telnyx.operation`).

To serve a new Telnyx operation, describe it here and add it to `OPERATIONS`: the client,
the service's cache and invalidation, the REST face's route and `/v2/openapi.json` follow.
The GraphQL face then needs a field that calls it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from gateway.telnyx.models import (
    AlphanumericSenderId,
    CreateMessagingProfileRequest,
    Data,
    MessagingProfile,
    Page,
    PhoneNumberWithMessagingSettings,
    ProfileMetrics,
    ProfileMetricsHighLevel,
    ShortCode,
    UpdateMessagingProfileRequest,
    UpdatePhoneNumberMessagingRequest,
    UpdateShortCodeRequest,
)
from gateway.telnyx.operation import (
    PAGE_SIZE_DEFAULT,
    UUID,
    Evict,
    Family,
    Http,
    Operation,
    PageNumber,
    PageSize,
    PhoneNumberId,
    ProfileId,
    Query,
    Read,
    ShortCodeId,
    Text,
    Write,
)

NumberType = Literal["tollfree", "longcode", "shortcode"]
SortOrder = Literal["asc", "desc"]
TimeFrame = Literal["1h", "3h", "24h", "3d", "7d", "30d"]


def _profile_or_null(value: str) -> str:
    # Telnyx's literal "null" selects the short codes with no profile.
    if value != "null" and not UUID.fullmatch(value):
        raise ValueError('must be a messaging profile id (a UUID) or "null"')
    return value


ProfileOrNull = Annotated[str, Field(max_length=36), AfterValidator(_profile_or_null)]


# --- reads ------------------------------------------------------------------------------


class ListMessagingProfiles(Read[Page[MessagingProfile]]):
    http = Http("GET", "/messaging_profiles", "ListMessagingProfiles", "List messaging profiles")
    family = Family.PROFILES

    page: PageNumber = 1
    size: PageSize = PAGE_SIZE_DEFAULT
    name: Annotated[Text | None, Query("filter[name]")] = None
    name_eq: Annotated[Text | None, Query("filter[name][eq]")] = None
    name_contains: Annotated[Text | None, Query("filter[name][contains]")] = None


class RetrieveMessagingProfile(Read[Data[MessagingProfile]]):
    http = Http(
        "GET",
        "/messaging_profiles/{id}",
        "RetrieveMessagingProfile",
        "Retrieve a messaging profile",
    )
    family = Family.PROFILES
    scope = "id"

    id: ProfileId


class ListProfilePhoneNumbers(Read[Page[PhoneNumberWithMessagingSettings]]):
    http = Http(
        "GET",
        "/messaging_profiles/{id}/phone_numbers",
        "ListProfilePhoneNumbers",
        "List the phone numbers of a messaging profile",
    )
    family = Family.PHONE_NUMBERS
    scope = "id"

    id: ProfileId
    page: PageNumber = 1
    size: PageSize = PAGE_SIZE_DEFAULT


class ListProfileShortCodes(Read[Page[ShortCode]]):
    http = Http(
        "GET",
        "/messaging_profiles/{id}/short_codes",
        "ListProfileShortCodes",
        "List the short codes of a messaging profile",
    )
    family = Family.SHORT_CODES
    scope = "id"

    id: ProfileId
    page: PageNumber = 1
    size: PageSize = PAGE_SIZE_DEFAULT


class ListProfileAlphanumericSenderIds(Read[Page[AlphanumericSenderId]]):
    http = Http(
        "GET",
        "/messaging_profiles/{id}/alphanumeric_sender_ids",
        "ListProfileAlphanumericSenderIds",
        "List the alphanumeric sender ids of a messaging profile",
    )
    family = Family.PROFILES
    scope = "id"

    id: ProfileId
    page: PageNumber = 1
    # Telnyx states no maximum for this operation; the gateway keeps the usual one.
    size: PageSize = PAGE_SIZE_DEFAULT


class RetrieveMessagingProfileMetrics(Read[Data[ProfileMetrics]]):
    http = Http(
        "GET",
        "/messaging_profiles/{id}/metrics",
        "GetDetailedProfileMetrics",
        "Get detailed messaging profile metrics",
        refusal_status=400,
    )
    family = Family.PROFILES
    scope = "id"

    id: ProfileId
    time_frame: Annotated[TimeFrame | None, Query("time_frame")] = None


class ListMessagingProfileMetrics(Read[Page[ProfileMetricsHighLevel]]):
    http = Http(
        "GET",
        "/messaging_profile_metrics",
        "GetProfileMetrics",
        "List high-level messaging profile metrics",
        refusal_status=400,
    )
    family = Family.PROFILES

    time_frame: Annotated[TimeFrame | None, Query("time_frame")] = None


class ListShortCodes(Read[Page[ShortCode]]):
    http = Http("GET", "/short_codes", "ListShortCodes", "List short codes")
    family = Family.SHORT_CODES

    page: PageNumber = 1
    size: PageSize = PAGE_SIZE_DEFAULT
    messaging_profile_id: Annotated[ProfileOrNull | None, Query("filter[messaging_profile_id]")] = (
        None
    )


class RetrieveShortCode(Read[Data[ShortCode]]):
    http = Http("GET", "/short_codes/{id}", "RetrieveShortCode", "Retrieve a short code")
    family = Family.SHORT_CODES
    scope = "id"

    id: ShortCodeId


class ListPhoneNumbers(Read[Page[PhoneNumberWithMessagingSettings]]):
    """GET /phone_numbers/messaging; `phone_number` may be a comma-separated list."""

    http = Http(
        "GET",
        "/phone_numbers/messaging",
        "ListPhoneNumbersWithMessagingSettings",
        "List phone numbers with messaging settings",
    )
    family = Family.PHONE_NUMBERS

    page: PageNumber = 1
    size: PageSize = PAGE_SIZE_DEFAULT
    # Telnyx documents a UUID; "null" (no profile), which the short codes take, goes as sent.
    messaging_profile_id: Annotated[ProfileOrNull | None, Query("filter[messaging_profile_id]")] = (
        None
    )
    phone_number: Annotated[Text | None, Query("filter[phone_number]")] = None
    phone_number_contains: Annotated[Text | None, Query("filter[phone_number][contains]")] = None
    type: Annotated[NumberType | None, Query("filter[type]")] = None
    sort: Annotated[SortOrder | None, Query("sort[phone_number]")] = None


class RetrievePhoneNumberMessaging(Read[Data[PhoneNumberWithMessagingSettings]]):
    http = Http(
        "GET",
        "/phone_numbers/{id}/messaging",
        "GetPhoneNumberMessagingSettings",
        "Retrieve a phone number's messaging settings",
    )
    family = Family.PHONE_NUMBERS
    scope = "id"

    id: PhoneNumberId


# --- writes -----------------------------------------------------------------------------

# Metrics name profiles and count their numbers: whatever changes either changes them.
_METRICS = (Evict(ListMessagingProfileMetrics), Evict(RetrieveMessagingProfileMetrics))


class CreateMessagingProfile(Write[Data[MessagingProfile], CreateMessagingProfileRequest]):
    http = Http(
        "POST", "/messaging_profiles", "CreateMessagingProfile", "Create a messaging profile"
    )
    body = CreateMessagingProfileRequest
    evicts = (Evict(ListMessagingProfiles), Evict(ListMessagingProfileMetrics))


class UpdateMessagingProfile(Write[Data[MessagingProfile], UpdateMessagingProfileRequest]):
    http = Http(
        "PATCH", "/messaging_profiles/{id}", "UpdateMessagingProfile", "Update a messaging profile"
    )
    body = UpdateMessagingProfileRequest
    evicts = (
        Evict(RetrieveMessagingProfile, "id"),
        Evict(ListMessagingProfiles),
        Evict(RetrieveMessagingProfileMetrics, "id"),
        Evict(ListMessagingProfileMetrics),
    )

    id: ProfileId


class DeleteMessagingProfile(Write[Data[MessagingProfile], None]):
    http = Http(
        "DELETE", "/messaging_profiles/{id}", "DeleteMessagingProfile", "Delete a messaging profile"
    )
    # Telnyx unassigns the profile's numbers and short codes: every view of them changed.
    evicts = (
        Evict(RetrieveMessagingProfile, "id"),
        Evict(ListMessagingProfiles),
        Evict(ListProfilePhoneNumbers, "id"),
        Evict(ListProfileShortCodes, "id"),
        Evict(ListProfileAlphanumericSenderIds, "id"),
        Evict(RetrieveShortCode),
        Evict(ListShortCodes),
        Evict(RetrievePhoneNumberMessaging),
        Evict(ListPhoneNumbers),
        *_METRICS,
    )

    id: ProfileId


class RegenerateMessagingProfileSecret(Write[Data[MessagingProfile], None]):
    http = Http(
        "POST",
        "/messaging_profiles/{id}/actions/regenerate_secret",
        "RegenerateMessagingProfileSecret",
        "Regenerate a messaging profile's v1 secret",
    )
    evicts = (Evict(RetrieveMessagingProfile, "id"), Evict(ListMessagingProfiles))

    id: ProfileId


class UpdateShortCode(Write[Data[ShortCode], UpdateShortCodeRequest]):
    http = Http("PATCH", "/short_codes/{id}", "UpdateShortCode", "Update a short code")
    body = UpdateShortCodeRequest
    # The old profile is not in the response, so every profile's nested list goes.
    evicts = (Evict(RetrieveShortCode, "id"), Evict(ListShortCodes), Evict(ListProfileShortCodes))

    id: ShortCodeId


class UpdatePhoneNumberMessaging(
    Write[Data[PhoneNumberWithMessagingSettings], UpdatePhoneNumberMessagingRequest]
):
    http = Http(
        "PATCH",
        "/phone_numbers/{id}/messaging",
        "UpdatePhoneNumberMessagingSettings",
        "Update a phone number's messaging settings",
    )
    body = UpdatePhoneNumberMessagingRequest
    # A number is read by its id or its E.164 string, each its own entry: evict all. The
    # old profile is not in the response, so every profile's nested list goes.
    evicts = (
        Evict(RetrievePhoneNumberMessaging),
        Evict(ListPhoneNumbers),
        Evict(ListProfilePhoneNumbers),
        *_METRICS,
    )

    id: PhoneNumberId


# Every operation the gateway serves, in the order the REST face documents them.
OPERATIONS: tuple[type[Operation[Any]], ...] = (
    ListMessagingProfiles,
    CreateMessagingProfile,
    RetrieveMessagingProfile,
    UpdateMessagingProfile,
    DeleteMessagingProfile,
    ListProfilePhoneNumbers,
    ListProfileShortCodes,
    RetrieveMessagingProfileMetrics,
    RegenerateMessagingProfileSecret,
    ListProfileAlphanumericSenderIds,
    ListMessagingProfileMetrics,
    ListShortCodes,
    RetrieveShortCode,
    UpdateShortCode,
    ListPhoneNumbers,
    RetrievePhoneNumberMessaging,
    UpdatePhoneNumberMessaging,
)
