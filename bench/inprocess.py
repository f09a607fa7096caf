"""The gateway in process, as `bench.profile` and `bench.cpu` measure it.

`create_app` over the in-process simulator, seeded as `bench.run` seeds it, with the
production settings that matter here: spans recorded and handed to a batch processor (the
export itself dropped), the default sampler, the cache on, GraphiQL and introspection off,
and the garbage collector frozen and tuned as `python -m gateway serve` leaves it.

With `replay`, the simulator answers only while the cache is filled: its answers are kept
and replayed byte for byte from then on, so the measured CPU is the gateway's alone (in
`bench.run` the simulator is another process). Requests go straight to the ASGI app,
without an HTTP client, whose work is the load generator's, not the gateway's.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import httpx
import orjson
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from pydantic import HttpUrl, SecretStr
from starlette.types import ASGIApp, Message

from bench import stack
from bench.scenario import LIST_QUERY, NESTED_BODY, PROFILE_QUERY
from gateway.__main__ import GC_THRESHOLDS
from gateway.app import create_app
from gateway.config import Settings
from gateway.simulator import Simulator
from gateway.telemetry import Telemetry, build_telemetry
from gateway.telnyx.transport import HttpxUpstream, Received, reply
from gateway.tenancy import RateLimit, Tenant, TenantRegistry

TOKEN = "bench-profile-token"  # noqa: S105  -- an in-process tenant, not a secret
SCENARIOS = (
    "nested",
    "nested-cold",
    "profile",
    "profile-cold",
    "list-cold",
    "rest",
    "rest-cold",
)


class NullExporter(SpanExporter):
    """Counts and drops every batch: the spans are built and queued as in production."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


class Replay:
    """An `Upstream` that forwards to the in-process simulator while recording; once
    `recording` is off, answers every request it saw with the recorded bytes (and fails any
    other), the way `AiohttpUpstream` hands an answer over."""

    def __init__(self, simulator: Simulator) -> None:
        self._upstream = HttpxUpstream(httpx.ASGITransport(app=simulator.app))
        self._answers: dict[tuple[str, str], tuple[int, list[tuple[bytes, bytes]], bytes]] = {}
        self.recording = True
        self.timeout = self._upstream.timeout

    @property
    def is_closed(self) -> bool:
        return self._upstream.is_closed

    async def exchange(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | None,
        phases: Mapping[str, float | None],
    ) -> Received:
        key = (method, url)
        if not self.recording:
            status, raw, body = self._answers[key]
            return reply(status, raw, body)
        answer = await self._upstream.exchange(method, url, headers, content, phases)
        self._answers[key] = (answer.status_code, answer.headers.raw, answer.content)
        return answer

    async def aclose(self) -> None:
        await self._upstream.aclose()


def seeded_simulator() -> tuple[Simulator, list[str]]:
    simulator = Simulator()
    account = simulator.account(stack.TELNYX_KEY)
    for profile in account.add_profiles(stack.PROFILES - len(account.profiles)):
        account.add_phone_numbers(
            stack.PHONE_NUMBERS_PER_PROFILE, messaging_profile_id=profile["id"]
        )
        account.add_short_codes(stack.SHORT_CODES_PER_PROFILE, messaging_profile_id=profile["id"])
    return simulator, list(account.profiles)[: stack.PROFILES]


async def call(
    app: ASGIApp, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, bytes]:
    """One request straight to the ASGI app: its status and body."""
    raw_path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("gateway.test", 80),
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


@dataclass
class Gateway:
    """The app, what it exports, and one request of the chosen scenario."""

    telemetry: Telemetry
    exporter: NullExporter
    one: Callable[[], Awaitable[None]]


@contextlib.asynccontextmanager
async def gateway(scenario: str, *, replay: bool = True) -> AsyncIterator[Gateway]:
    """The gateway, warmed by 20 requests of `scenario` (which fill the cache)."""
    simulator, ids = seeded_simulator()
    settings = Settings(
        demo=True,  # Settings insists on a tenants file otherwise; the tenants come below
        graphiql=False,
        introspection=False,
        telnyx_base_url=HttpUrl("http://simulator.test/v2"),
        otel_sdk_disabled=True,  # no OTLP exporter here: the null one is added below
    )
    telemetry = build_telemetry(settings)
    exporter = NullExporter()
    telemetry.add_span_processor(BatchSpanProcessor(exporter))
    rate = RateLimit(per_second=1_000_000.0, burst=1_000_000)
    tenant = Tenant(stack.TENANT_ID, SecretStr(stack.TELNYX_KEY), rate)
    upstream = Replay(simulator)
    app = create_app(
        settings,
        upstream=upstream,
        tenants=TenantRegistry.from_tokens([(tenant, TOKEN)]),
        telemetry=telemetry,
    )
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    cold = {**headers, "Cache-Control": "no-cache"}
    profile_json = orjson.dumps({"query": PROFILE_QUERY, "variables": {"id": ids[0]}})
    requests = {
        "nested": ("POST", "/graphql", headers, NESTED_BODY),
        "nested-cold": ("POST", "/graphql", cold, NESTED_BODY),
        "profile": ("POST", "/graphql", headers, profile_json),
        "profile-cold": ("POST", "/graphql", cold, profile_json),
        "list-cold": ("POST", "/graphql", cold, orjson.dumps({"query": LIST_QUERY})),
        "rest": ("GET", f"/v2/messaging_profiles/{ids[0]}", headers, b""),
        "rest-cold": ("GET", f"/v2/messaging_profiles/{ids[0]}", cold, b""),
    }

    async def one() -> None:
        status, body = await call(app, *requests[scenario])
        if status != 200 or b'"errors"' in body:
            raise RuntimeError(f"{status}: {body[:300]!r}")

    for _ in range(20):
        await one()
    upstream.recording = not replay
    telemetry.tracer_provider.force_flush()
    # The collector as `python -m gateway serve` sets it up.
    gc.collect()
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield Gateway(telemetry, exporter, one)
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
        telemetry.tracer_provider.force_flush()
        telemetry.shutdown()
