"""Per-request DataLoaders: each entity and nested page is fetched once per request, and
everything a request needs at one level of the query is fetched concurrently; the nested
lists of many profiles may come from the account's whole list instead (`schema.api.nested`),
and so may their metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from strawberry.dataloader import DataLoader

from gateway.errors import GatewayError
from gateway.telnyx import Fetched, checked
from gateway.telnyx import models as telnyx
from gateway.telnyx.operations import (
    ListMessagingProfileMetrics,
    RetrieveMessagingProfile,
    RetrieveMessagingProfileMetrics,
    RetrievePhoneNumberMessaging,
    RetrieveShortCode,
)
from schema.api.nested import (
    ACCOUNT_PAGE_SIZE,
    PHONE_NUMBERS,
    SHORT_CODES,
    FanIn,
    Nested,
    PageKey,
)
from schema.api.paging import Slice, Window, cut_window, read_window
from schema.limits.turns import Turns

if TYPE_CHECKING:
    from gateway.telnyx import Caller, TelnyxService

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")

# A profile's metrics, by (profile id, time frame or None for Telnyx's default). Telnyx
# leaves their fields free-form.
MetricsKey = tuple[str, str | None]
Metrics = dict[str, object]


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
        self,
        service: TelnyxService,
        caller: Caller,
        *,
        fan_in: FanIn | None = None,
        turns: Turns | None = None,
    ) -> None:
        self._service = service
        self._caller = caller
        self._fan_in = fan_in
        self._turns = turns or Turns()
        self.profile: DataLoader[str, telnyx.MessagingProfile] = DataLoader(_each(self._profile))
        self.short_code: DataLoader[str, telnyx.ShortCode] = DataLoader(_each(self._short_code))
        self.phone_number: DataLoader[str, telnyx.PhoneNumberWithMessagingSettings] = DataLoader(
            _each(self._phone_number)
        )
        self.metrics: DataLoader[MetricsKey, Metrics] = DataLoader(self._metrics_batch)
        self._nested: dict[Nested[Any], DataLoader[PageKey, Any]] = {}
        # Page 1 of account-wide lists, read with a page of profiles (`prefetch`).
        self._prefetched: dict[Nested[Any], asyncio.Future[Any]] = {}

    def close(self) -> None:
        """Let go of what the request loaded, once it is answered. The loaders' load
        functions refer back to this object: left as they are, the request's loaders,
        futures and pages form a cycle only the cyclic garbage collector frees, and every
        request adds to its work."""
        loaders: list[DataLoader[Any, Any]] = [
            self.profile,
            self.short_code,
            self.phone_number,
            self.metrics,
            *self._nested.values(),
        ]
        for loader in loaders:
            loader.clear_all()
            loader.load_fn = _closed
        self._nested.clear()

    def nested(self, nested: Nested[T]) -> DataLoader[PageKey, telnyx.Page[T]]:
        """The loader of one nested list's pages, by (profile id, page number, size)."""
        loader = self._nested.get(nested)
        if loader is None:
            loader = self._nested[nested] = DataLoader(partial(self._nested_batch, nested))
        return loader

    def prefetch(self, lists: Iterable[Nested[Any]], *, profiles: int) -> None:
        """Start reading page 1 of the account-wide list of each of `lists` a page of up to
        `profiles` profiles may cut its nested pages from, while the page itself is read:
        the fan-in then decides without a round trip of its own (`schema.api.nested`)."""
        fan_in = self._fan_in
        if fan_in is None or profiles < 2:
            return
        for nested in lists:
            account = nested.account
            if (
                account is None
                or nested in self._prefetched
                or not fan_in.worth_reading(self._caller.tenant.id, nested.kind, profiles)
            ):
                continue
            read = self._service.read(self._caller, account(1, ACCOUNT_PAGE_SIZE))
            task = asyncio.ensure_future(read)
            # Never left with an unread failure if nothing asks for it after all.
            task.add_done_callback(_settled)
            self._prefetched[nested] = task

    # --- priming: an entity seen in a list costs nothing when asked for by id --------

    def prime_profiles(
        self, profiles: Iterable[telnyx.MessagingProfile], *, force: bool = False
    ) -> None:
        self.profile.prime_many({key: p for p in profiles if (key := p.get("id"))}, force=force)

    def prime_short_codes(
        self, short_codes: Iterable[telnyx.ShortCode], *, force: bool = False
    ) -> None:
        self.short_code.prime_many(
            {key: s for s in short_codes if (key := s.get("id"))}, force=force
        )

    def prime_phone_numbers(
        self, numbers: Iterable[telnyx.PhoneNumberWithMessagingSettings], *, force: bool = False
    ) -> None:
        self.phone_number.prime_many({key: n for n in numbers if (key := n.get("id"))}, force=force)

    def _prime(self, nested: Nested[Any], items: Iterable[Any]) -> None:
        if nested is PHONE_NUMBERS:
            self.prime_phone_numbers(items)
        elif nested is SHORT_CODES:
            self.prime_short_codes(items)

    def forget_pages(self) -> None:
        """Drop the nested pages read so far: a write may have moved items between them."""
        for loader in self._nested.values():
            loader.clear_all()

    # --- loads ------------------------------------------------------------------------

    async def _profile(self, profile_id: str) -> telnyx.MessagingProfile:
        call = checked(RetrieveMessagingProfile, id=profile_id)
        return (await self._service.read(self._caller, call)).value["data"]

    async def _short_code(self, short_code_id: str) -> telnyx.ShortCode:
        call = checked(RetrieveShortCode, id=short_code_id)
        return (await self._service.read(self._caller, call)).value["data"]

    async def _phone_number(self, number_id: str) -> telnyx.PhoneNumberWithMessagingSettings:
        call = checked(RetrievePhoneNumberMessaging, id=number_id)
        return (await self._service.read(self._caller, call)).value["data"]

    async def _page(self, nested: Nested[T], key: PageKey) -> telnyx.Page[T]:
        profile_id, page, size = key
        fetched = await self._service.read(self._caller, nested.per_profile(profile_id, page, size))
        async with self._turns.turn():
            value = fetched.value
            self._prime(nested, value["data"])
        return value

    async def _nested_batch(
        self, nested: Nested[T], keys: list[PageKey]
    ) -> Sequence[telnyx.Page[T] | BaseException]:
        account = nested.account
        if self._fan_in is not None and account is not None:

            async def read(page: int, size: int) -> telnyx.Page[T]:
                fetched = await self._service.read(self._caller, account(page, size))
                async with self._turns.turn():
                    return fetched.value

            task = self._prefetched.pop(nested, None)
            pages = await self._fan_in.pages(
                self._caller.tenant.id,
                nested.kind,
                keys,
                read,
                _profile_of,
                turns=self._turns,
                first_page=None if task is None else partial(self._parsed, task),
            )
            if pages is not None:
                async with self._turns.turn():
                    self._prime(nested, (item for page in pages for item in page["data"]))
                return pages
        return await _each(partial(self._page, nested))(keys)

    async def _parsed(self, task: asyncio.Future[Fetched[telnyx.Page[T]]]) -> telnyx.Page[T]:
        fetched = await task
        async with self._turns.turn():
            return fetched.value

    async def _profile_metrics(self, key: MetricsKey) -> Metrics:
        profile_id, time_frame = key
        values = {"id": profile_id, "time_frame": time_frame}
        call = checked(RetrieveMessagingProfileMetrics.model_validate, values)
        return dict((await self._service.read(self._caller, call)).value["data"])

    async def _metrics_batch(self, keys: list[MetricsKey]) -> Sequence[Metrics | BaseException]:
        """Each profile's metrics; for several profiles over one period, the account's list
        (one call) when every one of them is in it, else one call per profile."""
        frames = {time_frame for _, time_frame in keys}
        if self._fan_in is not None and len(keys) > 1 and len(frames) == 1:
            values = {"time_frame": frames.pop()}
            call = checked(ListMessagingProfileMetrics.model_validate, values)
            try:
                listed = (await self._service.read(self._caller, call)).value["data"]
            except GatewayError:
                listed = []  # per profile, each read fails (or is served stale) on its own
            by_profile = {item.get("messaging_profile_id"): item for item in listed}
            found = [by_profile.get(profile_id) for profile_id, _ in keys]
            if all(item is not None for item in found):
                return [dict(item) for item in found if item is not None]
        return await _each(self._profile_metrics)(keys)


async def _closed(keys: list[Any]) -> Sequence[Any]:
    raise RuntimeError("the request these loaders served is over")


def _settled(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _profile_of(item: Any) -> str | None:
    profile: str | None = item.get("messaging_profile_id")
    return profile


def read_nested(
    loader: DataLoader[PageKey, telnyx.Page[T]], parent_id: str, win: Window
) -> Slice[T] | Awaitable[Slice[T]]:
    """The window of `parent_id`'s nested list: at once when its pages are loaded already
    (`schema.speedups.lookahead` reads them with the parents), else a coroutine that loads
    them."""
    futures = [loader.cache_map.get((parent_id, number, win.size)) for number in win.pages]
    if all(f is not None and f.done() and not f.cancelled() for f in futures):
        return cut_window(win, [f.exception() or f.result() for f in futures if f is not None])
    return read_window(win, lambda page, size: loader.load((parent_id, page, size)))
