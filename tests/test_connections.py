"""Connections before authentication, against `python -m gateway serve` as a real process:
deadlines for the head and the body, the header bound, idle keep-alive and the cap.

Settings are short here (2 s deadlines) so the tests are quick; the bounds asserted on
time are generous, since the machine is shared.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import resource
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.process import Gateway, Start

pytestmark = pytest.mark.slow

HALF_OPEN = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
AUTH = {"Authorization": "Bearer demo-token"}
SHORT = {
    "GATEWAY_HEADER_TIMEOUT": "2",
    "GATEWAY_BODY_TIMEOUT": "2",
    "GATEWAY_KEEP_ALIVE_TIMEOUT": "1",
}
GENEROUS = 15.0  # seconds within which a 2 s deadline must have acted on a loaded machine
TIMEOUT_ANSWER = b"HTTP/1.1 408 Request Timeout\r\n"


def connect(gateway: Gateway, first: bytes = b"", port: int | None = None) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port or gateway.port), timeout=GENEROUS)
    if first:
        sock.sendall(first)
    return sock


def until_closed(sock: socket.socket, within: float = GENEROUS) -> tuple[bytes, float]:
    """Everything the server sent until it closed, and how long that took; fails if the
    connection is still open after `within` seconds."""
    started = time.monotonic()
    sock.settimeout(within)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"still open after {within} s; received {data[:100]!r}")
    finally:
        sock.close()
    return data, time.monotonic() - started


def served(gateway: Gateway) -> httpx.Response:
    """A tenant's read on a new connection."""
    return httpx.get(
        f"{gateway.url}/v2/messaging_profiles",
        params={"page[size]": "1"},
        headers=AUTH,
        timeout=GENEROUS,
    )


