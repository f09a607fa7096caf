"""The Telnyx service: reads through the tenant cache, writes followed by the invalidation
of everything they changed (for the writing tenant only), for any operation described in
`gateway.telnyx.operations`.

Both faces use this module and nothing below it.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar, cast

from opentelemetry import metrics, trace

from gateway.cache import Key, Outcome, TenantCache
from gateway.errors import CircuitOpenError, UpstreamBudgetError, UpstreamUnavailableError
from gateway.lru import weight
from gateway.telemetry import Tally
from gateway.telnyx.client import TelnyxClient
from gateway.telnyx.models import RawBody, Request
from gateway.telnyx.operation import Family, Fetched, Read, Write
from gateway.telnyx.operations import OPERATIONS
from gateway.tenancy import Tenant

__all__ = [
    "Caller",
    "Fetched",
    "TelnyxService",
    "Ttl",
    "bypasses_cache",
    "decode_read",
    "encode_read",
    "forbids_storing",
    "shared_failure",
    "weigh_read",
]

R = TypeVar("R")
B = TypeVar("B", bound=Request | None)

log = logging.getLogger(__name__)

STALE_ON: tuple[type[Exception], ...] = (UpstreamUnavailableError, UpstreamBudgetError)
STALE_ON_FRESH: tuple[type[Exception], ...] = (UpstreamUnavailableError,)


@dataclass(frozen=True, slots=True)
class Ttl:
    """Seconds a read stays fresh, by resource family."""

    profiles: float = 30.0
    short_codes: float = 30.0
    phone_numbers: float = 30.0

    def of(self, family: Family) -> float:
        seconds: float = getattr(self, family.value)
        return seconds


@dataclass(slots=True)
class Caller:
    """One inbound request's view of the service: who calls, and how its reads were served.

    The rest is what a cache of whole responses needs (times on the cache's clock): the
    (kind, scope) of every read, when the oldest value read was stored, and when the first
    of them stops being fresh (-inf when one of them could not be kept).
    """

    tenant: Tenant
    no_cache: bool = False
    # `Cache-Control: no-store`: what is fetched is not kept either (nor whole responses).
    no_store: bool = False
    # The request is this one read (the REST face): a cache hit is told by the request's
    # own span, which the face marks, rather than by a span of its own.
    whole: bool = False
    outcomes: list[Outcome] = field(default_factory=list)
    reads: set[tuple[str, str | None]] = field(default_factory=set)
    read_at: float = math.inf
    fresh_until: float = math.inf

    @property
    def stale(self) -> bool:
        return Outcome.STALE in self.outcomes

    @property
    def cached(self) -> bool:
        """Whether every read of the request was served without a new upstream call (from
        this replica's cache or the shared tier)."""
        return bool(self.outcomes) and all(
            outcome in (Outcome.HIT, Outcome.STALE, Outcome.SHARED) for outcome in self.outcomes
        )

    @property
    def cache_status(self) -> str:
        """`X-Cache`: STALE when any read was stale, HIT when every read was cached."""
        if self.stale:
            return "STALE"
        return "HIT" if self.cached else "MISS"


def bypasses_cache(cache_control: str | None) -> bool:
    """Whether a request's `Cache-Control` asks for fresh data (`no-cache` or `no-store`):
    the cache is then not read, and what is fetched refreshes it."""
    if not cache_control:
        return False
    directives = cache_control.lower().split(",")
    return any(directive.strip() in ("no-cache", "no-store") for directive in directives)


def forbids_storing(cache_control: str | None) -> bool:
    """Whether a request's `Cache-Control` says `no-store`: what it fetches is not kept
    (RFC 9111, 5.2.1.5), so the cache keeps what it had."""
    if not cache_control:
        return False
    return any(d.strip() == "no-store" for d in cache_control.lower().split(","))


def weigh_read(key: Key, fetched: Fetched[object]) -> int:
    """What keeping one read costs: its key and the bytes Telnyx sent (the value is parsed
    again on each use, so no object graph is kept)."""
    return weight(fetched, key)


_PARSERS = {operation.operation: operation.parse for operation in OPERATIONS}


def encode_read(_: Key, fetched: Fetched[object]) -> bytes:
    """A read as the shared tier keeps it: the status in two bytes, then Telnyx's bytes."""
    return fetched.status.to_bytes(2, "big") + fetched.body


def decode_read(key: Key, data: bytes) -> Fetched[object]:
    """The read `encode_read` kept, as the client would have returned it."""
    if len(data) < 2:
        raise ValueError  # the shared tier logs it as undecodable and reads Telnyx
    return Fetched(key.kind, data[2:], int.from_bytes(data[:2], "big"), _PARSERS[key.kind])


def account_of(tenant: Tenant) -> str:
    """A digest of the tenant's key: reads made with an older key are not shared with the
    new one. Not the key: a truncated hash of a long random key cannot be turned back."""
    secret = tenant.telnyx_api_key.get_secret_value().encode()
    return hashlib.sha256(b"telnyx-gateway account\0" + secret).hexdigest()[:16]


def shared_failure(operation: str) -> BaseException:
    """What a read gets when the replica that was loading it for everyone failed."""
    return UpstreamUnavailableError(operation, reason="Telnyx failed this read on another replica")


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
            description="Upstream reads by cache outcome (hit, shared, miss, stale, coalesced, "
            "bypass).",
        )

    async def read(self, caller: Caller, call: Read[R]) -> Fetched[R]:
        """`call`'s answer for the caller's tenant, from the cache while it is fresh."""
        tenant = caller.tenant
        operation = type(call).operation
        name = f"telnyx.{operation}"
        attributes: dict[str, str | int] = {
            "telnyx.operation": operation,
            "gateway.tenant.id": tenant.id,
        }
        page = call.page_window()
        if page is not None:
            attributes["telnyx.page.number"], attributes["telnyx.page.size"] = page
        scope = call.scope_value()
        key = Key(tenant.id, operation, scope, call.params())
        ttl = self._ttl.of(call.family)
        if self._ttl_cap is not None:
            ttl = min(ttl, self._ttl_cap)
        fresh = None if caller.no_cache else self._cache.fresh(key, ttl=ttl)
        if fresh is not None:
            # A hit calls nothing and takes no time: its span is started and ended at once,
            # with its outcome, and never becomes the current span (nothing runs under it).
            if not caller.whole:
                attributes["gateway.cache.outcome"] = Outcome.HIT.value
                span = self._tracer.start_span(
                    name, kind=trace.SpanKind.INTERNAL, attributes=attributes
                )
                span.end()
            kept, stored_at, stored_ttl = fresh
            self._account(caller, operation, scope, Outcome.HIT, (stored_at, stored_ttl), ttl)
            return cast(Fetched[R], kept)
        with self._tracer.start_as_current_span(
            name, kind=trace.SpanKind.INTERNAL, attributes=attributes
        ) as span:
            value, outcome = await self._cache.get(
                key,
                lambda: self._client.send(tenant, call),
                ttl=ttl,
                bypass=caller.no_cache,
                store=not caller.no_store,
                # Telnyx failing: old data beats none. The account's budget spent: so it
                # does for a caller that takes cached data; one that asked for fresh data
                # is told when to retry.
                stale_on=STALE_ON_FRESH if caller.no_cache else STALE_ON,
                account=account_of(tenant),
            )
            span.set_attribute("gateway.cache.outcome", outcome.value)
            kept = self._cache.kept(key)
            self._account(caller, operation, scope, outcome, kept, ttl)
            if outcome is Outcome.STALE:
                # Callers get old data: worth an SRE's attention.
                log.warning(
                    "telnyx.%s served stale: Telnyx unavailable or the account's budget spent",
                    operation,
                    extra={"fields": dict(attributes)},
                )
            return value

    def _account(
        self,
        caller: Caller,
        operation: str,
        scope: str | None,
        outcome: Outcome,
        kept: tuple[float, float] | None,
        ttl: float,
    ) -> None:
        """Note a read on its caller (for whole-response caching) and in the metrics."""
        caller.outcomes.append(outcome)
        caller.reads.add((operation, scope))
        if kept is None:
            caller.fresh_until = -math.inf
        else:
            stored_at, stored_ttl = kept
            caller.read_at = min(caller.read_at, stored_at)
            caller.fresh_until = min(caller.fresh_until, stored_at + min(ttl, stored_ttl))
        self._cache_reads.add((operation, outcome.value))

    async def write(
        self, caller: Caller, call: Write[R, B], body: B | RawBody | None = None
    ) -> Fetched[R]:
        """Send `call` (with `body`: its request model, or a raw body the REST face
        forwards as written), then evict what it changed, here and on other replicas."""
        tenant = caller.tenant
        operation = type(call).operation
        evicted = call.evictions()
        with self._tracer.start_as_current_span(
            f"telnyx.{operation}",
            kind=trace.SpanKind.INTERNAL,
            attributes={"telnyx.operation": operation, "gateway.tenant.id": tenant.id},
        ):
            try:
                return await self._client.send(tenant, call, body)
            except CircuitOpenError:
                # Never sent, so nothing changed: what is cached stays, to be served stale.
                evicted = ()
                raise
            finally:
                # Also after a failure: a timed-out write may still have been applied.
                await self._cache.invalidate_shared(tenant.id, evicted)
                for kind, scope in evicted:
                    self._cache.invalidate(tenant.id, kind, scope)
                if self._publish is not None and evicted:
                    await self._publish(tenant.id, evicted)

    def cap_ttl(self, seconds: float | None) -> None:
        """Keep reads fresh for at most `seconds` (None lifts the cap): used while other
        replicas' invalidations cannot reach this one."""
        self._ttl_cap = seconds

    @property
    def ttl_cap(self) -> float | None:
        """The cap `cap_ttl` set; whatever is built on reads must honour it too."""
        return self._ttl_cap
