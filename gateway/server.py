"""Serving the gateway: the API port and the metrics port in one process, the open-files
limit, and a shutdown that fits its budget.

Both listeners are uvicorn servers on one event loop, each with its own `ConnectionGuard`
(gateway/connections.py), so probes and scrapes keep their own small allowance when the
API port is at its cap. Neither loads WebSocket support: the gateway serves none.

On SIGTERM (or SIGINT) the whole shutdown fits `GATEWAY_SHUTDOWN_BUDGET`: the API port
stops accepting and drains in-flight requests, the application's lifespan closes its
clients and flushes spans and metrics by a deadline, then the metrics port closes. A
watchdog ends the process just before the budget runs out, whatever is still waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import resource
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import uvicorn
from opentelemetry.metrics import CallbackOptions, Observation
from starlette.applications import Starlette
from starlette.types import ASGIApp

from gateway.config import Settings
from gateway.connections import ConnectionGuard, ConnectionLimits
from gateway.telemetry import Telemetry

log = logging.getLogger(__name__)

# The metrics port's own allowance: kubelet probes, Prometheus and an operator's curl.
METRICS_CONNECTIONS = 32
# Descriptors kept free beyond the upstream pool and both listeners' connections: the
# listeners themselves, Redis, the collector, the event loop, files and the interpreter.
RESERVED_FILES = 256
# What a soft limit is raised to when the hard limit is unlimited.
UNLIMITED_FILES = 1 << 20


@dataclass(frozen=True)
class FileLimit:
    """The process's open-files limit after start-up, and the soft limit it found."""

    soft: int
    hard: int
    found: int

    def describe(self) -> str:
        hard = "unlimited" if self.hard == resource.RLIM_INFINITY else str(self.hard)
        if self.soft > self.found:
            return f"open files: limit {self.soft} (raised from {self.found}; hard limit {hard})"
        return f"open files: limit {self.soft} (hard limit {hard})"


