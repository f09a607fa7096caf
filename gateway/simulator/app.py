"""The simulator: an ASGI app in front of a Starlette router, with auth, faults and a request log.

Dropped connections. Under a real server (uvicorn), a dropped request gets no response at
all: the app returns a non-None value, which uvicorn answers by closing the transport
without writing a byte, so the client sees e.g. ``httpx.RemoteProtocolError: Server
disconnected without sending a response``. Raising instead would make uvicorn send a 500.
In process (``httpx.ASGITransport``), where there is no connection to close, the app raises
`ConnectionDropped`, an ``httpx.RemoteProtocolError`` with the same message, so the caller
sees the same exception type as over a socket.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from gateway.simulator import admin, routes
from gateway.simulator.faults import Faults
from gateway.simulator.seed import seed
from gateway.simulator.store import JSON, Account, Store
from gateway.simulator.wire import (
    NOT_FOUND,
    UNAUTHORIZED,
    ApiError,
    Problem,
    error_body,
    json_response,
)

API_PREFIX = "/v2/"
_DROPPED = "simulated dropped connection"  # what uvicorn logs for a drop


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised in process where a real server would close the connection without answering."""

    def __init__(self) -> None:
        super().__init__("Server disconnected without sending a response.")


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One /v2 request as the simulator saw it; `status` is None for a dropped connection."""

    method: str
    path: str
    query: str
    api_key: str | None
    status: int | None
    time: float  # when it arrived, seconds since the epoch
    duration: float  # seconds until the response was sent, latency included

    def to_json(self) -> JSON:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "api_key": self.api_key,
            "status": self.status,
            "time": self.time,
            "duration": self.duration,
        }


def _api_key(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            return key.strip() if scheme.lower() == "bearer" else None
    return None


# Starlette types handlers as taking any Exception; each is registered for one class.
async def _api_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, ApiError):
        raise exc
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):
        raise exc
    if exc.status_code == 405:
        problem = Problem("10015", "Bad Request", f"{request.method} is not allowed on this path.")
        return json_response({"errors": [problem.to_json()]}, 405, exc.headers)
    return ApiError(404, [NOT_FOUND]).response()


class _App:
    """The ASGI callable; a class with an async __call__ so servers detect ASGI 3."""

    __slots__ = ("_simulator",)

    def __init__(self, simulator: Simulator) -> None:
        self._simulator = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        return await self._simulator.handle(scope, receive, send)


class Simulator:
    """An in-memory Telnyx: every API key starting with KEY is an account seeded on first use.

    `app` is the ASGI app; `faults` scripts failures; `requests` logs every /v2 request.
    """

    def __init__(self, *, latency: float = 0.0, log_limit: int = 10_000) -> None:
        self._latency = latency
        self.store = Store(seed)
        self.faults = Faults(latency)
        self.requests: deque[RequestRecord] = deque(maxlen=log_limit)
        self.app = _App(self)
        self._router = Starlette(
            routes=[
                Mount("/v2", routes=routes.ROUTES),
                Mount("/_simulator", routes=admin.routes(self)),
            ],
            exception_handlers={ApiError: _api_error, HTTPException: _http_error},
        )

    def account(self, api_key: str) -> Account:
        """The account of `api_key`, seeded on first use (the key must start with KEY)."""
        if not api_key.startswith("KEY"):
            raise ValueError("simulated API keys start with KEY")
        return self.store.account(api_key)

    def reset(self) -> None:
        """Forget every account, fault and logged request; restore the initial latency."""
        self.store.clear()
        self.faults.clear()
        self.faults.latency = self._latency
        self.requests.clear()

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> Any:
        """Serve one ASGI call. Returns a non-None value only to drop a connection."""
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self._router(scope, receive, send)
            return None
        arrived, started = time.time(), time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        api_key = _api_key(scope)
        status: int | None = None

        async def send_and_record(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            fault = self.faults.take(method, path)
            delay = self.faults.latency + (fault.delay if fault and fault.kind == "delay" else 0)
            if delay > 0:
                await anyio.sleep(delay)
            if fault is not None and fault.kind == "drop":
                return self._drop(scope)
            if fault is not None and fault.kind == "status":
                body = error_body(fault.status) if fault.body is None else fault.body
                response = json_response(body, fault.status, fault.headers)
            elif api_key is None or not api_key.startswith("KEY"):
                response = ApiError(401, [UNAUTHORIZED]).response()
            else:
                scope[routes.ACCOUNT_SCOPE_KEY] = self.store.account(api_key)
                await self._router(scope, receive, send_and_record)
                return None
            await response(scope, receive, send_and_record)
            return None
        finally:
            query = scope["query_string"].decode("latin-1")
            duration = time.perf_counter() - started
            self.requests.append(
                RequestRecord(method, path, query, api_key, status, arrived, duration)
            )

    @staticmethod
    def _drop(scope: Scope) -> str:
        # Real servers put lifespan "state" in every request scope; httpx.ASGITransport
        # does not, and there the only way to fail the request is to raise.
        if "state" in scope:
            return _DROPPED
        raise ConnectionDropped
