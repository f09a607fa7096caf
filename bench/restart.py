"""Redis killed and restarted under three replicas: every request still served, no write lost.

For `seconds`, 12 workers read (REST and GraphQL, picked at random, each request to the next
replica in turn) while one writer renames the profiles in turn, each write through the next
replica (GraphQL `updateMessagingProfile` and REST PATCH, a round of each in turn), and
remembers the last name it wrote for each profile. A third of the way in, the Redis server
is killed (SIGKILL) and started again on its port, with its arguments, 2 s later (`--save ''`:
it comes back empty, as a Redis without persistence does).

Once every replica reports Redis up again (`/readyz`), each profile is read from every
replica, over REST and over GraphQL, first as a client that takes cached data, then with
`Cache-Control: no-cache` (in that order, so that a fresh read cannot hide a stale entry),
and each name is compared with the last one written, which the simulator must hold too.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import random
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import redis

from bench import stack
from bench.load import BadResponseError, Sample, drive, fetch

WORKERS = 12
DOWN_FOR = 2.0  # seconds between the kill and the restart
POLL = 0.1  # seconds between two looks at every replica's /readyz
BACK_WITHIN = 15.0  # seconds the replicas have to report Redis up again after the phase
PROFILE = "query Profile($id: ID!) { messagingProfile(id: $id) { id name } }"
LIST = "query List { messagingProfiles(first: 20) { edges { node { id name } } } }"
RENAME = (
    "mutation Rename($id: ID!, $name: String!) { "
    "updateMessagingProfile(id: $id, input: {name: $name}) { id name } }"
)
WRITTEN = re.compile(r"Restart (\d+)")


class OwnRedis:
    """A `redis-server` of the benchmark's own on a free port, which can be killed and started
    again on that port with the same arguments."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("no redis-server on PATH: install one, or pass --redis URL")
        self.port = stack.free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._log = workdir / "redis.log"
        self._argv = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, within: float = 10) -> None:
        """Start it and wait until it answers PING."""
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603  -- redis-server from PATH
                self._argv, stdout=log, stderr=subprocess.STDOUT
            )
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        try:
            deadline = time.monotonic() + within
            while True:
                with contextlib.suppress(redis.RedisError):
                    if client.ping():
                        return
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=10)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)


