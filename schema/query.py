"""The root Query: the tenant's profiles, short codes and phone numbers."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from gateway.errors import BadInputError, FieldProblem
from gateway.telnyx import models as telnyx
from schema.connection import Connection, build_connection
from schema.context import Info
from schema.inputs import MessagingProfileFilter, PhoneNumberFilter, ShortCodeFilter
from schema.lookahead import read_nested_ahead
from schema.paging import read_window, window
from schema.types import (
    PHONE_NUMBERS,
    PROFILES,
    SHORT_CODES,
    After,
    First,
    MessagingProfile,
    PhoneNumber,
    ShortCode,
)

Id = Annotated[strawberry.ID, strawberry.argument(description="Telnyx's id of the item.")]


def _given(value: Any) -> Any:
    # Omitted (UNSET) and null both mean "no such filter".
    return None if value is strawberry.UNSET else value


def checked_id(value: str, name: str = "id") -> str:
    """An id that is safe to put in a Telnyx path: an empty one would name the list."""
    if not value.strip():
        raise BadInputError([FieldProblem((name,), "must not be empty")])
    return value


async def resolve_messaging_profiles(
    info: Info,
    first: First = None,
    after: After = None,
    filter: Annotated[
        MessagingProfileFilter | None, strawberry.argument(description="Narrows the list.")
    ] = None,
) -> Connection[MessagingProfile]:
    ctx = info.context
    win = window(PROFILES, first, after, max_first=ctx.max_page_size)
    wanted = filter or MessagingProfileFilter()

    async def fetch(page: int, size: int) -> telnyx.Page[telnyx.MessagingProfile]:
        fetched = await ctx.service.list_messaging_profiles(
            ctx.caller,
            page=page,
            size=size,
            name=_given(wanted.name),
            name_contains=_given(wanted.name_contains),
        )
        ctx.loaders.prime_profiles(fetched.value.data)
        return fetched.value

    profiles = await read_window(win, fetch)
    connection = build_connection(PROFILES, profiles, MessagingProfile.from_telnyx)
    await read_nested_ahead(info, [edge.node.id for edge in connection.edges])
    return connection


async def resolve_messaging_profile(info: Info, id: Id) -> MessagingProfile | None:
    profile = await info.context.loaders.profile.load(checked_id(id))
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
    win = window(SHORT_CODES, first, after, max_first=ctx.max_page_size)

    async def fetch(page: int, size: int) -> telnyx.Page[telnyx.ShortCode]:
        fetched = await ctx.service.list_short_codes(
            ctx.caller, page=page, size=size, messaging_profile_id=profile_id
        )
        ctx.loaders.prime_short_codes(fetched.value.data)
        return fetched.value

    return build_connection(SHORT_CODES, await read_window(win, fetch), ShortCode.from_telnyx)


async def resolve_short_code(info: Info, id: Id) -> ShortCode | None:
    return ShortCode.from_telnyx(await info.context.loaders.short_code.load(checked_id(id)))


async def resolve_phone_numbers(
    info: Info,
    first: First = None,
    after: After = None,
    filter: Annotated[
        PhoneNumberFilter | None, strawberry.argument(description="Narrows the list.")
    ] = None,
) -> Connection[PhoneNumber]:
    ctx = info.context
    win = window(PHONE_NUMBERS, first, after, max_first=ctx.max_page_size)
    wanted = filter or PhoneNumberFilter()
    number_type = _given(wanted.type)

    async def fetch(page: int, size: int) -> telnyx.Page[telnyx.PhoneNumberWithMessagingSettings]:
        fetched = await ctx.service.list_phone_numbers(
            ctx.caller,
            page=page,
            size=size,
            messaging_profile_id=_given(wanted.messaging_profile_id),
            phone_number=_given(wanted.phone_number),
            phone_number_contains=_given(wanted.phone_number_contains),
            type=number_type.value if number_type else None,
        )
        ctx.loaders.prime_phone_numbers(fetched.value.data)
        return fetched.value

    return build_connection(PHONE_NUMBERS, await read_window(win, fetch), PhoneNumber.from_telnyx)


async def resolve_phone_number(info: Info, id: Id) -> PhoneNumber | None:
    number = await info.context.loaders.phone_number.load(checked_id(id))
    return PhoneNumber.from_telnyx(number)


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
