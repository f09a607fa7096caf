"""Tenants, tokens and Telnyx keys rotated while `python -m gateway serve` runs: the tenants
file and a key file change under a real process (a key file the way Kubernetes updates a
mounted Secret, by swapping the ``..data`` symlink), or SIGHUP asks for a reload."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.simulator import Simulator
from tests.process import Gateway, Start
from tests.server import serve

pytestmark = pytest.mark.slow

OLD_KEY = "KEYrotation0ld000000000000000000"
NEW_KEY = "KEYrotationNew00000000000000000"
OTHER_KEY = "KEYrotationOther000000000000000"
TOKEN = "rotation-token-0123456789"
NEW_TOKEN = "rotation-token-new-0123456789"
OTHER_TOKEN = "rotation-other-token-0123456789"
QUERY = "{ messagingProfiles(first: 5) { edges { node { id } } } }"
RELOADED = "tenants reloaded"
REFUSED = "tenants reload refused"
# A bound for what must happen "at once"; generous for a loaded machine.
PATIENCE = 10.0


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def write_atomically(path: Path, text: str) -> None:
    """As editors and config tools do: the new file is complete before it has the name."""
    staged = path.with_name(f".{path.name}.new")
    staged.write_text(text)
    staged.replace(path)


def tenants_json(*tenants: dict[str, str]) -> str:
    return json.dumps({"tenants": list(tenants)})


def tenant(tenant_id: str, token: str, **key: str) -> dict[str, str]:
    return {"id": tenant_id, "token_sha256": sha(token), **key}


class SecretVolume:
    """A directory laid out as the kubelet lays out a mounted Secret: each key is a symlink
    to ``..data/<key>``, and ``..data`` a symlink to a timestamped directory that an update
    replaces in one rename."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()
        self._generation = 0

    def publish(self, files: dict[str, str]) -> None:
        self._generation += 1
        version = self.root / f"..2026_01_01_00_00_{self._generation:02d}"
        version.mkdir()
        for name, text in files.items():
            (version / name).write_text(text)
        staged = self.root / "..data_tmp"
        staged.symlink_to(version.name)
        os.replace(staged, self.root / "..data")
        for name in files:
            link = self.root / name
            if not link.is_symlink():
                link.symlink_to(f"..data/{name}")


@pytest.fixture
def simulator_url() -> Iterator[tuple[Simulator, str]]:
    simulator = Simulator()
    for key in (OLD_KEY, NEW_KEY, OTHER_KEY):
        simulator.account(key)  # seeded before another thread serves it
    with serve(simulator.app) as url:
        yield simulator, url


def start(start_gateway: Start, tenants_file: Path, upstream: str, **env: str) -> Gateway:
    return start_gateway(
        GATEWAY_DEMO="false",
        GATEWAY_TENANTS_FILE=str(tenants_file),
        GATEWAY_TELNYX_BASE_URL=f"{upstream}/v2",
        **env,
    )


