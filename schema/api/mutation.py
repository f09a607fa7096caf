"""The root Mutation: each input is checked against Telnyx's request model before any call."""

from __future__ import annotations

from typing import Annotated

import strawberry

from gateway.telnyx import checked
from gateway.telnyx.operations import (
    CreateMessagingProfile,
    DeleteMessagingProfile,
    RegenerateMessagingProfileSecret,
    UpdateMessagingProfile,
    UpdatePhoneNumberMessaging,
    UpdateShortCode,
)
from schema.api.context import Info
from schema.api.inputs import (
    CreateMessagingProfileInput,
    UpdateMessagingProfileInput,
    UpdatePhoneNumberMessagingInput,
    UpdateShortCodeInput,
    create_profile_request,
    update_phone_number_request,
    update_profile_request,
    update_short_code_request,
)
from schema.api.types import MessagingProfile, PhoneNumber, ShortCode

Id = Annotated[strawberry.ID, strawberry.argument(description="Telnyx's id of the item.")]
CreateInput = Annotated[
    CreateMessagingProfileInput, strawberry.argument(description="The new profile's settings.")
]
UpdateProfileInput = Annotated[
    UpdateMessagingProfileInput, strawberry.argument(description="The fields to change.")
]
ShortCodeInput = Annotated[
    UpdateShortCodeInput, strawberry.argument(description="The assignment and tags.")
]
PhoneNumberInput = Annotated[
    UpdatePhoneNumberMessagingInput, strawberry.argument(description="The fields to change.")
]


async def resolve_create_messaging_profile(info: Info, input: CreateInput) -> MessagingProfile:
    ctx = info.context
    body = create_profile_request(input)
    fetched = await ctx.service.write(ctx.caller, CreateMessagingProfile(), body)
    profile = fetched.value["data"]
    ctx.loaders.prime_profiles([profile], force=True)
    return MessagingProfile.from_telnyx(profile)


async def resolve_update_messaging_profile(
    info: Info, id: Id, input: UpdateProfileInput
) -> MessagingProfile:
    ctx = info.context
    call = checked(UpdateMessagingProfile, id=id)
    body = update_profile_request(input)
    profile = (await ctx.service.write(ctx.caller, call, body)).value["data"]
    ctx.loaders.prime_profiles([profile], force=True)
    return MessagingProfile.from_telnyx(profile)


async def resolve_delete_messaging_profile(info: Info, id: Id) -> MessagingProfile:
    ctx = info.context
    call = checked(DeleteMessagingProfile, id=id)
    fetched = await ctx.service.write(ctx.caller, call)
    # Everything the deletion unassigned is re-read if asked for again.
    ctx.loaders.profile.clear_all()
    ctx.loaders.short_code.clear_all()
    ctx.loaders.phone_number.clear_all()
    ctx.loaders.metrics.clear_all()
    ctx.loaders.forget_pages()
    return MessagingProfile.from_telnyx(fetched.value["data"])


async def resolve_regenerate_messaging_profile_secret(info: Info, id: Id) -> MessagingProfile:
    ctx = info.context
    call = checked(RegenerateMessagingProfileSecret, id=id)
    profile = (await ctx.service.write(ctx.caller, call)).value["data"]
    ctx.loaders.prime_profiles([profile], force=True)
    return MessagingProfile.from_telnyx(profile)


async def resolve_update_short_code(info: Info, id: Id, input: ShortCodeInput) -> ShortCode:
    ctx = info.context
    call = checked(UpdateShortCode, id=id)
    body = update_short_code_request(input)
    short_code = (await ctx.service.write(ctx.caller, call, body)).value["data"]
    ctx.loaders.prime_short_codes([short_code], force=True)
    ctx.loaders.forget_pages()
    return ShortCode.from_telnyx(short_code)


async def resolve_update_phone_number_messaging(
    info: Info, id: Id, input: PhoneNumberInput
) -> PhoneNumber:
    ctx = info.context
    call = checked(UpdatePhoneNumberMessaging, id=id)
    body = update_phone_number_request(input)
    number = (await ctx.service.write(ctx.caller, call, body)).value["data"]
    ctx.loaders.prime_phone_numbers([number], force=True)
    ctx.loaders.metrics.clear_all()
    ctx.loaders.forget_pages()
    return PhoneNumber.from_telnyx(number)


@strawberry.type(description="Change the messaging resources of the caller's Telnyx account.")
class Mutation:
    create_messaging_profile: MessagingProfile = strawberry.mutation(
        resolver=resolve_create_messaging_profile, description="Create a messaging profile."
    )
    update_messaging_profile: MessagingProfile = strawberry.mutation(
        resolver=resolve_update_messaging_profile,
        description="Change a messaging profile; omitted fields are kept.",
    )
    delete_messaging_profile: MessagingProfile = strawberry.mutation(
        resolver=resolve_delete_messaging_profile,
        description="Delete a messaging profile and return it as it was; "
        "Telnyx unassigns its numbers and short codes.",
    )
    regenerate_messaging_profile_secret: MessagingProfile = strawberry.mutation(
        resolver=resolve_regenerate_messaging_profile_secret,
        description="Give a messaging profile a new v1 secret (for Telnyx's legacy v1 API). "
        "The secret is not a field here; services that need it read the profile through the "
        "REST face.",
    )
    update_short_code: ShortCode = strawberry.mutation(
        resolver=resolve_update_short_code,
        description="Assign a short code to a profile (messagingProfileId: null unbinds it) "
        "and optionally replace its tags.",
    )
    update_phone_number_messaging: PhoneNumber = strawberry.mutation(
        resolver=resolve_update_phone_number_messaging,
        description="Assign a phone number to a profile (messagingProfileId: null unassigns it, "
        "omitted keeps it), set its messaging product or its tags.",
    )
