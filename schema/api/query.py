"""The root Query: the tenant's profiles, short codes, phone numbers and metrics."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar, cast

import strawberry
from strawberry.scalars import JSON

from gateway.errors import BadInputError, FieldProblem
from gateway.telnyx import checked
from gateway.telnyx import models as telnyx
from gateway.telnyx.operation import Read
from gateway.telnyx.operations import (
    ListMessagingProfileMetrics,
    ListMessagingProfiles,
    ListPhoneNumbers,
    ListShortCodes,
)
from schema.api.connection import Connection, build_connection
from schema.api.context import Context, Info
from schema.api.inputs import MessagingProfileFilter, PhoneNumberFilter, ShortCodeFilter
from schema.api.paging import Slice, Window, read_window, window
from schema.api.selection import nested_asked
from schema.api.types import After, First, MessagingProfile, PhoneNumber, ShortCode
from schema.api.values import MetricsTimeFrame

T = TypeVar("T")

# Cursor kinds of the root connections.
PROFILES = "profiles"
SHORT_CODES = "short_codes"
PHONE_NUMBERS = "phone_numbers"

Id = Annotated[strawberry.ID, strawberry.argument(description="Telnyx's id of the item.")]


def _given(value: Any) -> Any:
    # Omitted (UNSET) and null both mean "no such filter".
    return None if value is strawberry.UNSET else value


def _filtered(make: type[Read[telnyx.Page[T]]], **values: Any) -> Read[telnyx.Page[T]]:
    """The list's first page with the caller's filter, checked before any call."""
    try:
        return checked(make.model_validate, values)
    except BadInputError as exc:
        raise exc.under("filter") from None


async def _read_list(ctx: Context, listing: Read[telnyx.Page[T]], win: Window) -> Slice[T]:
    async def fetch(page: int, size: int) -> telnyx.Page[T]:
        call = listing.model_copy(update={"page": page, "size": size})
        fetched = await ctx.service.read(ctx.caller, call)
        async with ctx.turns.turn():
            return fetched.value

    return await read_window(win, fetch)


async def resolve_messaging_profiles(
    info: Info,
    first: First = None,
    after: After = None,
    filter: Annotated[
        MessagingProfileFilter | None, strawberry.argument(description="Narrows the list.")
    ] = None,
) -> Connection[MessagingProfile]:
    ctx = info.context
    wanted = filter or MessagingProfileFilter()
    listing = _filtered(
        ListMessagingProfiles,
        name=_given(wanted.name),
        name_contains=_given(wanted.name_contains),
    )
    win = window(PROFILES, first, after, max_first=ctx.max_page_size)
    # The account-wide lists the profiles' nested lists may come from are read with the page.
    ctx.loaders.prefetch([asked.nested for asked in nested_asked(info)], profiles=win.first)
    profiles = await _read_list(ctx, listing, win)
    ctx.loaders.prime_profiles(profiles.items)
    connection = build_connection(PROFILES, profiles, MessagingProfile.from_telnyx)
    if ctx.read_ahead is not None:
        await ctx.read_ahead(info, [edge.node.id for edge in connection.edges])
    return connection


async def resolve_messaging_profile(info: Info, id: Id) -> MessagingProfile | None:
    profile = await info.context.loaders.profile.load(id)
    return MessagingProfile.from_telnyx(profile)


async def resolve_short_codes(
    info: Info,
    first: First = None,
    after: After = None,
    filter: Annotated[
        ShortCodeFilter | None, strawberry.argument(description="Narrows the list.")
    ] = None,
) -> Connection[ShortCode]:
    ctx = info.context
    wanted = filter or ShortCodeFilter()
    profile_id = _given(wanted.messaging_profile_id)
    if _given(wanted.unassigned):
        if profile_id is not None:
            raise BadInputError(
                [
                    FieldProblem(
                        ("filter", "unassigned"), "cannot be combined with messagingProfileId"
                    )
                ]
            )
        # Telnyx's literal "null" selects the short codes without a profile.
        profile_id = "null"
    listing = _filtered(ListShortCodes, messaging_profile_id=profile_id)
    codes = await _read_list(
        ctx, listing, window(SHORT_CODES, first, after, max_first=ctx.max_page_size)
    )
    ctx.loaders.prime_short_codes(codes.items)
    return build_connection(SHORT_CODES, codes, ShortCode.from_telnyx)


async def resolve_short_code(info: Info, id: Id) -> ShortCode | None:
    return ShortCode.from_telnyx(await info.context.loaders.short_code.load(id))


async def resolve_phone_numbers(
    info: Info,
    first: First = None,
    after: After = None,
    filter: Annotated[
        PhoneNumberFilter | None, strawberry.argument(description="Narrows the list.")
    ] = None,
) -> Connection[PhoneNumber]:
    ctx = info.context
    wanted = filter or PhoneNumberFilter()
    number_type = _given(wanted.type)
    listing = _filtered(
        ListPhoneNumbers,
        messaging_profile_id=_given(wanted.messaging_profile_id),
        phone_number=_given(wanted.phone_number),
        phone_number_contains=_given(wanted.phone_number_contains),
        type=number_type.value if number_type else None,
    )
    numbers = await _read_list(
        ctx, listing, window(PHONE_NUMBERS, first, after, max_first=ctx.max_page_size)
    )
    ctx.loaders.prime_phone_numbers(numbers.items)
    return build_connection(PHONE_NUMBERS, numbers, PhoneNumber.from_telnyx)


async def resolve_phone_number(info: Info, id: Id) -> PhoneNumber | None:
    number = await info.context.loaders.phone_number.load(id)
    return PhoneNumber.from_telnyx(number)


async def resolve_messaging_profile_metrics(
    info: Info,
    time_frame: Annotated[
        MetricsTimeFrame | None,
        strawberry.argument(description="The period; Telnyx's default (24 hours) when omitted."),
    ] = None,
) -> list[JSON]:
    ctx = info.context
    values = {"time_frame": None if time_frame is None else cast(str, time_frame.value)}
    call = checked(ListMessagingProfileMetrics.model_validate, values)
    listed = (await ctx.service.read(ctx.caller, call)).value["data"]
    return [JSON(dict(item)) for item in listed]


@strawberry.type(description="Read the messaging resources of the caller's Telnyx account.")
class Query:
    messaging_profiles: Connection[MessagingProfile] = strawberry.field(
        resolver=resolve_messaging_profiles, description="The messaging profiles, oldest first."
    )
    messaging_profile: MessagingProfile | None = strawberry.field(
        resolver=resolve_messaging_profile,
        description="One messaging profile; null with a NOT_FOUND error if unknown.",
    )
    short_codes: Connection[ShortCode] = strawberry.field(
        resolver=resolve_short_codes, description="The short codes, oldest first."
    )
    short_code: ShortCode | None = strawberry.field(
        resolver=resolve_short_code,
        description="One short code; null with a NOT_FOUND error if unknown.",
    )
    phone_numbers: Connection[PhoneNumber] = strawberry.field(
        resolver=resolve_phone_numbers,
        description="The phone numbers with their messaging settings, oldest first.",
    )
    phone_number: PhoneNumber | None = strawberry.field(
        resolver=resolve_phone_number,
        description="One phone number by id or +E.164; null with a NOT_FOUND error if unknown.",
    )
    messaging_profile_metrics: list[JSON] = strawberry.field(
        resolver=resolve_messaging_profile_metrics,
        description="High-level metrics of every messaging profile for the period, as Telnyx "
        "reports them (Telnyx documents no fixed fields).",
    )