def graphql(gateway: Gateway, token: str) -> httpx.Response:
    return httpx.post(
        f"{gateway.url}/graphql",
        json={"query": QUERY},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def profile_ids(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    edges = response.json()["data"]["messagingProfiles"]["edges"]
    return {edge["node"]["id"] for edge in edges}


def account_ids(simulator: Simulator, key: str) -> set[str]:
    return set(simulator.account(key).profiles)


def keys_seen(simulator: Simulator) -> list[str | None]:
    return [record.api_key for record in simulator.requests]


def wait_for_log(gateway: Gateway, text: str, count: int = 1) -> None:
    deadline = time.monotonic() + PATIENCE
    while gateway.logs().count(text) < count:
        assert time.monotonic() < deadline, gateway.logs()
        time.sleep(0.02)


def log_lines(gateway: Gateway, text: str) -> list[str]:
    return [line for line in gateway.logs().splitlines() if text in line]


def test_a_rotated_token_is_refused_within_a_second_and_the_new_one_is_served(
    start_gateway: Start, tmp_path: Path, simulator_url: tuple[Simulator, str]
) -> None:
    simulator, upstream = simulator_url
    path = tmp_path / "tenants.json"
    path.write_text(tenants_json(tenant("acme", TOKEN, telnyx_api_key=OLD_KEY)))
    gateway = start(start_gateway, path, upstream)
    assert profile_ids(graphql(gateway, TOKEN)) == account_ids(simulator, OLD_KEY)

    write_atomically(path, tenants_json(tenant("acme", NEW_TOKEN, telnyx_api_key=OLD_KEY)))
    written = time.monotonic()
    while graphql(gateway, TOKEN).status_code == 200:
        assert time.monotonic() - written < PATIENCE
        time.sleep(0.02)
    # The default poll is every 0.5 s: the old token is refused within a second.
    assert time.monotonic() - written < 1.0
    assert graphql(gateway, TOKEN).status_code == 401
    assert profile_ids(graphql(gateway, NEW_TOKEN)) == account_ids(simulator, OLD_KEY)
    (line,) = log_lines(gateway, RELOADED)
    entry = json.loads(line)
    assert entry["message"] == "tenants reloaded (a file changed): 1 tenants"
    assert (entry["added"], entry["removed"], entry["rekeyed"]) == ([], [], [])


def test_a_rotated_key_file_sends_the_new_key_and_serves_nothing_cached_by_the_old(
    start_gateway: Start, tmp_path: Path, simulator_url: tuple[Simulator, str]
) -> None:
    simulator, upstream = simulator_url
    secret = SecretVolume(tmp_path / "secret")
    secret.publish({"telnyx-key": OLD_KEY + "\n"})
    path = tmp_path / "tenants.json"
    path.write_text(
        tenants_json(tenant("acme", TOKEN, telnyx_api_key_file=str(secret.root / "telnyx-key")))
    )
    gateway = start(start_gateway, path, upstream)
    old_ids = account_ids(simulator, OLD_KEY)
    assert profile_ids(graphql(gateway, TOKEN)) == old_ids
    # Cached now: the same query (whole response) and the REST list read nothing upstream.
    calls = len(simulator.requests)
    assert profile_ids(graphql(gateway, TOKEN)) == old_ids
    assert len(simulator.requests) == calls

    secret.publish({"telnyx-key": NEW_KEY + "\n"})
    wait_for_log(gateway, RELOADED)
    assert profile_ids(graphql(gateway, TOKEN)) == account_ids(simulator, NEW_KEY)
    rest = httpx.get(
        f"{gateway.url}/v2/messaging_profiles",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert {profile["id"] for profile in rest.json()["data"]} == account_ids(simulator, NEW_KEY)
    assert keys_seen(simulator)[:calls] == [OLD_KEY] * calls
    assert set(keys_seen(simulator)[calls:]) == {NEW_KEY}
    (line,) = log_lines(gateway, RELOADED)
    assert json.loads(line)["rekeyed"] == ["acme"]
    assert OLD_KEY not in gateway.logs()
    assert NEW_KEY not in gateway.logs()


class HeldRequest:
    """`POST /graphql` whose headers (and so its authentication) arrive now and the rest of
    its body later."""

    def __init__(self, port: int, token: str) -> None:
        body = json.dumps({"query": QUERY}).encode()
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        head = (
            "POST /graphql HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self._sock.sendall(head + body[:10])
        self._rest = body[10:]

    def finish(self) -> dict[str, object]:
        self._sock.sendall(self._rest)
        chunks = []
        while chunk := self._sock.recv(65536):
            chunks.append(chunk)
        self._sock.close()
        head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
        assert head.split(b" ", 2)[1] == b"200", head
        result: dict[str, object] = json.loads(body)
        return result


def test_a_request_in_flight_finishes_with_the_old_key_and_leaves_nothing_cached(
    start_gateway: Start, tmp_path: Path, simulator_url: tuple[Simulator, str]
) -> None:
    simulator, upstream = simulator_url
    path = tmp_path / "tenants.json"
    path.write_text(tenants_json(tenant("acme", TOKEN, telnyx_api_key=OLD_KEY)))
    gateway = start(start_gateway, path, upstream)
    held = HeldRequest(gateway.port, TOKEN)
    time.sleep(0.5)  # the server has read the headers: the request is authenticated

    write_atomically(path, tenants_json(tenant("acme", TOKEN, telnyx_api_key=NEW_KEY)))
    wait_for_log(gateway, RELOADED)
    # It reads Telnyx only now, after the reload, and still with the key it started with.
    result = held.finish()
    edges = result["data"]["messagingProfiles"]["edges"]  # type: ignore[index]
    assert {edge["node"]["id"] for edge in edges} == account_ids(simulator, OLD_KEY)
    assert keys_seen(simulator) == [OLD_KEY]
    # What it read and cached is forgotten once it has finished.
    time.sleep(0.3)
    assert profile_ids(graphql(gateway, TOKEN)) == account_ids(simulator, NEW_KEY)
    assert keys_seen(simulator) == [OLD_KEY, NEW_KEY]


def test_a_removed_tenant_is_refused_and_the_others_keep_being_served(
    start_gateway: Start, tmp_path: Path, simulator_url: tuple[Simulator, str]
) -> None:
    simulator, upstream = simulator_url
    path = tmp_path / "tenants.json"
    acme = tenant("acme", TOKEN, telnyx_api_key=OLD_KEY)
    path.write_text(tenants_json(acme, tenant("globex", OTHER_TOKEN, telnyx_api_key=OTHER_KEY)))
    gateway = start(start_gateway, path, upstream)
    assert profile_ids(graphql(gateway, OTHER_TOKEN)) == account_ids(simulator, OTHER_KEY)

    write_atomically(path, tenants_json(acme))
    wait_for_log(gateway, RELOADED)
    assert graphql(gateway, OTHER_TOKEN).status_code == 401
    assert profile_ids(graphql(gateway, TOKEN)) == account_ids(simulator, OLD_KEY)
    (line,) = log_lines(gateway, RELOADED)
    assert json.loads(line)["removed"] == ["globex"]


def test_a_broken_file_is_refused_in_one_log_line_and_the_old_tenants_keep_serving(
    start_gateway: Start, tmp_path: Path, simulator_url: tuple[Simulator, str]
) -> None:
    simulator, upstream = simulator_url
    path = tmp_path / "tenants.json"
    good = tenants_json(tenant("acme", TOKEN, telnyx_api_key=OLD_KEY))
    path.write_text(good)
    gateway = start(start_gateway, path, upstream)

    # Not JSON, and it holds a key: the refusal must not quote it.
    write_atomically(path, f'{{"tenants": [{{"id": "acme", "telnyx_api_key": "{NEW_KEY}"')
    wait_for_log(gateway, REFUSED)
    time.sleep(1.5)  # three more polls see the same broken file
    assert profile_ids(graphql(gateway, TOKEN)) == account_ids(simulator, OLD_KEY)
    (line,) = log_lines(gateway, REFUSED)
    entry = json.loads(line)
    assert entry["level"] == "error"
    assert entry["message"].startswith(
        "tenants reload refused (a file changed); the previous tenants stay in service: "
        f"invalid tenants file {path}: file: Invalid JSON"
    )
    assert NEW_KEY not in gateway.logs()
    assert OLD_KEY not in gateway.logs()
    assert log_lines(gateway, RELOADED) == []

    # Fixed again (here: with a new token), it is loaded.
    write_atomically(path, tenants_json(tenant("acme", NEW_TOKEN, telnyx_api_key=OLD_KEY)))
    wait_for_log(gateway, RELOADED)
    assert graphql(gateway, TOKEN).status_code == 401
    assert profile_ids(graphql(gateway, NEW_TOKEN)) == account_ids(simulator, OLD_KEY)


def test_sighup_reloads_when_polling_is_off(
    start_gateway: Start, tmp_path: Path, simulator_url: tuple[Simulator, str]
) -> None:
    simulator, upstream = simulator_url
    path = tmp_path / "tenants.json"
    path.write_text(tenants_json(tenant("acme", TOKEN, telnyx_api_key=OLD_KEY)))
    gateway = start(start_gateway, path, upstream, GATEWAY_TENANTS_RELOAD_INTERVAL="0")

    write_atomically(path, tenants_json(tenant("acme", NEW_TOKEN, telnyx_api_key=OLD_KEY)))
    time.sleep(1.0)
    assert graphql(gateway, TOKEN).status_code == 200  # nobody asked yet
    gateway.process.send_signal(signal.SIGHUP)
    wait_for_log(gateway, "tenants reloaded (SIGHUP): 1 tenants")
    assert graphql(gateway, TOKEN).status_code == 401
    assert profile_ids(graphql(gateway, NEW_TOKEN)) == account_ids(simulator, OLD_KEY)
    assert gateway.process.poll() is None