@contextlib.contextmanager
def own_redis(workdir: Path) -> Iterator[OwnRedis]:
    """An `OwnRedis`, started, and stopped afterwards."""
    server = OwnRedis(workdir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@dataclass
class Restart:
    """What the phase saw. `stale_during` (reads that began after a write was answered and
    still showed an older name: before the kill, from the kill until every replica said
    Redis was up again, and after) is for information: while Redis is away, a replica serves
    its cache for `GATEWAY_REDIS_DOWN_TTL` without hearing the others' writes."""

    reads: Sample
    writes: int
    write_errors: int
    first_write_error: str | None
    stale_during: tuple[int, int, int]
    redis_down: float  # from the kill to Redis answering again
    reported_down: list[float]  # per replica, seconds its /readyz said "down"
    back_after: float  # from Redis answering to the last replica reporting it up
    checked: int = 0  # reads after the phase
    check_errors: int = 0
    stale_after: int = 0
    lost: int = 0  # profiles whose last written name the simulator does not have
    examples: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return self.reads.errors + self.write_errors + self.check_errors


def names(document: Any, found: dict[str, str]) -> dict[str, str]:
    """Every (id, name) pair of the profiles in a REST or GraphQL answer."""
    if isinstance(document, dict):
        if isinstance(document.get("id"), str) and isinstance(document.get("name"), str):
            found[document["id"]] = document["name"]
        for value in document.values():
            names(value, found)
    elif isinstance(document, list):
        for value in document:
            names(value, found)
    return found


def written(name: str) -> int:
    """Which write gave `name` (-1: none of this phase's)."""
    match = WRITTEN.fullmatch(name)
    return int(match[1]) if match else -1


class Client:
    """Requests to the replicas, each answer checked (200, no GraphQL errors)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def graphql(
        self,
        replica: stack.Server,
        query: str,
        variables: dict[str, str],
        headers: dict[str, str] | None = None,
    ) -> Any:
        body = orjson.dumps({"query": query, "variables": variables})
        data = await fetch(
            self.session,
            "POST",
            replica.url + "/graphql",
            body=body,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        answer = orjson.loads(data)
        if answer.get("errors"):
            raise BadResponseError(data[:300].decode(errors="replace"))
        return answer

    async def rest(
        self,
        replica: stack.Server,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        headers = dict(headers or {})
        if body is not None:
            headers["Content-Type"] = "application/json"
        raw = None if body is None else orjson.dumps(body)
        data = await fetch(self.session, method, replica.url + path, body=raw, headers=headers)
        return orjson.loads(data)


class Readiness:
    """Every replica's /readyz, looked at every `POLL` seconds: the seconds each said Redis
    was down (or did not answer), and since when all have said it is up."""

    def __init__(self, session: aiohttp.ClientSession, replicas: list[stack.Server]) -> None:
        self._session = session
        self._replicas = replicas
        self.down = [0.0] * len(replicas)
        self.all_up_since: float | None = None

    async def _up(self, replica: stack.Server) -> bool:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
            async with self._session.get(replica.metrics_url + "/readyz") as response:
                return bool((await response.json()).get("redis") == "up")
        return False

    async def watch(self) -> None:
        """Until cancelled."""
        previous = time.perf_counter()
        while True:
            now = time.perf_counter()
            elapsed, previous = now - previous, now
            ups = [await self._up(replica) for replica in self._replicas]
            for i, up in enumerate(ups):
                self.down[i] += 0 if up else elapsed
            if not all(ups):
                self.all_up_since = None
            elif self.all_up_since is None:
                self.all_up_since = now
            await asyncio.sleep(POLL)


async def restart(
    replicas: list[stack.Server],
    simulator: stack.Server,
    server: OwnRedis,
    ids: list[str],
    token: str,
    seconds: float,
) -> Restart:
    headers = {"Authorization": f"Bearer {token}"}
    pick = random.Random(16)
    reads: list[tuple[str, str, dict[str, str]]] = [
        *(("rest", f"/v2/messaging_profiles/{i}", {}) for i in ids),
        *(
            ("rest", f"/v2/messaging_profiles?page[number]={n}&page[size]=5", {})
            for n in range(1, 5)
        ),
        *(("graphql", PROFILE, {"id": i}) for i in ids),
        ("graphql", LIST, {}),
    ]
    turn = itertools.count()
    last: dict[str, int] = {}  # profile id: the last write answered
    stale: list[float] = []  # when each read that showed an older name began
    clock = time.perf_counter
    async with aiohttp.ClientSession(headers=headers) as session:
        client = Client(session)

        async def read(_: int) -> None:
            begun = clock()
            replica = replicas[next(turn) % len(replicas)]
            face, what, variables = pick.choice(reads)
            acked = dict(last)
            if face == "rest":
                answer = await client.rest(replica, "GET", what)
            else:
                answer = await client.graphql(replica, what, variables)
            for profile_id, name in names(answer, {}).items():
                if written(name) < acked.get(profile_id, -1):
                    stale.append(begun)

        writes = write_errors = 0
        first_error: str | None = None
        stop_at = clock() + seconds

        async def writer() -> None:
            nonlocal writes, write_errors, first_error
            for n in itertools.count():
                if clock() >= stop_at:
                    return
                profile_id, name = ids[n % len(ids)], f"Restart {n}"
                replica = replicas[n % len(replicas)]
                try:
                    if n // len(ids) % 2 == 0:
                        variables = {"id": profile_id, "name": name}
                        await client.graphql(replica, RENAME, variables)
                    else:
                        path = f"/v2/messaging_profiles/{profile_id}"
                        await client.rest(replica, "PATCH", path, {"name": name})
                except (aiohttp.ClientError, TimeoutError, BadResponseError) as exc:
                    write_errors += 1
                    first_error = first_error or f"{type(exc).__name__}: {exc}"
                    continue
                last[profile_id] = n
                writes += 1

        async def outage() -> tuple[float, float]:
            await asyncio.sleep(seconds / 3)
            server.kill()
            killed = clock()
            await asyncio.sleep(DOWN_FOR)
            await asyncio.to_thread(server.start)
            return killed, clock()

        readiness = Readiness(session, replicas)
        polling = asyncio.create_task(readiness.watch())
        writing = asyncio.create_task(writer())
        restarting = asyncio.create_task(outage())
        sample = await drive(read, WORKERS, seconds)
        await writing
        killed, back = await restarting
        for _ in range(int(BACK_WITHIN / POLL)):  # other processes: nothing to wait on here
            if readiness.all_up_since is not None and readiness.all_up_since > back:
                break
            await asyncio.sleep(POLL)
        all_up = readiness.all_up_since or math.inf
        polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
        result = Restart(
            sample,
            writes,
            write_errors,
            first_error,
            (
                sum(t < killed for t in stale),
                sum(killed <= t < all_up for t in stale),
                sum(all_up <= t for t in stale),
            ),
            back - killed,
            readiness.down,
            all_up - back,
        )
        await check(client, replicas, simulator, ids, last, result)
    return result


async def check(
    client: Client,
    replicas: list[stack.Server],
    simulator: stack.Server,
    ids: list[str],
    last: dict[str, int],
    result: Restart,
) -> None:
    """Each profile from every replica and face, cached then fresh, against Telnyx's name,
    which must be the last one written."""
    truth = {}
    upstream = {"Authorization": f"Bearer {stack.TELNYX_KEY}"}
    for profile_id in ids:
        path = f"/v2/messaging_profiles/{profile_id}"
        answer = await client.rest(simulator, "GET", path, headers=upstream)
        truth[profile_id] = answer["data"]["name"]
        if profile_id in last and truth[profile_id] != f"Restart {last[profile_id]}":
            result.lost += 1
            result.examples.append(f"{profile_id}: Telnyx has {truth[profile_id]!r}")
    for fresh in (False, True):
        cache = {"Cache-Control": "no-cache"} if fresh else {}
        for replica, profile_id, face in itertools.product(replicas, ids, ("rest", "graphql")):
            result.checked += 1
            try:
                if face == "rest":
                    path = f"/v2/messaging_profiles/{profile_id}"
                    answer = await client.rest(replica, "GET", path, headers=cache)
                else:
                    answer = await client.graphql(
                        replica, PROFILE, {"id": profile_id}, headers=cache
                    )
            except (aiohttp.ClientError, TimeoutError, BadResponseError) as exc:
                result.check_errors += 1
                result.examples.append(f"{replica.name} {face}: {exc}")
                continue
            seen = names(answer, {}).get(profile_id)
            if seen != truth[profile_id]:
                result.stale_after += 1
                result.examples.append(
                    f"{replica.name} {face} {'fresh' if fresh else 'cached'} {profile_id}: "
                    f"{seen!r}, not {truth[profile_id]!r}"
                )


def figures(result: Restart, seconds: float) -> tuple[list[str], list[str], list[str]]:
    """The phase's figures as a table's header and row, and the outage as the replicas saw
    it (with the first errors, if any)."""
    header = [
        "phase s",
        "reads served",
        "reads/s",
        "read errors",
        "writes",
        "write errors",
        "reads after",
        "errors after",
        "stale after",
        "writes lost",
        "stale during: before / outage / after",
    ]
    row = [
        f"{seconds:g}",
        str(result.reads.count),
        f"{result.reads.rate:.0f}",
        str(result.reads.errors),
        str(result.writes),
        str(result.write_errors),
        str(result.checked),
        str(result.check_errors),
        str(result.stale_after),
        str(result.lost),
        " / ".join(map(str, result.stale_during)),
    ]
    reported = ", ".join(f"{d:.1f} s" for d in result.reported_down)
    notes = [
        f"Redis killed {seconds / 3:.1f} s in, answering again {result.redis_down:.2f} s later; "
        f"the replicas' /readyz said it was down for {reported} (polled every {POLL:g} s); "
        f"all reported it up {result.back_after:.2f} s after it answered",
        *(e for e in (result.reads.first_error, result.first_write_error) if e),
        *result.examples[:5],
    ]
    return header, row, notes
