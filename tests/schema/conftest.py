"""Helpers for the GraphQL tests: send an operation, read what reached the simulator."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from gateway.simulator import Account, Simulator
from tests.conftest import ALPHA_KEY


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST an operation and return the JSON body (asserting a 200)."""
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def upstream(simulator: Simulator) -> list[str]:
    """Every request that reached Telnyx, as "METHOD /path?decoded query"."""
    return [
        f"{r.method} {r.path.removeprefix('/v2')}" + (f"?{unquote(r.query)}" if r.query else "")
        for r in simulator.requests
    ]


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


@pytest.fixture
def alpha(simulator: Simulator) -> Account:
    """Tenant alpha's Telnyx account (seeded)."""
    return simulator.account(ALPHA_KEY)
