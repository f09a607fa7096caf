"""Relay connection types, and a connection built from a `Slice` of upstream items."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import strawberry

from schema.api.paging import Slice, encode_cursor

NodeT = TypeVar("NodeT")
ItemT = TypeVar("ItemT")


@strawberry.type(description="Where a page of a connection sits in the whole list.")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="Whether more items follow the last edge of this page."
    )
    has_previous_page: bool = strawberry.field(
        description="Whether items come before the first edge of this page."
    )
    start_cursor: str | None = strawberry.field(
        description="The cursor of the first edge; null when the page is empty."
    )
    end_cursor: str | None = strawberry.field(
        description="The cursor of the last edge: pass it as `after` for the next page."
    )


@strawberry.type(description="One item of a connection, with the cursor that points at it.")
class Edge(Generic[NodeT]):
    cursor: str = strawberry.field(description="An opaque position; pass it as `after`.")
    node: NodeT = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list, in Telnyx's order (oldest first).")
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]] = strawberry.field(description="The items of this page.")
    page_info: PageInfo = strawberry.field(description="Cursors and whether more pages exist.")
    total_count: int = strawberry.field(
        description="How many items the whole list holds, across all pages."
    )


def build_connection(
    kind: str, sliced: Slice[ItemT], to_node: Callable[[ItemT], NodeT]
) -> Connection[NodeT]:
    edges = [
        Edge(cursor=encode_cursor(kind, sliced.offset + index), node=to_node(item))
        for index, item in enumerate(sliced.items)
    ]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=sliced.has_next,
            has_previous_page=sliced.offset > 0,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=sliced.total,
    )


def connect(
    kind: str, sliced: Slice[ItemT] | Awaitable[Slice[ItemT]], to_node: Callable[[ItemT], NodeT]
) -> Connection[NodeT] | Awaitable[Connection[NodeT]]:
    """`build_connection`, at once when the slice is there already, else once it is read."""
    if isinstance(sliced, Slice):
        return build_connection(kind, sliced, to_node)

    async def later(sliced: Awaitable[Slice[ItemT]]) -> Connection[NodeT]:
        return build_connection(kind, await sliced, to_node)

    return later(sliced)
