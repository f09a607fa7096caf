"""Reading a page of profiles' nested lists with the page itself (a speed-up).

A page of profiles asking for `phoneNumbers` and `shortCodes` needs a second wave of
upstream reads whatever happens (the lists are asked for by profile). When the profiles
resolver reads that wave itself, before it returns, the nested connection fields find
their pages loaded and complete synchronously: graphql-core then runs no coroutine, task
or gather per profile and per nested list, which cost more CPU than the rest of the
query's execution together. The reads, their batching (`schema.fanin`) and the errors
each field reports are those the nested resolvers would have caused: they load the same
DataLoader keys, through the same `window` arithmetic, and whatever this does not see
plainly (an `@include` or `@skip`, an argument `window` refuses) is left to them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator, Sequence
from typing import Any

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from gateway.errors import BadInputError
from schema.api.context import Info
from schema.api.nested import ALPHANUMERIC_SENDER_IDS, PHONE_NUMBERS, SHORT_CODES, Nested
from schema.api.paging import window

# The nested connection fields of a profile, by GraphQL name.
_NESTED: dict[str, Nested[Any]] = {
    "phoneNumbers": PHONE_NUMBERS,
    "shortCodes": SHORT_CODES,
    "alphanumericSenderIds": ALPHANUMERIC_SENDER_IDS,
}


def _fields(selections: Sequence[Selection]) -> Iterator[SelectedField]:
    """The fields of a selection set, through fragments; none under a directive."""
    for selection in selections:
        if selection.directives:
            continue  # @include / @skip: whether it runs is the executor's to decide
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, FragmentSpread | InlineFragment):
            yield from _fields(selection.selections)


def _children(fields: Sequence[SelectedField], name: str) -> list[SelectedField]:
    return [child for field in fields for child in _fields(field.selections) if child.name == name]


def _first(value: Any) -> Any:
    # strawberry hands an integer literal over as its text; a variable comes coerced.
    return int(value) if isinstance(value, str) and value.isdigit() else value


async def read_nested_ahead(info: Info, profile_ids: Sequence[str]) -> None:
    """Load the nested pages the profiles connection's selection will ask for."""
    if not profile_ids:
        return
    loaders, max_first = info.context.loaders, info.context.max_page_size
    nodes = _children(_children(list(_fields(info.selected_fields)), "edges"), "node")
    loads: list[Awaitable[object]] = []
    for field in (child for node in nodes for child in _fields(node.selections)):
        nested = _NESTED.get(field.name)
        if nested is None:
            continue
        first, after = _first(field.arguments.get("first")), field.arguments.get("after")
        if not isinstance(first, int | None) or not isinstance(after, str | None):
            continue
        try:
            win = window(nested.kind, first, after, max_first=max_first)
        except BadInputError:
            continue  # the field reports it
        loader = loaders.nested(nested)
        loads.extend(
            loader.load((profile_id, number, win.size))
            for profile_id in profile_ids
            for number in win.pages
        )
    # Failures stay in the loaders' futures: each nested field raises its own.
    await asyncio.gather(*loads, return_exceptions=True)
