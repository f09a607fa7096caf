"""Reloading the tenants in process: what a poll sees as a change, what a reload forgets,
and what it refuses (tests/test_rotation.py does the same to a real process)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.config import Settings
from gateway.reload import Fingerprint, InFlight, TenantsReloader
from gateway.simulator import Simulator
from gateway.tenancy import TenantRegistry
from tests.conftest import client_for

ACME_KEY = "KEYacme000000000000000000000000"
GLOBEX_KEY = "KEYglobex00000000000000000000000"
ACME_TOKEN = "acme-token-0123456789"
GLOBEX_TOKEN = "globex-token-0123456789"
QUERY = {"query": "{ messagingProfiles(first: 2) { edges { node { id name } } } }"}


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def entry(tenant_id: str, token: str, key: str) -> dict[str, str]:
    return {"id": tenant_id, "token_sha256": sha(token), "telnyx_api_key": key}


def write(path: Path, *tenants: dict[str, str]) -> Path:
    path.write_text(json.dumps({"tenants": list(tenants)}))
    return path


# --- what counts as a change ---------------------------------------------------------------


def test_a_secret_volume_update_is_a_change_even_with_the_same_size_and_times(
    tmp_path: Path,
) -> None:
    # The kubelet's layout: key -> ..data/key, ..data -> a timestamped directory.
    for version, key in (("..v1", "KEYaaaa"), ("..v2", "KEYbbbb")):
        (tmp_path / version).mkdir()
        (tmp_path / version / "key").write_text(key)
        os.utime(tmp_path / version / "key", ns=(1_000_000_000, 1_000_000_000))
    (tmp_path / "..data").symlink_to("..v1")
    (tmp_path / "key").symlink_to("..data/key")
    path = tmp_path / "tenants.json"
    path.write_text(
        json.dumps(
            {"tenants": [{"id": "a", "token_sha256": sha("t"), "telnyx_api_key_file": "key"}]}
        )
    )
    fingerprint = Fingerprint(path)
    before = fingerprint()
    assert fingerprint() == before
    (tmp_path / "..data_tmp").symlink_to("..v2")
    os.replace(tmp_path / "..data_tmp", tmp_path / "..data")
    assert fingerprint() != before


def test_a_key_file_that_appears_is_a_change(tmp_path: Path) -> None:
    path = tmp_path / "tenants.json"
    path.write_text(
        json.dumps({"tenants": [{"id": "a", "token_sha256": sha("t"), "telnyx_api_key_file": "k"}]})
    )
    fingerprint = Fingerprint(path)
    missing = fingerprint()
    (tmp_path / "k").write_text("KEYkkkk")
    assert fingerprint() != missing


# --- requests in flight ----------------------------------------------------------------------


async def test_drained_waits_for_the_requests_that_arrived_before_a_version_only() -> None:
    registry = TenantRegistry.from_tokens([])
    inflight = InFlight(registry)
    old = inflight.enter()
    registry.replace(TenantRegistry.from_tokens([]))
    new = inflight.enter()
    waiting = asyncio.create_task(inflight.drained(registry.version))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    inflight.leave(old)
    await asyncio.wait_for(waiting, 5)
    inflight.leave(new)


# --- a reload against a whole app -------------------------------------------------------------


@pytest.fixture
def tenants_file(tmp_path: Path) -> Path:
    return write(
        tmp_path / "tenants.json",
        entry("acme", ACME_TOKEN, ACME_KEY),
        entry("globex", GLOBEX_TOKEN, GLOBEX_KEY),
    )


@pytest.fixture
async def app(tenants_file: Path) -> AsyncIterator[Starlette]:
    settings = Settings(
        demo=False,
        tenants_file=tenants_file,
        tenants_reload_interval=0,
        otel_sdk_disabled=True,
    )
    app = create_app(settings, upstream_transport=httpx.ASGITransport(app=Simulator().app))
    yield app
    app.state.telemetry.shutdown()


async def query(app: Starlette, token: str) -> httpx.Response:
    async with client_for(app, token) as client:
        return await client.post("/graphql", json=QUERY)


async def test_a_removed_tenant_loses_its_cached_reads_and_its_access(
    app: Starlette, tenants_file: Path
) -> None:
    reloader: TenantsReloader = app.state.tenants_reloader
    for token in (ACME_TOKEN, GLOBEX_TOKEN):
        assert (await query(app, token)).status_code == 200
    cache, responses = app.state.cache, app.state.responses
    per_tenant = len(cache) // 2
    assert (len(cache), len(responses)) == (2 * per_tenant, 2)

    write(tenants_file, entry("acme", ACME_TOKEN, ACME_KEY))
    rotation = await reloader.check()
    assert rotation is not None
    assert (rotation.tenants, rotation.removed, rotation.rekeyed) == (1, ("globex",), ())
    assert (len(cache), len(responses)) == (per_tenant, 1)
    assert (await query(app, GLOBEX_TOKEN)).status_code == 401
    assert (await query(app, ACME_TOKEN)).status_code == 200


async def test_a_tenant_is_forgotten_at_once_and_again_when_its_old_requests_end(
    tenants_file: Path,
) -> None:
    reloader = TenantsReloader(tenants_file, interval=0)
    forgotten: list[str] = []
    reloader.on_forget(forgotten.append)
    # A request that arrived under the old tenants, and one under the new.
    old = reloader.inflight.enter()
    write(tenants_file, entry("acme", ACME_TOKEN, ACME_KEY))
    await reloader.check()
    new = reloader.inflight.enter()
    assert forgotten == ["globex"]
    await asyncio.sleep(0.05)
    assert forgotten == ["globex"]
    # The old request may have stored what it read with the old entry: forget it again.
    reloader.inflight.leave(old)
    await asyncio.sleep(0.05)
    assert forgotten == ["globex", "globex"]
    reloader.inflight.leave(new)
    await reloader.stop()


async def test_a_new_key_drops_the_tenants_cached_reads_and_a_new_token_does_not(
    app: Starlette, tenants_file: Path
) -> None:
    reloader: TenantsReloader = app.state.tenants_reloader
    for token in (ACME_TOKEN, GLOBEX_TOKEN):
        await query(app, token)
    cache = app.state.cache
    full = len(cache)
    write(
        tenants_file,
        entry("acme", "acme-new-token-0123456789", ACME_KEY),
        entry("globex", GLOBEX_TOKEN, "KEYglobexNew000000000000000000"),
    )
    rotation = await reloader.check()
    assert rotation is not None
    assert (rotation.added, rotation.removed, rotation.rekeyed) == ((), (), ("globex",))
    assert len(cache) == full // 2
    assert (await query(app, ACME_TOKEN)).status_code == 401


async def test_an_invalid_file_is_refused_once_and_changes_nothing(
    app: Starlette, tenants_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reloader: TenantsReloader = app.state.tenants_reloader
    registry = reloader.registry
    version = registry.version
    write(tenants_file, entry("acme", ACME_TOKEN, "   "))
    with caplog.at_level(logging.INFO, logger="gateway.reload"):
        assert await reloader.check() is None
        assert await reloader.check() is None  # the same broken file: no second line
    assert [record.getMessage() for record in caplog.records] == [
        "tenants reload refused (a file changed); the previous tenants stay in service: "
        f"invalid tenants file {tenants_file}: tenants.0: the Telnyx key is empty"
    ]
    assert registry.version == version
    assert (await query(app, GLOBEX_TOKEN)).status_code == 200


async def test_a_requested_reload_of_an_unchanged_file_replaces_nothing_that_matters(
    app: Starlette, caplog: pytest.LogCaptureFixture
) -> None:
    reloader: TenantsReloader = app.state.tenants_reloader
    await query(app, ACME_TOKEN)
    cached = len(app.state.cache)
    with caplog.at_level(logging.INFO, logger="gateway.reload"):
        rotation = await reloader.check(requested=True)
    assert rotation is not None
    assert (rotation.added, rotation.removed, rotation.rekeyed) == ((), (), ())
    assert len(app.state.cache) == cached
    assert [record.getMessage() for record in caplog.records] == [
        "tenants reloaded (SIGHUP): 2 tenants"
    ]
