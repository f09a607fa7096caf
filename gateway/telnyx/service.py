"""The Telnyx service: one method per operation, reads through the tenant cache, writes
followed by the invalidation of everything they changed (for the writing tenant only).

Both faces use this module and nothing below it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar, cast

from opentelemetry import metrics, trace

from gateway.cache import Key, Outcome, TenantCache
from gateway.errors import UpstreamUnavailableError
from gateway.telemetry import Tally
from gateway.telnyx.client import Fetched, TelnyxClient
from gateway.telnyx.models import (
    CreateMessagingProfileRequest,
    Data,
    MessagingProfile,
    Page,
    PhoneNumberWithMessagingSettings,
    RawBody,
    ShortCode,
    UpdateMessagingProfileRequest,
    UpdatePhoneNumberMessagingRequest,
    UpdateShortCodeRequest,
)
from gateway.tenancy import Tenant

__all__ = ["Caller", "Fetched", "TelnyxService", "Ttl"]

T = TypeVar("T")

log = logging.getLogger(__name__)

# Cache kinds. A kind names one read operation; its scope is the id it is about.
PROFILE = "messaging_profile"
PROFILES = "messaging_profiles"
PROFILE_PHONE_NUMBERS = "messaging_profile.phone_numbers"
PROFILE_SHORT_CODES = "messaging_profile.short_codes"
SHORT_CODE = "short_code"
SHORT_CODES = "short_codes"
PHONE_NUMBER = "phone_number"
PHONE_NUMBERS = "phone_numbers"


@dataclass(frozen=True, slots=True)
class Ttl:
    """Seconds a read stays fresh, by resource family."""

    profiles: float = 30.0
    short_codes: float = 30.0
    phone_numbers: float = 30.0


@dataclass(slots=True)
class Caller:
    """One inbound request's view of the service: who calls, and how its reads were served.

    The rest is what a cache of whole responses needs (times on the cache's clock): the
    (kind, scope) of every read, when the oldest value read was stored, and when the first
    of them stops being fresh (-inf when one of them could not be kept).
    """

    tenant: Tenant
    no_cache: bool = False
    outcomes: list[Outcome] = field(default_factory=list)
    reads: set[tuple[str, str | None]] = field(default_factory=set)
    read_at: float = math.inf
    fresh_until: float = math.inf

    @property
    def stale(self) -> bool:
        return Outcome.STALE in self.outcomes

    @property
    def cached(self) -> bool:
        """Whether every read of the request was served without a new upstream call."""
        return bool(self.outcomes) and all(
            outcome in (Outcome.HIT, Outcome.STALE) for outcome in self.outcomes
        )


# Tells the other replicas what a write invalidated: (tenant id, [(kind, scope), ...]).
Publish = Callable[[str, Sequence[tuple[str, str | None]]], Awaitable[None]]


class TelnyxService:
    """Cached reads and invalidating writes over a `TelnyxClient`."""

    def __init__(
        self,
        client: TelnyxClient,
        cache: TenantCache,
        *,
        ttl: Ttl | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        publish: Publish | None = None,
    ) -> None:
        self._client = client
        self._cache = cache
        self._ttl = ttl or Ttl()
        self._ttl_cap: float | None = None
        self._publish = publish
        self._tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)
        meter = metrics.get_meter(__name__, meter_provider=meter_provider)
        self._cache_reads = Tally(
            meter,
            "gateway.cache.reads",
            labels=("telnyx.operation", "outcome"),
            unit="{read}",
            description="Upstream reads by cache outcome (hit, miss, stale, coalesced, bypass).",
        )

    # --- reads -----------------------------------------------------------------------

    async def _read(
        self,
        caller: Caller,
        operation: str,
        kind: str,
        scope: str | None,
        params: tuple[Hashable, ...],
        ttl: float,
        load: Callable[[], Awaitable[Fetched[T]]],
        *,
        page: tuple[int, int] | None = None,
    ) -> Fetched[T]:
        """Read through the cache; `page` is a list read's (page number, page size)."""
        tenant = caller.tenant
        name = f"telnyx.{operation}"
        attributes: dict[str, str | int] = {
            "telnyx.operation": operation,
            "gateway.tenant.id": tenant.id,
        }
        if page is not None:
            attributes["telnyx.page.number"], attributes["telnyx.page.size"] = page
        key = Key(tenant.id, kind, scope, params)
        if self._ttl_cap is not None:
            ttl = min(ttl, self._ttl_cap)
        fresh = None if caller.no_cache else self._cache.fresh(key, ttl=ttl)
        if fresh is not None:
            # A hit calls nothing and takes no time: its span is started and ended at once,
            # with its outcome, and never becomes the current span (nothing runs under it).
            attributes["gateway.cache.outcome"] = Outcome.HIT.value
            self._tracer.start_span(name, kind=trace.SpanKind.INTERNAL, attributes=attributes).end()
            kept, stored_at, stored_ttl = fresh
            self._account(caller, operation, kind, scope, Outcome.HIT, (stored_at, stored_ttl), ttl)
            return cast(Fetched[T], kept)
        with self._tracer.start_as_current_span(
            name, kind=trace.SpanKind.INTERNAL, attributes=attributes
        ) as span:
            value, outcome = await self._cache.get(
                key, load, ttl=ttl, bypass=caller.no_cache, stale_on=(UpstreamUnavailableError,)
            )
            span.set_attribute("gateway.cache.outcome", outcome.value)
            self._account(caller, operation, kind, scope, outcome, self._cache.kept(key), ttl)
            if outcome is Outcome.STALE:
                # Telnyx is failing and callers get old data: worth an SRE's attention.
                log.warning(
                    "telnyx.%s served stale: Telnyx unavailable",
                    operation,
                    extra={"fields": dict(attributes)},
                )
            return value

    def _account(
        self,
        caller: Caller,
        operation: str,
        kind: str,
        scope: str | None,
        outcome: Outcome,
        kept: tuple[float, float] | None,
        ttl: float,
    ) -> None:
        """Note a read on its caller (for whole-response caching) and in the metrics."""
        caller.outcomes.append(outcome)
        caller.reads.add((kind, scope))
        if kept is None:
            caller.fresh_until = -math.inf
        else:
            stored_at, stored_ttl = kept
            caller.read_at = min(caller.read_at, stored_at)
            caller.fresh_until = min(caller.fresh_until, stored_at + min(ttl, stored_ttl))
        self._cache_reads.add((operation, outcome.value))

    async def list_messaging_profiles(
        self,
        caller: Caller,
        *,
        page: int = 1,
        size: int = 20,
        name: str | None = None,
        name_eq: str | None = None,
        name_contains: str | None = None,
    ) -> Fetched[Page[MessagingProfile]]:
        return await self._read(
            caller,
            "list_messaging_profiles",
            PROFILES,
            None,
            (page, size, name, name_eq, name_contains),
            self._ttl.profiles,
            lambda: self._client.list_messaging_profiles(
                caller.tenant,
                page=page,
                size=size,
                name=name,
                name_eq=name_eq,
                name_contains=name_contains,
            ),
            page=(page, size),
        )

    async def retrieve_messaging_profile(
        self, caller: Caller, profile_id: str
    ) -> Fetched[Data[MessagingProfile]]:
        return await self._read(
            caller,
            "retrieve_messaging_profile",
            PROFILE,
            profile_id,
            (),
            self._ttl.profiles,
            lambda: self._client.retrieve_messaging_profile(caller.tenant, profile_id),
        )

    async def list_profile_phone_numbers(
        self, caller: Caller, profile_id: str, *, page: int = 1, size: int = 20
    ) -> Fetched[Page[PhoneNumberWithMessagingSettings]]:
        return await self._read(
            caller,
            "list_profile_phone_numbers",
            PROFILE_PHONE_NUMBERS,
            profile_id,
            (page, size),
            self._ttl.phone_numbers,
            lambda: self._client.list_profile_phone_numbers(
                caller.tenant, profile_id, page=page, size=size
            ),
            page=(page, size),
        )

    async def list_profile_short_codes(
        self, caller: Caller, profile_id: str, *, page: int = 1, size: int = 20
    ) -> Fetched[Page[ShortCode]]:
        return await self._read(
            caller,
            "list_profile_short_codes",
            PROFILE_SHORT_CODES,
            profile_id,
            (page, size),
            self._ttl.short_codes,
            lambda: self._client.list_profile_short_codes(
                caller.tenant, profile_id, page=page, size=size
            ),
            page=(page, size),
        )

    async def list_short_codes(
        self,
        caller: Caller,
        *,
        page: int = 1,
        size: int = 20,
        messaging_profile_id: str | None = None,
    ) -> Fetched[Page[ShortCode]]:
        return await self._read(
            caller,
            "list_short_codes",
            SHORT_CODES,
            None,
            (page, size, messaging_profile_id),
            self._ttl.short_codes,
            lambda: self._client.list_short_codes(
                caller.tenant, page=page, size=size, messaging_profile_id=messaging_profile_id
            ),
            page=(page, size),
        )

    async def retrieve_short_code(
        self, caller: Caller, short_code_id: str
    ) -> Fetched[Data[ShortCode]]:
        return await self._read(
            caller,
            "retrieve_short_code",
            SHORT_CODE,
            short_code_id,
            (),
            self._ttl.short_codes,
            lambda: self._client.retrieve_short_code(caller.tenant, short_code_id),
        )

    async def list_phone_numbers(
        self,
        caller: Caller,
        *,
        page: int = 1,
        size: int = 20,
        messaging_profile_id: str | None = None,
        phone_number: str | None = None,
        phone_number_contains: str | None = None,
        type: str | None = None,
        sort: str | None = None,
    ) -> Fetched[Page[PhoneNumberWithMessagingSettings]]:
        return await self._read(
            caller,
            "list_phone_numbers",
            PHONE_NUMBERS,
            None,
            (page, size, messaging_profile_id, phone_number, phone_number_contains, type, sort),
            self._ttl.phone_numbers,
            lambda: self._client.list_phone_numbers(
                caller.tenant,
                page=page,
                size=size,
                messaging_profile_id=messaging_profile_id,
                phone_number=phone_number,
                phone_number_contains=phone_number_contains,
                type=type,
                sort=sort,
            ),
            page=(page, size),
        )

    async def retrieve_phone_number_messaging(
        self, caller: Caller, phone_number_id: str
    ) -> Fetched[Data[PhoneNumberWithMessagingSettings]]:
        return await self._read(
            caller,
            "retrieve_phone_number_messaging",
            PHONE_NUMBER,
            phone_number_id,
            (),
            self._ttl.phone_numbers,
            lambda: self._client.retrieve_phone_number_messaging(caller.tenant, phone_number_id),
        )

    # --- writes ----------------------------------------------------------------------

    async def _write(
        self,
        caller: Caller,
        operation: str,
        call: Callable[[], Awaitable[Fetched[T]]],
        evict: tuple[tuple[str, str | None], ...],
    ) -> Fetched[T]:
        tenant = caller.tenant
        with self._tracer.start_as_current_span(
            f"telnyx.{operation}",
            kind=trace.SpanKind.INTERNAL,
            attributes={"telnyx.operation": operation, "gateway.tenant.id": tenant.id},
        ):
            try:
                return await call()
            finally:
                # Also after a failure: a timed-out write may still have been applied.
                for kind, scope in evict:
                    self._cache.invalidate(tenant.id, kind, scope)
                if self._publish is not None:
                    await self._publish(tenant.id, evict)

    def cap_ttl(self, seconds: float | None) -> None:
        """Keep reads fresh for at most `seconds` (None lifts the cap): used while other
        replicas' invalidations cannot reach this one."""
        self._ttl_cap = seconds

    @property
    def ttl_cap(self) -> float | None:
        """The cap `cap_ttl` set; whatever is built on reads must honour it too."""
        return self._ttl_cap

    async def create_messaging_profile(
        self, caller: Caller, body: CreateMessagingProfileRequest | RawBody
    ) -> Fetched[Data[MessagingProfile]]:
        return await self._write(
            caller,
            "create_messaging_profile",
            lambda: self._client.create_messaging_profile(caller.tenant, body),
            ((PROFILES, None),),
        )

    async def update_messaging_profile(
        self, caller: Caller, profile_id: str, body: UpdateMessagingProfileRequest | RawBody
    ) -> Fetched[Data[MessagingProfile]]:
        return await self._write(
            caller,
            "update_messaging_profile",
            lambda: self._client.update_messaging_profile(caller.tenant, profile_id, body),
            ((PROFILE, profile_id), (PROFILES, None)),
        )

    async def delete_messaging_profile(
        self, caller: Caller, profile_id: str
    ) -> Fetched[Data[MessagingProfile]]:
        return await self._write(
            caller,
            "delete_messaging_profile",
            lambda: self._client.delete_messaging_profile(caller.tenant, profile_id),
            # Telnyx unassigns the profile's numbers and short codes: every view of them changed.
            (
                (PROFILE, profile_id),
                (PROFILES, None),
                (PROFILE_PHONE_NUMBERS, profile_id),
                (PROFILE_SHORT_CODES, profile_id),
                (SHORT_CODE, None),
                (SHORT_CODES, None),
                (PHONE_NUMBER, None),
                (PHONE_NUMBERS, None),
            ),
        )

    async def update_short_code(
        self, caller: Caller, short_code_id: str, body: UpdateShortCodeRequest | RawBody
    ) -> Fetched[Data[ShortCode]]:
        return await self._write(
            caller,
            "update_short_code",
            lambda: self._client.update_short_code(caller.tenant, short_code_id, body),
            # The old profile is not in the response, so every profile's nested list goes.
            ((SHORT_CODE, short_code_id), (SHORT_CODES, None), (PROFILE_SHORT_CODES, None)),
        )

    async def update_phone_number_messaging(
        self,
        caller: Caller,
        phone_number_id: str,
        body: UpdatePhoneNumberMessagingRequest | RawBody,
    ) -> Fetched[Data[PhoneNumberWithMessagingSettings]]:
        return await self._write(
            caller,
            "update_phone_number_messaging",
            lambda: self._client.update_phone_number_messaging(
                caller.tenant, phone_number_id, body
            ),
            # A number is read by its id or its E.164 string, each its own entry: evict all.
            # The old profile is not in the response, so every profile's nested list goes.
            ((PHONE_NUMBER, None), (PHONE_NUMBERS, None), (PROFILE_PHONE_NUMBERS, None)),
        )