@pytest.fixture
def many_files() -> Iterator[None]:
    """Room for a thousand client sockets in this process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert hard == resource.RLIM_INFINITY or hard >= 2048, f"open-files hard limit {hard}"
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_tenant_is_served_among_1000_half_open_connections_which_are_all_closed(
    start_gateway: Start, many_files: None
) -> None:
    gateway = start_gateway(**SHORT)
    flood = [connect(gateway, HALF_OPEN) for _ in range(1000)]
    opened = time.monotonic()
    response = served(gateway)
    assert response.status_code == 200
    assert len(response.json()["data"]) == 1
    # Every half-open connection is answered 408 and closed, none is left waiting.
    selector = selectors.DefaultSelector()
    received = dict.fromkeys(flood, b"")
    for sock in flood:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    closed = 0
    while closed < len(flood) and time.monotonic() - opened < 20:
        for key, _ in selector.select(timeout=1):
            ready = key.fileobj
            assert isinstance(ready, socket.socket)
            chunk = ready.recv(65536)
            received[ready] += chunk
            if not chunk:
                selector.unregister(ready)
                ready.close()
                closed += 1
    selector.close()
    for sock in flood:
        sock.close()
    assert closed == 1000, f"{1000 - closed} half-open connections still open after 20 s"
    assert {data[: len(TIMEOUT_ANSWER)] for data in received.values()} == {TIMEOUT_ANSWER}


def test_a_head_sent_a_line_at_a_time_is_cut_at_the_deadline(start_gateway: Start) -> None:
    gateway = start_gateway(**SHORT)
    sock = connect(gateway, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    stop = threading.Event()

    def trickle() -> None:
        # Each line would reset a keep-alive timer; the head's deadline is not reset.
        with contextlib.suppress(OSError):
            while not stop.wait(0.25):
                sock.sendall(b"X-Slow: 1\r\n")

    sender = threading.Thread(target=trickle)
    sender.start()
    try:
        data, _ = until_closed(sock)
    finally:
        stop.set()
        sender.join()
    assert data.startswith(TIMEOUT_ANSWER)


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(
    start_gateway: Start,
) -> None:
    gateway = start_gateway(**SHORT)
    assert until_closed(connect(gateway))[0] == b""


def test_a_body_that_stops_is_answered_408(start_gateway: Start) -> None:
    gateway = start_gateway(**SHORT)
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer demo-token\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    )
    data, _ = until_closed(connect(gateway, head))
    assert data.startswith(TIMEOUT_ANSWER)
    assert data.endswith(b"\r\n\r\nRequest Timeout")
    # The request's end is no failure of the gateway's: nothing logged as an error.
    assert '"level": "error"' not in gateway.logs()


def test_an_idle_keep_alive_connection_is_closed(start_gateway: Start) -> None:
    gateway = start_gateway(**SHORT)
    sock = connect(gateway, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    data, _ = until_closed(sock)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(b'{"status":"ok"}')


def test_a_1_mib_header_is_refused(start_gateway: Start) -> None:
    gateway = start_gateway(**SHORT)
    sock = connect(gateway)
    # Closed before the header was all sent is refused too.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"
        )
    data, _ = until_closed(sock)
    # 431, or the connection closed before the answer could be read; never served.
    assert data == b"" or data.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert httpx.get(f"{gateway.url}/healthz", timeout=GENEROUS).status_code == 200


def test_a_header_within_the_bound_is_served(start_gateway: Start) -> None:
    gateway = start_gateway(**SHORT, GATEWAY_MAX_HEADER_BYTES="8192")
    ok = httpx.get(f"{gateway.url}/healthz", headers={"X-Pad": "a" * 7000}, timeout=GENEROUS)
    assert ok.status_code == 200
    over = httpx.get(f"{gateway.url}/healthz", headers={"X-Pad": "a" * 9000}, timeout=GENEROUS)
    assert over.status_code == 431


def test_past_the_cap_connections_are_refused_while_probes_answer(start_gateway: Start) -> None:
    gateway = start_gateway(GATEWAY_MAX_CONNECTIONS="4")
    body = b'{"query": "{ messagingProfiles(first: 1) { totalCount } }"}'
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer demo-token\r\n"
        b"Content-Type: application/json\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    # Four requests in progress (their bodies unfinished): none of them can be let go.
    busy = [connect(gateway, head + body[:1]) for _ in range(4)]
    time.sleep(0.3)
    refused, _ = until_closed(connect(gateway, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert refused == b"" or refused.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    for path in ("/healthz", "/readyz", "/metrics"):
        assert httpx.get(gateway.metrics_url + path, timeout=GENEROUS).status_code == 200
    # The requests in progress are still answered, and their places are free again after.
    for sock in busy:
        sock.sendall(body[1:])
        answer, _ = until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        result = json.loads(answer.partition(b"\r\n\r\n")[2])
        assert result["data"] == {"messagingProfiles": {"totalCount": 3}}
    assert httpx.get(f"{gateway.url}/healthz", timeout=GENEROUS).status_code == 200


def test_at_the_cap_the_longest_idle_connection_makes_room_for_a_tenant(
    start_gateway: Start,
) -> None:
    gateway = start_gateway(GATEWAY_MAX_CONNECTIONS="4")
    idle = [connect(gateway, HALF_OPEN) for _ in range(4)]
    time.sleep(0.3)
    response = served(gateway)
    assert response.status_code == 200
    # The first one opened was closed to make room; the others are still open.
    assert until_closed(idle[0])[0] == b""
    for sock in idle[1:]:
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(1)
        sock.close()


def read_response(sock: socket.socket) -> bytes:
    """One whole response (with a Content-Length) from a connection that stays open."""
    sock.settimeout(GENEROUS)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            pytest.fail(f"closed before a whole answer; received {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":", 1)[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            pytest.fail(f"closed before a whole answer; received {head + body!r}")
        body += chunk
    return head + b"\r\n\r\n" + body


def test_a_pipelined_head_gets_its_time_once_the_answer_before_it_is_sent(
    start_gateway: Start, simulator_url: str, tmp_path: Path
) -> None:
    token = "pipelining-token-0123456789"
    tenants = tmp_path / "tenants.json"
    entry = {
        "id": "acme",
        "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
        "telnyx_api_key": "KEYpipelining000000000000000000",
    }
    tenants.write_text(json.dumps({"tenants": [entry]}))
    gateway = start_gateway(
        GATEWAY_HEADER_TIMEOUT="1",
        GATEWAY_DEMO="false",
        GATEWAY_TENANTS_FILE=str(tenants),
        GATEWAY_TELNYX_BASE_URL=f"{simulator_url}/v2",
    )
    # The first request takes longer than a head may: Telnyx answers it after 2.5 s.
    slow = {"delay": 2.5, "path": "/v2/messaging_profiles"}
    httpx.post(f"{simulator_url}/_simulator/faults", json=slow).raise_for_status()
    first = (
        f"GET /v2/messaging_profiles HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()
    # The second request's head starts while the first is being answered.
    sock = connect(gateway, first + b"GET /healthz HTTP/1.1\r\n")
    answer = read_response(sock)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["meta"]["page_number"] == 1
    sock.sendall(b"Host: x\r\nConnection: close\r\n\r\n")
    second, _ = until_closed(sock)
    assert second.startswith(b"HTTP/1.1 200 OK\r\n")
    assert second.endswith(b'{"status":"ok"}')
