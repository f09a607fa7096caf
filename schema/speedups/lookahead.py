"""Reading a page of profiles' nested lists with the page itself (a speed-up).

A page of profiles asking for `phoneNumbers` and `shortCodes` needs their pages whatever
happens (the lists are asked for by profile). When the profiles resolver reads them
itself, before it returns, the nested connection fields find their pages loaded and
complete synchronously: graphql-core then runs no coroutine, task or gather per profile
and per nested list, which cost more CPU than the rest of the query's execution together.
The reads, their batching (`schema.api.nested`) and the errors each field reports are
those the nested resolvers would have caused: they load the same DataLoader keys, through
the same `window` arithmetic, and whatever `schema.api.selection` does not see plainly is
left to them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence

from schema.api.context import Info
from schema.api.selection import nested_asked


async def read_nested_ahead(info: Info, profile_ids: Sequence[str]) -> None:
    """Load the nested pages the profiles connection's selection will ask for."""
    if not profile_ids:
        return
    loaders = info.context.loaders
    loads: list[Awaitable[object]] = []
    for asked in nested_asked(info):
        loader = loaders.nested(asked.nested)
        win = asked.window
        loads.extend(
            loader.load((profile_id, number, win.size))
            for profile_id in profile_ids
            for number in win.pages
        )
    # Failures stay in the loaders' futures: each nested field raises its own.
    await asyncio.gather(*loads, return_exceptions=True)
