"""Helpers for the client tests: a recording mock upstream, a fake clock and sample bodies."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from gateway.telnyx.client import TelnyxClient
from gateway.telnyx.transport import HttpxUpstream
from gateway.tenancy import Tenant

KEY = "KEYsecretA0123456789abcdefXYZ"
OTHER_KEY = "KEYsecretB0123456789abcdefXYZ"
BASE_URL = "https://api.telnyx.test/v2"
PROFILE_ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"

PROFILE = {
    "id": PROFILE_ID,
    "record_type": "messaging_profile",
    "name": "Support",
    "enabled": True,
    "whitelisted_destinations": ["US", "CA"],
    "created_at": "2026-01-02T03:04:05Z",
    "number_pool_settings": {"toll_free_weight": 10, "long_code_weight": 1, "skip_unhealthy": True},
    "brand_new_field": {"nested": [1, 2]},
}
SHORT_CODE = {
    "id": "5e1b5c3a-1d2e-4f60-8a9b-0c1d2e3f4a5b",
    "record_type": "short_code",
    "short_code": "12345",
    "country_code": "US",
    "messaging_profile_id": PROFILE_ID,
    "tags": ["a"],
}
PHONE_NUMBER = {
    "id": "1293384261075731499",
    "record_type": "messaging_phone_number",
    "phone_number": "+15551234567",
    "messaging_profile_id": PROFILE_ID,
    "type": "longcode",
    "features": {
        "sms": {
            "domestic_two_way": True,
            "international_inbound": False,
            "international_outbound": False,
        },
        "mms": None,
    },
    "health": {
        "message_count": 122,
        "inbound_outbound_ratio": 0.43,
        "success_ratio": 0.94,
        "spam_ratio": 0.06,
    },
}

Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


def tenant(tenant_id: str = "acme", key: str = KEY) -> Tenant:
    return Tenant(tenant_id, SecretStr(key))


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


def one(resource: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, content=body({"data": resource}))


def page(items: list[dict[str, Any]], meta: dict[str, int] | None = None) -> httpx.Response:
    envelope: dict[str, Any] = {"data": items}
    if meta is not None:
        envelope["meta"] = meta
    return httpx.Response(200, content=body(envelope))


def error(
    status: int, *entries: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(status, content=body({"errors": list(entries)}), headers=headers)


@dataclass
class FakeTime:
    """A monotonic clock that only the injected sleep moves."""

    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class Upstream:
    """A scripted upstream: answers from `script` in turn (the last repeats), records requests."""

    script: Sequence[httpx.Response | Exception | Handler]
    requests: list[httpx.Request] = field(default_factory=list)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        # A copy: the client strips the key from the live request once it has its answer.
        self.requests.append(
            httpx.Request(
                request.method,
                request.url,
                headers=request.headers.copy(),
                content=request.content,
                extensions=dict(request.extensions),
            )
        )
        step = self.script[min(len(self.requests), len(self.script)) - 1]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            return step
        answer = step(request)
        if isinstance(answer, httpx.Response):
            return answer
        return await answer


def make_client(
    upstream: Upstream, *, time: FakeTime | None = None, **options: Any
) -> TelnyxClient:
    fake = time or FakeTime()
    http = HttpxUpstream(httpx.MockTransport(upstream))
    options.setdefault("random", lambda: 0.0)
    return TelnyxClient(http, base_url=BASE_URL, sleep=fake.sleep, clock=fake.clock, **options)
