"""Scripted failures: added latency, canned statuses, slow responses and dropped connections."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal["status", "drop", "delay"]

RATE_LIMITED_BODY: dict[str, Any] = {
    # The body Telnyx documents for 429 (developers.telnyx.com rate-limiting page).
    "errors": [
        {
            "code": "10011",
            "title": "Too many requests",
            "detail": "You have exceeded the maximum number of allowed requests.",
        }
    ]
}


@dataclass(slots=True)
class Fault:
    """One scripted fault, used by the next `times` requests that match its scope."""

    kind: FaultKind
    times: int = 1
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0
    method: str | None = None
    path: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or path.startswith(self.path)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "times": self.times,
            "status": self.status or None,
            "headers": self.headers,
            "body": self.body,
            "delay": self.delay,
            "method": self.method,
            "path": self.path,
        }


class Faults:
    """The fault script of one simulator; faults fire in the order they were added."""

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self._queue: list[Fault] = []
        # Tests script faults from their own thread while uvicorn serves in another.
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        if fault.times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._queue.append(fault)
        return fault

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
        method: str | None = None,
        path: str | None = None,
    ) -> Fault:
        """Answer the next `times` matching requests with `status` (Telnyx error body by default)."""
        return self.add(
            Fault("status", times, status, dict(headers or {}), body, 0.0, method, path)
        )

    def rate_limit(
        self,
        *,
        times: int = 1,
        retry_after: float | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> Fault:
        """429 with Telnyx's documented body; Retry-After only when given (Telnyx sends none)."""
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        return self.fail(
            429, times=times, headers=headers, body=RATE_LIMITED_BODY, method=method, path=path
        )

    def drop(self, *, times: int = 1, method: str | None = None, path: str | None = None) -> Fault:
        """Close the connection of the next `times` matching requests without answering."""
        return self.add(Fault("drop", times, method=method, path=path))

    def slow(
        self, delay: float, *, times: int = 1, method: str | None = None, path: str | None = None
    ) -> Fault:
        """Delay the next `times` matching requests by `delay` seconds, then answer normally."""
        return self.add(Fault("delay", times, delay=delay, method=method, path=path))

    def take(self, method: str, path: str) -> Fault | None:
        """The fault for this request, if any, counting it as used."""
        if not self._queue:  # the common case costs one check
            return None
        with self._lock:
            for index, fault in enumerate(self._queue):
                if fault.matches(method, path):
                    fault.times -= 1
                    if fault.times == 0:
                        del self._queue[index]
                    return fault
        return None

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._queue)

    def clear(self) -> None:
        """Drop every scripted fault; the added latency stays."""
        with self._lock:
            self._queue.clear()
