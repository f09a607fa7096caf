"""The lists every messaging profile has, and reading them for a page of profiles at once.

A page of N profiles asking for their phone numbers costs N calls, one per profile: the
account's list filtered by that profile (GET /phone_numbers/messaging?filter[messaging_
profile_id]=...&sort[phone_number]=asc). The same list unfiltered holds every profile's
numbers (up to 250 a page, each item naming its profile). When it spans fewer pages than
the per-profile calls, it is read whole, grouped by profile, and each profile's page is
cut from its group as Telnyx pages the filtered list: same items, `total_results` and
`total_pages`, so `read_window` cannot tell the two apart. Short codes likewise
(GET /short_codes, filtered or not).

Both strategies read one endpoint, so they see one order and a cursor taken under one
continues under the other: the numbers in the order the request sets (`sort[phone_number]`),
the short codes in the list's own order, which a filter keeps (Telnyx offers no sort there).

Deciding needs the list's size: page 1 of it tells (and is needed anyway when the list is
small). It is read together with the page of profiles (`Loaders.prefetch`), so a page with
its nested lists takes one round trip; when the list turns out too large, that call is the
one more the strategy costs, and each tenant's last seen size is remembered for `remember`
seconds: within them, a list known to be too large is not read again. The sizes change
only when numbers are bought or released, which no gateway write does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from cachetools import TTLCache

from gateway.errors import GatewayError
from gateway.telnyx.models import (
    AlphanumericSenderId,
    Page,
    PhoneNumberWithMessagingSettings,
    ShortCode,
    total_results,
)
from gateway.telnyx.operation import PAGE_SIZE_MAX, Read
from gateway.telnyx.operations import (
    ListPhoneNumbers,
    ListProfileAlphanumericSenderIds,
    ListShortCodes,
)
from schema.limits.turns import Turns

T = TypeVar("T")

# A profile's nested list, by (profile id, Telnyx page number, Telnyx page size).
PageKey = tuple[str, int, int]

ACCOUNT_PAGE_SIZE = PAGE_SIZE_MAX


@dataclass(frozen=True, eq=False)
class Nested(Generic[T]):
    """A list each profile has: `field` is its GraphQL name on `MessagingProfile`, `kind`
    tags its cursors, `per_profile` reads one profile's page, `account` (when Telnyx has
    one) a page of the account's whole list, whose items name their profile in
    `messaging_profile_id`."""

    field: str
    kind: str
    per_profile: Callable[[str, int, int], Read[Page[T]]]
    account: Callable[[int, int], Read[Page[T]]] | None = None


# Both strategies read the same endpoint, so they see one order: the phone numbers sorted
# by number (the order Telnyx offers to set), the short codes in the account list's own
# order, which filtering by profile keeps.
PHONE_NUMBERS: Nested[PhoneNumberWithMessagingSettings] = Nested(
    "phoneNumbers",
    "profile_phone_numbers",
    lambda profile, page, size: ListPhoneNumbers(
        messaging_profile_id=profile, sort="asc", page=page, size=size
    ),
    lambda page, size: ListPhoneNumbers(sort="asc", page=page, size=size),
)
SHORT_CODES: Nested[ShortCode] = Nested(
    "shortCodes",
    "profile_short_codes",
    lambda profile, page, size: ListShortCodes(messaging_profile_id=profile, page=page, size=size),
    lambda page, size: ListShortCodes(page=page, size=size),
)
ALPHANUMERIC_SENDER_IDS: Nested[AlphanumericSenderId] = Nested(
    "alphanumericSenderIds",
    "profile_alphanumeric_sender_ids",
    lambda profile, page, size: ListProfileAlphanumericSenderIds(id=profile, page=page, size=size),
)

# The nested connection fields of a profile, by GraphQL name (for the look-ahead and the
# cost limit): a new nested list is one `Nested` above, named here.
NESTED: dict[str, Nested[Any]] = {
    nested.field: nested for nested in (PHONE_NUMBERS, SHORT_CODES, ALPHANUMERIC_SENDER_IDS)
}


def _pages(total: int) -> int:
    return -(-total // ACCOUNT_PAGE_SIZE)


def _cut(group: Sequence[T], number: int, size: int) -> Page[T]:
    """Page `number` of `group` at `size`, with the meta Telnyx sends for it."""
    start = (number - 1) * size
    return {
        "data": list(group[start : start + size]),
        "meta": {
            "page_number": number,
            "page_size": size,
            "total_pages": -(-len(group) // size),
            "total_results": len(group),
        },
    }


class FanIn:
    """Chooses, for each batch of nested pages, between per-profile calls and the whole list."""

    def __init__(
        self,
        *,
        remember: float = 300.0,
        max_lists: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # (tenant, kind) -> the list's size: a few dozen bytes an entry, `max_lists` at most.
        self._sizes: TTLCache[tuple[str, str], int] = TTLCache(
            maxsize=max_lists, ttl=remember, timer=clock
        )

    def worth_reading(self, tenant: str, kind: str, profiles: int) -> bool:
        """Whether the account's list `kind` may be cheaper than `profiles` calls: unknown,
        or known to span fewer pages."""
        known = self._sizes.get((tenant, kind))
        return known is None or _pages(known) < profiles

    async def pages(
        self,
        tenant: str,
        kind: str,
        keys: Sequence[PageKey],
        read: Callable[[int, int], Awaitable[Page[T]]],
        profile_of: Callable[[T], str | None],
        *,
        turns: Turns | None = None,
        first_page: Callable[[], Awaitable[Page[T]]] | None = None,
    ) -> list[Page[T]] | None:
        """Each key's page, cut from the account's list `kind` (`read(number, size)` reads a
        page of it), or None: ask per profile, it takes no more calls. `first_page` gives
        page 1 of the list when it was read already (`worth_reading` said it might be)."""
        if len(keys) < 2 or not self.worth_reading(tenant, kind, len(keys)):
            return None
        try:
            first = await (read(1, ACCOUNT_PAGE_SIZE) if first_page is None else first_page())
        except GatewayError:
            # Per profile, each read fails (or is served stale) on its own.
            return None
        total = total_results(first)
        if total is None:
            return None
        self._sizes[(tenant, kind)] = total
        count = _pages(total)
        if count >= len(keys):
            return None
        rest = await asyncio.gather(
            *(read(number, ACCOUNT_PAGE_SIZE) for number in range(2, count + 1)),
            return_exceptions=True,
        )
        pages = [first]
        for page in rest:
            if isinstance(page, GatewayError):
                return None
            if isinstance(page, BaseException):
                raise page
            pages.append(page)
        async with contextlib.nullcontext() if turns is None else turns.turn():
            items = [item for page in pages for item in page["data"]]
            if len(items) != total:
                # The list changed between its pages; the per-profile reads see one state each.
                return None
            groups: dict[str | None, list[T]] = {}
            for item in items:
                groups.setdefault(profile_of(item), []).append(item)
            return [_cut(groups.get(profile, []), number, size) for profile, number, size in keys]
