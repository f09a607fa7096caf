"""Connections to Redis as operators run it: one server (`redis://`, or `rediss://` with TLS,
a password in the URL), a Sentinel-managed master, or a Cluster, all through redis-py's own
support. Every module that talks to Redis (coherence, rate limits, the upstream budget) gets
its clients here, so a deployment is described once, in the settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import Sentinel

if TYPE_CHECKING:
    from gateway.config import Settings

# Either kind answers the commands the gateway sends (EVALSHA, PUBLISH, SET, pub/sub).
Client = redis.Redis | RedisCluster


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """Where Redis is and how to reach it; `url` holds the password, so it is never shown."""

    url: str = field(repr=False)
    sentinels: tuple[tuple[str, int], ...] = ()
    sentinel_master: str = "mymaster"
    cluster: bool = False
    tls_ca_file: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisTarget | None:
        """The settings' Redis, or None when the replicas run without one."""
        if not settings.redis_url:
            return None
        return cls(
            settings.redis_url,
            sentinels=tuple(parse_sentinels(settings.redis_sentinels)),
            sentinel_master=settings.redis_sentinel_master,
            cluster=settings.redis_cluster,
            tls_ca_file=settings.redis_tls_ca_file,
        )

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "rediss"

    def client(self, *, timeout: float, **options: Any) -> Client:
        """A new client (its own connection pool) with these socket timeouts."""
        options = {"socket_connect_timeout": timeout, **options}
        if self.tls and self.tls_ca_file is not None:
            options["ssl_ca_certs"] = str(self.tls_ca_file)
        if self.cluster:
            options.pop("health_check_interval", None)  # per node in a cluster, not a client option
            return RedisCluster.from_url(self.url, **options)
        if self.sentinels:
            return self._master(options)
        return redis.Redis.from_url(self.url, **options)

    def _master(self, options: dict[str, Any]) -> redis.Redis:
        """The Sentinels' current master, with the URL's credentials, database and TLS; the
        client follows a failover by asking the Sentinels again."""
        parts = urlsplit(self.url)
        connection: dict[str, Any] = dict(options)
        if parts.username:
            connection["username"] = unquote(parts.username)
        if parts.password:
            connection["password"] = unquote(parts.password)
        database = parts.path.lstrip("/")
        if database.isdigit():
            connection["db"] = int(database)
        sentinel_options: dict[str, Any] = {
            key: value for key, value in options.items() if key.startswith("socket_")
        }
        if self.tls:
            connection["ssl"] = True
            sentinel_options["ssl"] = True
            if self.tls_ca_file is not None:
                sentinel_options["ssl_ca_certs"] = str(self.tls_ca_file)
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(self.sentinels), sentinel_kwargs=sentinel_options, **connection
        )
        master: _SentinelMaster = sentinel.master_for(
            self.sentinel_master, redis_class=_SentinelMaster
        )
        master.sentinels = list(sentinel.sentinels)
        return master


class _SentinelMaster(redis.Redis):
    """The master's client, which also closes its connections to the Sentinels."""

    sentinels: list[redis.Redis]

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        for sentinel in getattr(self, "sentinels", ()):
            await sentinel.aclose()


async def prepared(client: Client) -> Client:
    """`client`, ready for pub/sub: a Cluster client learns its slots' nodes first (commands
    do that themselves, a subscription does not)."""
    if isinstance(client, RedisCluster):
        await client.initialize()
    return client


def parse_sentinels(text: str) -> list[tuple[str, int]]:
    """`host:port,host:port` (port 26379 when left out) as pairs; empty text: none."""
    found = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "26379")
        if not host or not port.isdigit():
            raise ValueError(f"a sentinel must be host:port, not {item!r}")
        found.append((host.strip("[]"), int(port)))
    return found
