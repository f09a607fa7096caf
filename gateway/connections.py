"""Connections before authentication: deadlines, a header-size bound and a connection cap.

uvicorn's httptools protocol has none of these: its keep-alive timer is reset by every
byte, so a client that sends one header byte a second holds its connection for ever, and
httptools buffers a header of any size. `GuardedProtocol` is that protocol with:

- a deadline for a request's headers, counted from the connection's first byte or from the
  previous response (not reset by each byte): 408 and close, or a plain close when the
  client never sent anything;
- a deadline for the body, counted from the end of the headers: 408 and close;
- a bound on the request line and headers together: 431 and close;
- a cap on open connections per listener. Past it, the connection that has been idle
  longest (no request in progress: nothing sent yet, headers still arriving, or between
  two keep-alive requests) is closed to make room; when every connection has a request
  in progress, the new one gets 503 and is closed. So a flood of connections that never
  finish their headers cannot lock a tenant out, and the process never runs out of file
  descriptors.

The idle keep-alive timeout is uvicorn's own (`timeout_keep_alive`).
"""

from __future__ import annotations

import asyncio
import http
import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from gateway.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectionLimits:
    """What one listener allows a connection before its request is under way."""

    header_timeout: float
    body_timeout: float
    max_header_bytes: int
    max_connections: int

    @classmethod
    def from_settings(cls, settings: Settings, max_connections: int) -> ConnectionLimits:
        return cls(
            header_timeout=settings.header_timeout,
            body_timeout=settings.body_timeout,
            max_header_bytes=settings.max_header_bytes,
            max_connections=max_connections,
        )


@dataclass
class ConnectionGuard:
    """One listener's limits, its idle connections (oldest first) and what it turned away."""

    limits: ConnectionLimits
    idle: dict[GuardedProtocol, None] = field(default_factory=dict)
    closed: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("refused", "evicted", "header_timeout", "body_timeout", "header_too_large"), 0
        )
    )

    def protocol(self) -> type[GuardedProtocol]:
        """A protocol class for uvicorn's `Config(http=...)`, bound to this guard."""
        return cast(
            "type[GuardedProtocol]", type("GuardedProtocol", (GuardedProtocol,), {"guard": self})
        )

    def evict_idle(self) -> bool:
        """Close the connection idle longest; False when none is idle."""
        if not self.idle:
            return False
        victim = next(iter(self.idle))
        victim.close("evicted")
        return True


def _response(status: int, headers: list[tuple[bytes, bytes]]) -> bytes:
    phrase = http.HTTPStatus(status).phrase.encode()
    lines = [b"HTTP/1.1 %d %s\r\n" % (status, phrase)]
    lines += [name + b": " + value + b"\r\n" for name, value in headers]
    lines.append(
        b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
        b"connection: close\r\n\r\n%s" % (len(phrase), phrase)
    )
    return b"".join(lines)


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the deadlines, header bound and cap above."""

    guard: ClassVar[ConnectionGuard]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._limits = self.guard.limits
        self._timer: asyncio.TimerHandle | None = None
        self._head_due: float | None = None  # when the request being received must be whole
        self._body_due = 0.0
        self._in_head = True  # the connection is between requests or receiving headers
        self._in_body = False
        self._head_bytes = 0  # bytes received since the current head began
        self._head_size = 0  # request line and headers parsed so far
        self._refused = False

    # --- connection lifecycle ---------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        guard = self.guard
        if len(self.connections) >= self._limits.max_connections and not guard.evict_idle():
            self._refused = True
            self.transport = transport
            guard.closed["refused"] += 1
            if log.isEnabledFor(logging.DEBUG):
                log.debug("connection refused: %d open", len(self.connections))
            transport.write(_response(503, [*self.server_state.default_headers]))
            transport.close()
            return
        super().connection_made(transport)
        guard.idle[self] = None
        self._head_due = self.loop.time() + self._limits.header_timeout
        self._arm(self._head_due)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.guard.idle.pop(self, None)
        if self._refused:
            return
        super().connection_lost(exc)

    def close(self, reason: str) -> None:
        """Close now, counted under `reason`; a request in progress is told the client left."""
        self.guard.idle.pop(self, None)
        self.connections.discard(self)  # frees its place under the cap at once
        self.guard.closed[reason] += 1
        if log.isEnabledFor(logging.DEBUG):
            log.debug("connection closed: %s", reason)
        self._disarm()
        if not self.transport.is_closing():
            self.transport.close()

    # --- receiving ----------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        # uvicorn's, plus the header bound and the deadlines.
        if self._refused or self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_due is None:  # even bytes that start no request (blank lines)
                self._head_due = self.loop.time() + self._limits.header_timeout
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._head_size > self._limits.max_header_bytes:
                self._reject(431, "header_too_large")
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            # No WebSocket support is loaded: the request is answered as plain HTTP, and
            # the connection, whose parser stops at an upgrade, is closed after it.
            if self.cycle is not None:
                self.cycle.keep_alive = False
            return
        if self._in_head and self._head_bytes > self._limits.max_header_bytes:
            self._reject(431, "header_too_large")
        elif self._timer is None:
            if self._in_body:
                self._arm(self._body_due)
            elif self._head_due is not None and self._answered():
                self._arm(self._head_due)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_size = 0
        if self._head_due is None:
            self._head_due = self.loop.time() + self._limits.header_timeout

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        self.guard.idle.pop(self, None)
        self._in_head = False
        self._head_due = None
        self._head_bytes = 0
        self._in_body = True
        self._body_due = self.loop.time() + self._limits.body_timeout
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        if self._in_body:
            self._in_body = False
            self._in_head = True
            self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.cycle.response_complete:
            self.guard.idle[self] = None
            if self._in_head and self._head_due is not None:
                # A head that began while the previous request was being answered (HTTP
                # pipelining) gets its whole time from now, as if it had just begun; the
                # idle keep-alive timer does not apply to it.
                self._unset_keepalive_if_required()
                self._disarm()
                self._head_due = self.loop.time() + self._limits.header_timeout
                self._arm(self._head_due)

    # --- helpers -----------------------------------------------------------------------

    def _answered(self) -> bool:
        """No request of this connection is waiting for its answer."""
        cycle: RequestResponseCycle | None = self.cycle
        return cycle is None or cycle.response_complete

    def _count(self, size: int) -> None:
        self._head_size += size
        if self._head_size > self._limits.max_header_bytes:
            raise _HeadTooLargeError

    def _arm(self, due: float) -> None:
        self._timer = self.loop.call_at(due, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._in_body:
            self._reject(408, "body_timeout")
        elif self._head_bytes or self._head_size:
            self._reject(408, "header_timeout")
        else:
            self.close("header_timeout")  # nothing was sent: nothing to answer

    def _reject(self, status: int, reason: str) -> None:
        """Answer `status` and close; only close when the answer would follow another one
        (a response under way, or one already given to the request still arriving)."""
        cycle: RequestResponseCycle | None = self.cycle
        if cycle is None or (
            cycle.response_complete if self._in_head else not cycle.response_started
        ):
            self.transport.write(_response(status, self.server_state.default_headers))
        if cycle is not None and not cycle.response_complete:
            # The application, if it runs, sees a client that left, and cannot answer.
            cycle.disconnected = True
            cycle.message_event.set()
        self.close(reason)


class _HeadTooLargeError(Exception):
    """Raised from a parser callback to stop parsing a head over the bound."""
