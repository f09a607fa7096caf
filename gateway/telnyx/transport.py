"""The shared upstream `httpx.AsyncClient`: pool limits, timeouts and the transport under it."""

from __future__ import annotations

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from gateway.config import Settings

KEEPALIVE_EXPIRY = 30.0


def build_http_client(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The one upstream client all tenants share; it never holds a key.

    httpx ignores `limits` once a transport is given, so the limits go to the transport.
    aiohttp maps `max_connections` to its connector's `limit` and `keepalive_expiry` to its
    `keepalive_timeout`; it has no cap on idle connections, so `max_keepalive` applies to the
    httpx transport only.
    """
    limits = httpx.Limits(
        max_connections=settings.upstream_max_connections,
        max_keepalive_connections=settings.upstream_max_keepalive,
        keepalive_expiry=KEEPALIVE_EXPIRY,
    )
    # `pool` is the wait for a free connection; aiohttp maps it to its `connect` timeout.
    timeout = httpx.Timeout(settings.upstream_timeout, connect=settings.upstream_connect_timeout)
    if transport is None:
        if settings.upstream_transport == "aiohttp":
            transport = AiohttpTransport(limits=limits)
        else:
            transport = httpx.AsyncHTTPTransport(limits=limits)
    return httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False)


def never_sent(exc: httpx.RequestError) -> bool:
    """Whether the request certainly never reached the server, so even a POST may be resent.

    httpx_aiohttp maps every `aiohttp.ClientConnectionError` to `httpx.ConnectTimeout`,
    including a server disconnect after the request was written, so its cause decides.
    """
    if not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return False
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError):
        return isinstance(cause, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)
    return True
