"""A request-body size limit, enforced before any handler reads the body, and a client
that leaves before its body is whole treated as gone rather than as a failure."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimit:
    """Refuses bodies over `max_bytes` with the response `refuse(path)` builds.

    A declared Content-Length is checked at once (the server holds the body to it). A body
    without one (chunked) is read up front, at most `max_bytes` of it, and replayed, so no
    handler ever sees more than the limit.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, refuse: Callable[[str], Response]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._limit(scope, receive, send)
        except ClientDisconnect:
            # The client left, or the server gave up waiting for the body: nobody is left
            # to answer, and nothing went wrong here.
            return

    async def _limit(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = next(
            (value for name, value in scope["headers"] if name == b"content-length"), None
        )
        if length is not None:
            if not length.isdigit() or int(length) > self.max_bytes:
                await self.refuse(scope["path"])(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return

        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; let the app see it
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self.refuse(scope["path"])(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                break

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return message
            return await receive()

        await self.app(scope, replay, send)
