"""Per-request DataLoaders: each entity and nested page is fetched once per request, and
everything a request needs at one level of the query is fetched concurrently; the nested
lists of many profiles may come from the account's whole list instead (`schema.fanin`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import TYPE_CHECKING, TypeVar

from strawberry.dataloader import DataLoader

from gateway.telnyx import models as telnyx
from schema.fanin import FanIn, PageKey
from schema.paging import Slice, Window, cut_window, read_window

if TYPE_CHECKING:
    from gateway.telnyx.service import Caller, TelnyxService

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")


def _each(
    fetch: Callable[[K], Awaitable[V]],
) -> Callable[[list[K]], Awaitable[Sequence[V | BaseException]]]:
    # Telnyx has no batch read: a batch becomes concurrent single reads (the client caps
    # them per tenant), and one failure fails only its own key.
    async def load(keys: list[K]) -> Sequence[V | BaseException]:
        return await asyncio.gather(*(fetch(key) for key in keys), return_exceptions=True)

    return load


class Loaders:
    """The DataLoaders of one request, reading through the service as its caller."""

    def __init__(
        self, service: TelnyxService, caller: Caller, *, fan_in: FanIn | None = None
    ) -> None:
        self._service = service
        self._caller = caller
        self._fan_in = fan_in
        self.profile: DataLoader[str, telnyx.MessagingProfile] = DataLoader(_each(self._profile))
        self.short_code: DataLoader[str, telnyx.ShortCode] = DataLoader(_each(self._short_code))
        self.phone_number: DataLoader[str, telnyx.PhoneNumberWithMessagingSettings] = DataLoader(
            _each(self._phone_number)
        )
        self.profile_phone_numbers: DataLoader[
            PageKey, telnyx.Page[telnyx.PhoneNumberWithMessagingSettings]
        ] = DataLoader(self._profile_phone_numbers_batch)
        self.profile_short_codes: DataLoader[PageKey, telnyx.Page[telnyx.ShortCode]] = DataLoader(
            self._profile_short_codes_batch
        )

    # --- priming: an entity seen in a list costs nothing when asked for by id --------

    def prime_profiles(
        self, profiles: Iterable[telnyx.MessagingProfile], *, force: bool = False
    ) -> None:
        self.profile.prime_many({p.id: p for p in profiles if p.id}, force=force)

    def prime_short_codes(
        self, short_codes: Iterable[telnyx.ShortCode], *, force: bool = False
    ) -> None:
        self.short_code.prime_many({s.id: s for s in short_codes if s.id}, force=force)

    def prime_phone_numbers(
        self, numbers: Iterable[telnyx.PhoneNumberWithMessagingSettings], *, force: bool = False
    ) -> None:
        self.phone_number.prime_many({n.id: n for n in numbers if n.id}, force=force)

    def forget_pages(self) -> None:
        """Drop the nested pages read so far: a write may have moved items between them."""
        self.profile_phone_numbers.clear_all()
        self.profile_short_codes.clear_all()

    # --- loads ------------------------------------------------------------------------

    async def _profile(self, profile_id: str) -> telnyx.MessagingProfile:
        fetched = await self._service.retrieve_messaging_profile(self._caller, profile_id)
        return fetched.value.data

    async def _short_code(self, short_code_id: str) -> telnyx.ShortCode:
        fetched = await self._service.retrieve_short_code(self._caller, short_code_id)
        return fetched.value.data

    async def _phone_number(self, number_id: str) -> telnyx.PhoneNumberWithMessagingSettings:
        fetched = await self._service.retrieve_phone_number_messaging(self._caller, number_id)
        return fetched.value.data

    async def _profile_phone_numbers(
        self, key: PageKey
    ) -> telnyx.Page[telnyx.PhoneNumberWithMessagingSettings]:
        profile_id, page, size = key
        fetched = await self._service.list_profile_phone_numbers(
            self._caller, profile_id, page=page, size=size
        )
        self.prime_phone_numbers(fetched.value.data)
        return fetched.value

    async def _profile_short_codes(self, key: PageKey) -> telnyx.Page[telnyx.ShortCode]:
        profile_id, page, size = key
        fetched = await self._service.list_profile_short_codes(
            self._caller, profile_id, page=page, size=size
        )
        self.prime_short_codes(fetched.value.data)
        return fetched.value

    # --- nested pages of many profiles at once ---------------------------------------

    async def _profile_phone_numbers_batch(
        self, keys: list[PageKey]
    ) -> Sequence[telnyx.Page[telnyx.PhoneNumberWithMessagingSettings] | BaseException]:
        if self._fan_in is not None:
            pages = await self._fan_in.pages(
                self._caller.tenant.id,
                "phone_numbers",
                keys,
                self._account_phone_numbers,
                lambda number: number.messaging_profile_id,
            )
            if pages is not None:
                self.prime_phone_numbers(n for page in pages for n in page.data)
                return pages
        return await _each(self._profile_phone_numbers)(keys)

    async def _profile_short_codes_batch(
        self, keys: list[PageKey]
    ) -> Sequence[telnyx.Page[telnyx.ShortCode] | BaseException]:
        if self._fan_in is not None:
            pages = await self._fan_in.pages(
                self._caller.tenant.id,
                "short_codes",
                keys,
                self._account_short_codes,
                lambda short_code: short_code.messaging_profile_id,
            )
            if pages is not None:
                self.prime_short_codes(c for page in pages for c in page.data)
                return pages
        return await _each(self._profile_short_codes)(keys)

    async def _account_phone_numbers(
        self, page: int, size: int
    ) -> telnyx.Page[telnyx.PhoneNumberWithMessagingSettings]:
        fetched = await self._service.list_phone_numbers(self._caller, page=page, size=size)
        return fetched.value

    async def _account_short_codes(self, page: int, size: int) -> telnyx.Page[telnyx.ShortCode]:
        fetched = await self._service.list_short_codes(self._caller, page=page, size=size)
        return fetched.value


def read_nested(
    loader: DataLoader[PageKey, telnyx.Page[T]], parent_id: str, win: Window
) -> Slice[T] | Awaitable[Slice[T]]:
    """The window of `parent_id`'s nested list: at once when its pages are loaded already
    (`schema.lookahead` reads them with the parents), else a coroutine that loads them."""
    futures = [loader.cache_map.get((parent_id, number, win.size)) for number in win.pages]
    if all(f is not None and f.done() and not f.cancelled() for f in futures):
        return cut_window(win, [f.exception() or f.result() for f in futures if f is not None])
    return read_window(win, lambda page, size: loader.load((parent_id, page, size)))
