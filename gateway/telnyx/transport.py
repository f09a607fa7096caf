"""The connection to Telnyx: one pool all tenants share, and the exchange of one request for
its whole answer.

Two kinds, one interface (`Upstream`):

- `AiohttpUpstream`, the default: aiohttp's pool spoken to directly. The answer is read
  whole into a `Reply` (an `httpx.Response` when it is compressed, for httpx's decoders),
  and aiohttp's errors become httpx's, so the client above sees one vocabulary whatever the
  transport. Going through `httpx.AsyncClient` and an
  httpx transport adapter cost about 0.25 ms of CPU more per call (`bench/transport.py`);
- `HttpxUpstream`, any httpx transport: httpx's own pool (`GATEWAY_UPSTREAM_TRANSPORT=httpx`)
  or one handed in (the demo's in-process simulator, the tests' fakes).

Neither holds a key: the tenant's goes on each request. Neither follows redirects nor keeps
cookies, which one tenant's answers could otherwise set for the next tenant's requests.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from typing import Protocol

import aiohttp
import httpx

from gateway.config import Settings

KEEPALIVE_EXPIRY = 30.0
# Asked for explicitly, so both transports send the same; httpx decodes the answer.
ACCEPT_ENCODING = "gzip, deflate"
DEFAULT_TIMEOUT = httpx.Timeout(5.0)  # httpx's own

# What aiohttp raises, as httpx names it: the first match, most specific first. The aiohttp
# error stays as `__cause__`, where `never_sent` and the client's error messages look.
_AIOHTTP_ERRORS: tuple[tuple[type[Exception], type[httpx.RequestError]], ...] = (
    # Waiting for a free connection or connecting: nothing was sent.
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.TimeoutException),
    (aiohttp.ClientPayloadError, httpx.ReadError),
    # Anything else on the connection (the server closed it, a reset): maybe sent.
    (aiohttp.ClientConnectionError, httpx.ReadError),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
)


class Received(Protocol):
    """What the client reads of an answer: `httpx.Response` has it all, and so has `Reply`."""

    @property
    def status_code(self) -> int: ...

    @property
    def reason_phrase(self) -> str: ...

    @property
    def headers(self) -> httpx.Headers: ...

    @property
    def content(self) -> bytes: ...

    @property
    def is_success(self) -> bool: ...


class Reply:
    """An uncompressed answer read whole. Building an `httpx.Response` (its headers
    normalised, its body streamed through the decoders) cost about 40 us a call; a 2xx
    needs only the status and the body, so the headers are parsed when first asked for."""

    __slots__ = ("_headers", "_raw", "content", "status_code")

    def __init__(self, status_code: int, raw: Sequence[tuple[bytes, bytes]], content: bytes):
        self.status_code = status_code
        self.content = content
        self._raw = raw
        self._headers: httpx.Headers | None = None

    @property
    def headers(self) -> httpx.Headers:
        if self._headers is None:
            self._headers = httpx.Headers(list(self._raw))
        return self._headers

    @property
    def reason_phrase(self) -> str:
        return httpx.codes.get_reason_phrase(self.status_code)

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


def reply(status: int, raw: Sequence[tuple[bytes, bytes]], content: bytes) -> Received:
    """The answer as the client reads it: decoded by httpx when it has a Content-Encoding."""
    for name, value in raw:
        if name.lower() == b"content-encoding" and value.strip().lower() != b"identity":
            return httpx.Response(status, headers=raw, content=content)
    return Reply(status, raw, content)


class Upstream(Protocol):
    """Sends one request and reads its whole answer; raises an `httpx.RequestError` when
    there is none. `phases` holds each phase's time limit in seconds, as httpx names them
    (`connect`, `read`, `write`, `pool`); `timeout` is the pool's own, before the deadline
    cuts them."""

    timeout: httpx.Timeout

    @property
    def is_closed(self) -> bool: ...

    async def exchange(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | None,
        phases: Mapping[str, float | None],
    ) -> Received: ...

    async def aclose(self) -> None: ...


class AiohttpUpstream:
    """aiohttp's connection pool: `max_connections` at most, idle ones closed after
    `keepalive_expiry` seconds. Its session is made on first use, inside the event loop."""

    def __init__(
        self,
        timeout: httpx.Timeout,
        *,
        max_connections: int,
        keepalive_expiry: float = KEEPALIVE_EXPIRY,
    ) -> None:
        self.timeout = timeout
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._ssl = ssl.create_default_context()
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    @property
    def is_closed(self) -> bool:
        return self._closed

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("the upstream connection pool is closed")
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            keepalive_timeout=self._keepalive_expiry,
            ssl=self._ssl,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=("User-Agent",),
        )
        return self._session

    async def exchange(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | None,
        phases: Mapping[str, float | None],
    ) -> Received:
        session = self._session or self._open()
        limits = aiohttp.ClientTimeout(
            # aiohttp's `connect` includes the wait for a free connection: httpx's `pool`.
            connect=phases.get("pool"),
            sock_connect=phases.get("connect"),
            sock_read=phases.get("read"),
        )
        try:
            async with session.request(
                method,
                url,
                headers=headers,
                data=content,
                allow_redirects=False,
                timeout=limits,
            ) as answer:
                body = await answer.read()
        except Exception as exc:
            kind = _httpx_error(exc)
            if kind is None:
                raise
            raise kind(str(exc)) from exc
        return reply(answer.status, answer.raw_headers, body)

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()


def _httpx_error(exc: Exception) -> type[httpx.RequestError] | None:
    for kind, name in _AIOHTTP_ERRORS:
        if isinstance(exc, kind):
            return name
    return None


class HttpxUpstream:
    """Any httpx transport. The answer handed back is a fresh response holding only the
    status, headers and body: never the request, whose headers hold the key."""

    def __init__(
        self, transport: httpx.AsyncBaseTransport, timeout: httpx.Timeout = DEFAULT_TIMEOUT
    ) -> None:
        self.timeout = timeout
        self._transport = transport
        self._closed = False

    @property
    def is_closed(self) -> bool:
        return self._closed

    async def exchange(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | None,
        phases: Mapping[str, float | None],
    ) -> Received:
        if self._closed:
            raise RuntimeError("the upstream connection pool is closed")
        request = httpx.Request(
            method, url, headers=headers, content=content, extensions={"timeout": dict(phases)}
        )
        answer = await self._transport.handle_async_request(request)
        try:
            # Read as httpx reads it, decoded by its Content-Encoding.
            body = await answer.aread()
        finally:
            await answer.aclose()
        # httpx decoded the body: its Content-Encoding no longer holds.
        return Reply(
            answer.status_code,
            [
                (name, value)
                for name, value in answer.headers.raw
                if name.lower() != b"content-encoding"
            ],
            body,
        )

    async def aclose(self) -> None:
        self._closed = True
        await self._transport.aclose()


def build_upstream(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> Upstream:
    """The one upstream pool all tenants share: `transport` when one is given, otherwise the
    one the settings choose, with their pool size and timeouts."""
    # `pool` is the wait for a free connection.
    timeout = httpx.Timeout(settings.upstream_timeout, connect=settings.upstream_connect_timeout)
    if transport is None:
        if settings.upstream_transport == "aiohttp":
            return AiohttpUpstream(timeout, max_connections=settings.upstream_max_connections)
        limits = httpx.Limits(
            max_connections=settings.upstream_max_connections,
            max_keepalive_connections=settings.upstream_max_keepalive,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        )
        transport = httpx.AsyncHTTPTransport(limits=limits)
    return HttpxUpstream(transport, timeout=timeout)


def never_sent(exc: httpx.RequestError) -> bool:
    """Whether the request certainly never reached the server, so even a POST may be resent.

    A connection refused or not made in time; but when aiohttp's error is the cause, it
    decides (a server's disconnect after the request was written is not "never sent").
    """
    if not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return False
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError):
        return isinstance(cause, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)
    return True
