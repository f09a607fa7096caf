"""The gateway in a real supergraph: composed with a second subgraph that refers to
`MessagingProfile` by id (tests/node/federation.mjs, Node), served by Hive Gateway, queried
across both with a tenant's token."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.simulator import Account, Simulator
from tests import nodetools
from tests.conftest import ALPHA_KEY, ALPHA_TOKEN, BETA_KEY, BETA_TOKEN, MakeApp
from tests.schema.conftest import upstream
from tests.server import serve

pytestmark = pytest.mark.slow


@pytest.fixture
def router(make_app: MakeApp, alpha: Account, tmp_path: Path) -> Iterator[str]:
    """The router's URL; the notes subgraph keeps one note about alpha's first profile."""
    node = nodetools.node()
    notes = [
        {"id": "n1", "text": "Escalate to the on-call", "profileId": next(iter(alpha.profiles))}
    ]
    log = tmp_path / "federation.log"
    with (
        serve(make_app(federation=True)) as gateway,
        log.open("w") as errors,
        subprocess.Popen(
            [node, "federation.mjs", f"{gateway}/graphql", ALPHA_TOKEN, json.dumps(notes)],
            cwd=nodetools.TOOLS,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        ) as process,
    ):
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            line = process.stdout.readline()
            assert line, log.read_text()
            yield json.loads(line)["router"]
        finally:
            process.stdin.close()  # it stops when its stdin closes
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def ask(router: str, token: str, query: str) -> dict[str, Any]:
    response = httpx.post(
        router,
        json={"query": query},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_notes_reach_profiles_through_the_gateways_entities(
    router: str, simulator: Simulator, alpha: Account
) -> None:
    profile = next(iter(alpha.profiles.values()))
    simulator.requests.clear()  # the router's composition asked for the SDL
    body = ask(
        router,
        ALPHA_TOKEN,
        "{ profileNotes { text profile { id name phoneNumbers(first: 2) { totalCount } } } }",
    )
    assert body == {
        "data": {
            "profileNotes": [
                {
                    "text": "Escalate to the on-call",
                    "profile": {
                        "id": profile["id"],
                        "name": profile["name"],
                        "phoneNumbers": {"totalCount": 3},
                    },
                }
            ]
        }
    }
    assert upstream(simulator) == [
        f"GET /messaging_profiles/{profile['id']}",
        f"GET /phone_numbers/messaging?page[number]=1&page[size]=20"
        f"&filter[messaging_profile_id]={profile['id']}&sort[phone_number]=asc",
    ]
    assert {r.api_key for r in simulator.requests} == {ALPHA_KEY}


def test_profiles_reach_their_notes_in_the_other_subgraph(router: str, alpha: Account) -> None:
    body = ask(
        router, ALPHA_TOKEN, "{ messagingProfiles { edges { node { name notes { text } } } } }"
    )
    names = [profile["name"] for profile in alpha.profiles.values()]
    assert body == {
        "data": {
            "messagingProfiles": {
                "edges": [
                    {"node": {"name": names[0], "notes": [{"text": "Escalate to the on-call"}]}},
                    {"node": {"name": names[1], "notes": []}},
                    {"node": {"name": names[2], "notes": []}},
                ]
            }
        }
    }


def test_another_tenant_gets_no_data_of_the_first(
    router: str, simulator: Simulator, alpha: Account
) -> None:
    simulator.requests.clear()
    body = ask(router, BETA_TOKEN, "{ profileNotes { text profile { id name } } }")
    profile = next(iter(alpha.profiles.values()))
    # The note and the id are the notes subgraph's; what the gateway would add is missing.
    assert body["data"] == {
        "profileNotes": [
            {"text": "Escalate to the on-call", "profile": {"id": profile["id"], "name": None}}
        ]
    }
    assert [
        (e["path"], e["extensions"]["code"], e["extensions"]["serviceName"]) for e in body["errors"]
    ] == [(["profileNotes", 0, "profile", "name"], "NOT_FOUND", "messaging")]
    assert profile["name"] not in json.dumps(body)
    assert {r.api_key for r in simulator.requests} == {BETA_KEY}