def raise_file_limit() -> FileLimit:
    """Raise the soft open-files limit to the hard one, as far as the kernel allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = UNLIMITED_FILES if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):  # e.g. above the kernel's nr_open
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    raised, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return FileLimit(soft=raised, hard=hard, found=soft)


def connection_cap(settings: Settings, files: FileLimit) -> int:
    """`GATEWAY_MAX_CONNECTIONS`, lowered so that every descriptor the process may need
    fits under its open-files limit."""
    if files.soft == resource.RLIM_INFINITY:
        return settings.max_connections
    spare = files.soft - RESERVED_FILES - settings.upstream_max_connections - METRICS_CONNECTIONS
    return max(1, min(settings.max_connections, spare))


@dataclass(frozen=True)
class ShutdownPlan:
    """How a shutdown budget is shared: the drain first, then the telemetry flush, and a
    margin for the interpreter to exit."""

    budget: float

    @property
    def margin(self) -> float:
        return min(1.0, 0.1 * self.budget)

    @property
    def flush(self) -> float:
        return min(5.0, 0.2 * self.budget)

    @property
    def drain(self) -> float:
        return self.budget - self.margin - self.flush


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handlers: `_serve` handles the signals once for
    both listeners and never re-raises them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listen(host: str, port: int, variable: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(
            f"cannot listen on {host} port {port} ({variable}): {exc.strerror}"
        ) from exc
    return sock


def _config(
    app: ASGIApp, guard: ConnectionGuard, settings: Settings, *, lifespan: bool
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        http=guard.protocol(),
        ws="none",
        lifespan="on" if lifespan else "off",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_keep_alive=settings.keep_alive_timeout,
        timeout_graceful_shutdown=1,
    )


def _observe(telemetry: Telemetry, listeners: dict[str, tuple[_Server, ConnectionGuard]]) -> None:
    meter = telemetry.meter_provider.get_meter(__name__)

    def opened(_: CallbackOptions) -> Iterable[Observation]:
        for name, (server, _guard) in listeners.items():
            yield Observation(len(server.server_state.connections), {"listener": name})

    def closed(_: CallbackOptions) -> Iterable[Observation]:
        for name, (_server, guard) in listeners.items():
            for reason, count in list(guard.closed.items()):
                yield Observation(count, {"listener": name, "reason": reason})

    meter.create_observable_gauge(
        "gateway.connections.open",
        callbacks=[opened],
        unit="{connection}",
        description="Open client connections by listener.",
    )
    meter.create_observable_counter(
        "gateway.connections.closed",
        callbacks=[closed],
        unit="{connection}",
        description="Connections the server closed or refused before a request was whole "
        "(refused, evicted, header_timeout, body_timeout, header_too_large).",
    )


def run(app: Starlette, settings: Settings) -> None:
    """Serve `app` on the API port and its probes app on the metrics port until a signal."""
    telemetry: Telemetry = app.state.telemetry
    files = raise_file_limit()
    cap = connection_cap(settings, files)
    api_guard = ConnectionGuard(ConnectionLimits.from_settings(settings, cap))
    api = _Server(_config(app, api_guard, settings, lifespan=True))
    listeners = {"api": (api, api_guard)}
    api_socket = _listen(settings.host, settings.port, "GATEWAY_PORT")
    metrics: tuple[_Server, socket.socket] | None = None
    if settings.metrics_port:
        metrics_guard = ConnectionGuard(
            ConnectionLimits(
                header_timeout=min(settings.header_timeout, 5.0),
                body_timeout=min(settings.body_timeout, 5.0),
                max_header_bytes=settings.max_header_bytes,
                max_connections=METRICS_CONNECTIONS,
            )
        )
        server = _Server(_config(app.state.probes, metrics_guard, settings, lifespan=False))
        metrics = (server, _listen(settings.host, settings.metrics_port, "GATEWAY_METRICS_PORT"))
        listeners["metrics"] = (server, metrics_guard)
    _observe(telemetry, listeners)

    log.info(
        "%s; at most %d connections on the API port%s",
        files.describe(),
        cap,
        f" and {METRICS_CONNECTIONS} on the metrics port" if metrics else "",
    )
    if cap < settings.max_connections:
        log.warning(
            "GATEWAY_MAX_CONNECTIONS lowered from %d to %d to fit the open-files limit",
            settings.max_connections,
            cap,
        )
    log.info(
        "listening on %s (API)%s",
        _url(settings.host, settings.port),
        f" and {_url(settings.host, settings.metrics_port)} (/metrics, /healthz, /readyz)"
        if metrics
        else "; metrics port off",
    )
    plan = ShutdownPlan(settings.shutdown_budget)
    with asyncio.Runner(loop_factory=api.config.get_loop_factory()) as runner:
        runner.run(_serve(api, api_socket, metrics, telemetry, plan))


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _serve(
    api: _Server,
    api_socket: socket.socket,
    metrics: tuple[_Server, socket.socket] | None,
    telemetry: Telemetry,
    plan: ShutdownPlan,
) -> None:
    loop = asyncio.get_running_loop()

    def stop(signum: int) -> None:
        if api.should_exit:
            api.force_exit = signum == signal.SIGINT  # a second Ctrl+C: stop waiting
            return
        started = time.monotonic()
        end = started + plan.budget
        # uvicorn waits whole seconds for in-flight requests, then cancels them.
        api.config.timeout_graceful_shutdown = max(0, math.floor(plan.drain))
        telemetry.shutdown_deadline = end - plan.margin
        watchdog = threading.Timer(plan.budget - plan.margin / 2, _exit_now, args=(plan.budget,))
        watchdog.daemon = True
        watchdog.start()
        log.info(
            "%s: shutting down within %g s (in-flight requests get %d s)",
            signal.Signals(signum).name,
            plan.budget,
            api.config.timeout_graceful_shutdown,
        )
        api.should_exit = True

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, signum)
    probes = None
    if metrics is not None:
        server, sock = metrics
        probes = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await api.serve(sockets=[api_socket])
    finally:
        if metrics is not None and probes is not None:
            # Probes and scrapes are answered until the API port has drained.
            metrics[0].should_exit = True
            await probes


def _exit_now(budget: float) -> None:
    """The budget is spent: end the process, whatever is still waiting."""
    log.error("shutdown budget of %g s spent; exiting without waiting further", budget)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    os._exit(0)
