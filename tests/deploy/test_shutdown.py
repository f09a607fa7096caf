"""SIGTERM: stop accepting, finish what is in flight, flush spans, all within the shutdown
budget, and exit 0, even when the collector accepts connections and never answers.

Each test runs `python -m gateway serve` (demo mode, embedded simulator) as a real process.
A request is held in flight across SIGTERM by a client that sends half of its body first.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.process import Start

pytestmark = pytest.mark.slow

QUERY = json.dumps(
    {"query": "{ messagingProfiles(first: 2) { totalCount edges { node { id name } } } }"}
).encode()
# Generous bounds for a loaded CI machine; an idle shutdown takes about 0.2 s.
PROMPTLY = 5.0


class HeldRequest:
    """`POST /graphql` as the demo tenant, with the second half of the body held back."""

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        head = (
            "POST /graphql HTTP/1.1\r\nHost: gateway\r\n"
            "Authorization: Bearer demo-token\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(QUERY)}\r\n\r\n"
        ).encode()
        half = len(QUERY) // 2
        self._sock.sendall(head + QUERY[:half])
        self._rest = QUERY[half:]

    def finish(self) -> tuple[int, bytes]:
        """Send the rest of the body, then read the response."""
        self._sock.sendall(self._rest)
        return self.response()

    def response(self) -> tuple[int, bytes]:
        """The status and body of the response, read until the server closes."""
        chunks = []
        while chunk := self._sock.recv(65536):
            chunks.append(chunk)
        self._sock.close()
        head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), body


def test_idle_gateway_exits_cleanly_on_sigterm(start_gateway: Start) -> None:
    gateway = start_gateway()
    sent = gateway.sigterm()
    returncode = gateway.process.wait(timeout=PROMPTLY)
    assert time.monotonic() - sent < PROMPTLY
    assert "Application shutdown complete." in gateway.logs()
    assert returncode == 0, f"exit status {returncode} after SIGTERM"


def test_in_flight_request_completes_after_sigterm_and_new_ones_are_refused(
    start_gateway: Start,
) -> None:
    gateway = start_gateway(GATEWAY_SHUTDOWN_BUDGET="25")
    held = HeldRequest(gateway.port)
    time.sleep(0.5)  # uvicorn has read the headers: the request is in flight
    sent = gateway.sigterm()
    assert gateway.refuses_connections(within=PROMPTLY)
    assert gateway.process.poll() is None, "exited with a request in flight"
    # The rest of the body arrives after SIGTERM; the request still reaches Telnyx's
    # stand-in through the upstream client, which must not be closed yet.
    status, body = held.finish()
    assert status == 200
    result = json.loads(body)
    assert "errors" not in result
    assert len(result["data"]["messagingProfiles"]["edges"]) == 2
    returncode = gateway.process.wait(timeout=PROMPTLY)
    assert time.monotonic() - sent < PROMPTLY + 0.5
    assert returncode == 0, f"exit status {returncode} after SIGTERM"


def test_request_still_in_flight_after_its_share_of_the_budget_is_abandoned(
    start_gateway: Start,
) -> None:
    # 3 s: 0.3 s margin, 0.6 s for the flush, whole seconds for the drain: 2 s.
    gateway = start_gateway(GATEWAY_SHUTDOWN_BUDGET="3")
    held = HeldRequest(gateway.port)
    time.sleep(0.5)
    sent = gateway.sigterm()
    returncode = gateway.process.wait(timeout=PROMPTLY + 3)
    waited = time.monotonic() - sent
    assert 2.0 <= waited < 3.0 + PROMPTLY
    assert "SIGTERM: shutting down within 3 s (in-flight requests get 2 s)" in gateway.logs()
    # uvicorn cancels the request and answers it, rather than dropping the connection.
    assert held.response() == (500, b"Internal Server Error")
    assert "Cancel 1 running task(s), timeout graceful shutdown exceeded" in gateway.logs()
    assert returncode == 0, f"exit status {returncode} after SIGTERM"


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that keeps every export request."""

    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    received: list[tuple[str, bytes]] = []
    handler = type("Collector", (_Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()
    thread.join()


def test_pending_spans_are_flushed_on_sigterm(
    start_gateway: Start, collector: tuple[str, list[tuple[str, bytes]]]
) -> None:
    endpoint, received = collector
    gateway = start_gateway(
        OTEL_SDK_DISABLED="false",
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        # A batch would otherwise leave after 5 s; an hour means only shutdown sends it.
        OTEL_BSP_SCHEDULE_DELAY="3600000",
    )
    response = httpx.post(
        f"http://127.0.0.1:{gateway.port}/graphql",
        content=QUERY,
        headers={"Authorization": "Bearer demo-token", "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    time.sleep(0.3)
    assert received == []
    gateway.sigterm()
    gateway.process.wait(timeout=PROMPTLY)
    assert {path for path, _ in received} == {"/v1/traces"}
    names: set[str] = set()
    for _, body in received:
        export = ExportTraceServiceRequest.FromString(body)
        for resource_spans in export.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                names.update(span.name for span in scope_spans.spans)
    assert {"POST /graphql", "telnyx.list_messaging_profiles"} <= names


@pytest.fixture
def hanging_collector() -> Iterator[str]:
    """An OTLP endpoint that accepts connections and requests, and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for sock in held:
        sock.close()
    server.close()


def test_shutdown_fits_its_budget_with_a_request_in_flight_and_a_hanging_collector(
    start_gateway: Start, hanging_collector: str
) -> None:
    budget = 10
    gateway = start_gateway(
        GATEWAY_SHUTDOWN_BUDGET=str(budget),
        OTEL_SDK_DISABLED="false",
        OTEL_EXPORTER_OTLP_ENDPOINT=hanging_collector,
        OTEL_BSP_SCHEDULE_DELAY="3600000",  # spans wait for the shutdown's flush
    )
    answered = httpx.post(
        f"{gateway.url}/graphql",
        content=QUERY,
        headers={"Authorization": "Bearer demo-token", "Content-Type": "application/json"},
    )
    assert answered.status_code == 200
    held = HeldRequest(gateway.port)  # in flight for the whole drain: never finished
    time.sleep(0.5)
    sent = gateway.sigterm()
    returncode = gateway.process.wait(timeout=budget + PROMPTLY)
    waited = time.monotonic() - sent
    assert waited < budget, f"exited {waited:.1f} s after SIGTERM, over its {budget} s budget"
    assert returncode == 0, f"exit status {returncode} after SIGTERM"
    assert held.response() == (500, b"Internal Server Error")
    assert "span export abandoned" in gateway.logs()
