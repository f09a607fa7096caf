"""Fixtures: a fresh simulator per test and in-process clients whose every response is
checked against the spec extract (when it is present)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.simulator import Simulator
from tests.spec import Spec, load_spec, optional_spec

KEY = "KEYsimulatortest01"
OTHER_KEY = "KEYsimulatortest02"
BASE_URL = "http://telnyx.test/v2"


@pytest.fixture
def spec() -> Spec:
    return load_spec()


@pytest.fixture
def sim() -> Simulator:
    return Simulator()


def conforming_client(sim: Simulator, api_key: str | None = KEY) -> httpx.AsyncClient:
    """A client on the simulator that fails the test on any response the spec forbids."""
    checked = optional_spec()

    async def check(response: httpx.Response) -> None:
        await response.aread()
        request = response.request
        if checked is None or not request.url.path.startswith("/v2/"):
            return
        operation = checked.find(request.method, request.url.path)
        if operation is None:
            # A path or method outside the spec: its errors still use Telnyx's envelope.
            checked.validate_component("messaging_Errors", response.json())
        elif checked.response_key(operation, response.status_code) is not None:
            # Statuses the spec does not declare (injected 5xx) have no schema to meet.
            checked.validate(
                request.method, request.url.path, response.status_code, response.json()
            )

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url=BASE_URL,
        headers=headers,
        event_hooks={"response": [check]},
    )


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with conforming_client(sim) as client:
        yield client


def errors(response: httpx.Response) -> list[dict[str, Any]]:
    """The `errors` array of an error response."""
    body: list[dict[str, Any]] = response.json()["errors"]
    return body


def pointers(response: httpx.Response) -> list[str]:
    return [error["source"]["pointer"] for error in errors(response)]
