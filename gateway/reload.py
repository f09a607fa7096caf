"""Tenants, tokens and Telnyx keys replaced while the gateway runs.

The tenants file and the key files it names are polled, not watched: Kubernetes updates a
mounted Secret by swapping a symlink (``..data``) in the volume's directory, which an
inotify watch on the file itself never sees. Each poll hashes what the files hold now; a
change (or SIGHUP) loads a new registry, and only a valid one replaces the old one, in one
step. Requests that authenticated before keep the tenant, and so the key, they found.

A tenant that is gone, or whose Telnyx key changed (perhaps to another Telnyx account),
loses its cached reads at once, and again when the last request that authenticated with
its old entry has finished, since such a request may still store what it reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
from collections.abc import Callable, Coroutine
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.tenancy import (
    MAX_KEY_FILE_BYTES,
    MAX_TENANTS_FILE_BYTES,
    Rotation,
    TenantRegistry,
    TenantsFileError,
    key_files,
)

log = logging.getLogger(__name__)

# How long the second forgetting waits for the requests that began before a reload.
DRAIN_DEADLINE = 600.0


class Fingerprint:
    """`fingerprint()`: a digest of what the tenants file and every key file it names hold
    now. A file that cannot be read counts by its error, so that its coming back is a change
    too. The key files' names are parsed again only when the tenants file changed: parsing
    is most of the cost of a poll (bench/reload.py)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._named: tuple[bytes, list[Path]] | None = None

    def __call__(self) -> bytes:
        digest = hashlib.sha256()
        raw = _hash(self._path, MAX_TENANTS_FILE_BYTES, digest.update) or b""
        if self._named is None or self._named[0] != raw:
            self._named = (raw, key_files(self._path, raw))
        for key_file in self._named[1]:
            _hash(key_file, MAX_KEY_FILE_BYTES, digest.update)
        return digest.digest()


def _hash(path: Path, limit: int, update: Callable[[bytes], object]) -> bytes | None:
    try:
        with path.open("rb") as file:
            raw = file.read(limit + 1)
    except OSError as exc:
        update(f"\0{path}\0error {exc.errno}\0".encode())
        return None
    update(f"\0{path}\0{len(raw)}\0".encode())
    update(raw)
    return raw


class InFlight:
    """The requests being served, counted by the registry version they arrived under."""

    def __init__(self, registry: TenantRegistry) -> None:
        self._registry = registry
        self._counts: dict[int, int] = {}
        self._emptied = asyncio.Event()  # set when a version's last request leaves

    def enter(self) -> int:
        version = self._registry.version
        self._counts[version] = self._counts.get(version, 0) + 1
        return version

    def leave(self, version: int) -> None:
        left = self._counts[version] - 1
        if left:
            self._counts[version] = left
        else:
            del self._counts[version]
            self._emptied.set()

    async def drained(self, version: int, *, deadline: float = DRAIN_DEADLINE) -> None:
        """Return once no request that arrived before `version` is still being served, or
        after `deadline` seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(deadline):
                while any(older < version for older in self._counts):
                    self._emptied.clear()
                    await self._emptied.wait()


class CountInFlight:
    """ASGI middleware feeding `InFlight`; outermost, so it counts a request before anything
    authenticates it."""

    def __init__(self, app: ASGIApp, *, inflight: InFlight) -> None:
        self.app = app
        self._inflight = inflight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        version = self._inflight.enter()
        try:
            await self.app(scope, receive, send)
        finally:
            self._inflight.leave(version)


class TenantsReloader:
    """Keeps `registry` in step with the tenants file at `path`.

    `interval` is the seconds between polls (0: only on `request`, i.e. SIGHUP).
    `forget(tenant_id)` drops what is cached for a tenant that is gone or has a new key.
    """

    def __init__(self, path: Path, *, interval: float) -> None:
        self._path = path
        self._interval = interval
        self._fingerprint = Fingerprint(path)
        # Hashed before loading: a change in between is seen by the first poll.
        self._loaded = self._fingerprint()
        self._refused: bytes | None = None
        self.registry = TenantRegistry.from_file(path)
        self.inflight = InFlight(self.registry)
        self._forget: Callable[[str], object] = lambda _: None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def on_forget(self, forget: Callable[[str], object]) -> None:
        self._forget = forget

    def request(self) -> None:
        """Reload now, even if nothing changed (SIGHUP). Safe from a signal handler."""
        if self._loop is None:
            self._wake.set()
        else:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._spawn(self._watch())

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._loop = None

    def _spawn(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval or None)
            requested = self._wake.is_set()
            self._wake.clear()
            try:
                await self.check(requested=requested)
            except Exception:  # the watch must outlive any one failed check
                log.exception("tenants reload failed; the previous tenants stay in service")

    async def check(self, *, requested: bool = False) -> Rotation | None:
        """Reload when the files changed since the last load or refusal, or when
        `requested`; the rotation, or None when nothing was replaced."""
        current = await asyncio.to_thread(self._fingerprint)
        if not requested and current in (self._loaded, self._refused):
            return None
        trigger = "SIGHUP" if requested else "a file changed"
        try:
            registry = await asyncio.to_thread(TenantRegistry.from_file, self._path)
        except TenantsFileError as exc:
            self._refused = current
            # The message names the problem and never a secret (TenantsFileError's rule).
            log.error(
                "tenants reload refused (%s); the previous tenants stay in service: %s",
                trigger,
                exc,
            )
            return None
        self._loaded, self._refused = current, None
        rotation = self.registry.replace(registry)
        log.info(
            "tenants reloaded (%s): %d tenants",
            trigger,
            rotation.tenants,
            extra={
                "fields": {
                    "tenants": rotation.tenants,
                    "added": list(rotation.added),
                    "removed": list(rotation.removed),
                    "rekeyed": list(rotation.rekeyed),
                }
            },
        )
        gone = (*rotation.removed, *rotation.rekeyed)
        if gone:
            self._forget_all(gone)
            self._spawn(self._forget_after_drain(gone, self.registry.version))
        return rotation

    def _forget_all(self, tenant_ids: tuple[str, ...]) -> None:
        for tenant_id in tenant_ids:
            self._forget(tenant_id)

    async def _forget_after_drain(self, tenant_ids: tuple[str, ...], version: int) -> None:
        await self.inflight.drained(version)
        self._forget_all(tenant_ids)


def reload_on_sighup(reloader: TenantsReloader | None) -> None:
    """Make SIGHUP reload the tenants file. Without one (demo mode) SIGHUP keeps its
    default, ending the process, as a terminal's hang-up should."""
    if reloader is not None:
        signal.signal(signal.SIGHUP, lambda *_: reloader.request())
