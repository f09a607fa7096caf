"""Apollo Federation v2: the gateway as a subgraph of a supergraph (`GATEWAY_FEDERATION`).

A router (Apollo Router, Hive Gateway, Cosmo) composes the gateway from its SDL and asks it
for entities by key. The federated schema is the plain one plus what that takes:

- `_service { sdl }`: the subgraph SDL, which is the checked-in SDL with the `@link` that
  imports `@key` and `@key(fields: "id")` on each entity;
- `_entities(representations:)`: `MessagingProfile`, `ShortCode` and `PhoneNumber` by id,
  read as the caller (the router forwards the tenant's token) through the request's
  DataLoaders and the tenant's cache, and counted by the cost limit: one lookup per
  representation, the selection below once per representation.

The keys are declared here, not on the types: the plain schema, its checked-in SDL and its
codegen stay free of federation directives a client would not know.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, NewType, cast

import strawberry
from graphql import ObjectTypeDefinitionNode, parse
from strawberry.types.base import get_object_definition
from strawberry.types.scalar import ScalarDefinition

from gateway.errors import BadInputError, FieldProblem
from schema.api.context import Info
from schema.api.query import Query
from schema.api.types import MessagingProfile, PhoneNumber, ShortCode
from schema.limits.cost import COST_PER_ITEM

FEDERATION_SPEC = "https://specs.apollo.dev/federation/v2.3"
LINK = f'extend schema @link(url: "{FEDERATION_SPEC}", import: ["@key"])'
KEY = ' @key(fields: "id")'

Representation = NewType("Representation", object)
# For StrawberryConfig.scalar_map.
SCALARS: Mapping[object, ScalarDefinition] = {
    Representation: strawberry.scalar(
        name="_Any",
        description="An entity's representation: its `__typename` and key fields.",
        serialize=lambda value: value,
        parse_value=lambda value: value,
    )
}
Entity = Annotated[
    MessagingProfile | ShortCode | PhoneNumber,
    strawberry.union("_Entity", description="A type other subgraphs may refer to by key."),
]


@dataclass(frozen=True, slots=True)
class _Resolver:
    """How one entity type is read by id: its DataLoader and its GraphQL type's builder."""

    load: Callable[[Info, str], Awaitable[Any]]
    build: Callable[[Any], MessagingProfile | ShortCode | PhoneNumber]


ENTITIES: Mapping[str, _Resolver] = {
    "MessagingProfile": _Resolver(
        lambda info, key: info.context.loaders.profile.load(key), MessagingProfile.from_telnyx
    ),
    "ShortCode": _Resolver(
        lambda info, key: info.context.loaders.short_code.load(key), ShortCode.from_telnyx
    ),
    "PhoneNumber": _Resolver(
        lambda info, key: info.context.loaders.phone_number.load(key), PhoneNumber.from_telnyx
    ),
}


def subgraph_sdl(sdl: str) -> str:
    """The plain SDL as a federation v2 subgraph's: the `@link` first, and `@key(fields:
    "id")` after each entity type's name (found by parsing, so nothing else can match)."""
    insertions = sorted(
        (definition.name.loc.end, KEY)
        for definition in parse(sdl).definitions
        if isinstance(definition, ObjectTypeDefinitionNode)
        and definition.name.value in ENTITIES
        and definition.name.loc is not None
    )
    if len(insertions) != len(ENTITIES):
        raise ValueError("the SDL lacks an entity type")
    parts, start = [], 0
    for offset, text in insertions:
        parts += [sdl[start:offset], text]
        start = offset
    return f"{LINK}\n\n{''.join(parts)}{sdl[start:]}"


async def _entity(
    info: Info, index: int, representation: object
) -> MessagingProfile | ShortCode | PhoneNumber:
    where = ("representations", index)
    if not isinstance(representation, dict):
        raise BadInputError([FieldProblem(where, "must be an object")])
    typename, key = representation.get("__typename"), representation.get("id")
    resolver = ENTITIES.get(typename) if isinstance(typename, str) else None
    if resolver is None:
        raise BadInputError(
            [FieldProblem(where, f"`__typename` must be one of {', '.join(ENTITIES)}")]
        )
    if not isinstance(key, str) or not key:
        raise BadInputError([FieldProblem(where, "`id` must be a non-empty string")])
    return resolver.build(await resolver.load(info, key))


async def resolve_entities(
    info: Info,
    representations: Annotated[
        list[Representation],
        strawberry.argument(description="The entities wanted, each by type and key."),
    ],
) -> list[Entity | None]:
    # All at once, so the DataLoaders batch them; an entity that fails is null with its
    # own error (graphql-core raises an exception found in a list at that item's path).
    found = await asyncio.gather(
        *(_entity(info, index, item) for index, item in enumerate(representations)),
        return_exceptions=True,
    )
    return cast(list[Entity | None], found)


@strawberry.type(name="_Service", description="This subgraph, as a router composes it.")
class Service:
    sdl: str = strawberry.field(description="The subgraph's SDL, federation directives included.")


def federated_query(sdl: str) -> type[Query]:
    """The root Query with `_service` and `_entities`; `sdl` is the plain schema's."""
    service = Service(sdl=subgraph_sdl(sdl))

    def resolve_service() -> Service:
        return service

    @strawberry.type(
        name="Query", description=get_object_definition(Query, strict=True).description
    )
    class FederatedQuery(Query):
        federation_entities: list[Entity | None] = strawberry.field(
            name="_entities",
            resolver=resolve_entities,
            description="Entities of this subgraph by key, for a federation router.",
            metadata={COST_PER_ITEM: "representations"},
        )
        federation_service: Service = strawberry.field(
            name="_service",
            resolver=resolve_service,
            description="This subgraph's SDL, for a federation router.",
        )

    return FederatedQuery
