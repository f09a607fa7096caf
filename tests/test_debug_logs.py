"""At `GATEWAY_LOG_LEVEL=debug` no log line of the server, a library or the gateway holds a
tenant token or a Telnyx key, whatever a client sends to either port."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import secrets
import socket
from pathlib import Path

import httpx
import pytest

from gateway.logs import LIBRARY_LOGGERS, QUIET_LOGGERS, configure_logging, redact
from tests.process import Gateway, Start

KEY = "KEY" + "0123456789abcdefghijKLMNOP"  # a Telnyx key's shape


def exchange(port: int, request: bytes) -> bytes:
    """Send raw bytes, return what came back before the server closed or went quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(request)
            sock.settimeout(15)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        except (TimeoutError, ConnectionResetError, BrokenPipeError):
            return b""
    return data


def upgrade(path: str, token: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: graphql-transport-ws\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()


def every_kind_of_request(gateway: Gateway, token: str) -> dict[str, int | bytes]:
    auth = {"Authorization": f"Bearer {token}"}
    seen: dict[str, int | bytes] = {}
    with httpx.Client(timeout=10) as http:
        seen["rest"] = http.get(f"{gateway.url}/v2/messaging_profiles", headers=auth).status_code
        seen["graphql"] = http.post(
            f"{gateway.url}/graphql",
            headers=auth,
            json={"query": "{ messagingProfiles(first: 1) { totalCount } }"},
        ).status_code
        seen["rest 404"] = http.get(f"{gateway.url}/v2/nowhere", headers=auth).status_code
        seen["key as token"] = http.get(
            f"{gateway.url}/v2/messaging_profiles",
            headers={"Authorization": f"Bearer {KEY}"},
        ).status_code
        seen["too large"] = http.post(
            f"{gateway.url}/graphql", headers=auth, content=b"x" * 300_000
        ).status_code
        seen["metrics"] = http.get(f"{gateway.metrics_url}/metrics", headers=auth).status_code
        seen["readyz"] = http.get(f"{gateway.metrics_url}/readyz", headers=auth).status_code
    seen["websocket"] = exchange(gateway.port, upgrade("/graphql", token))
    seen["websocket, metrics port"] = exchange(gateway.metrics_port, upgrade("/metrics", token))
    seen["malformed"] = exchange(
        gateway.port,
        f"GET / HTTP/1.1\r\nAuthorization: Bearer {token}\r\nno colon\r\n\r\n".encode(),
    )
    seen["header too large"] = exchange(
        gateway.port,
        f"GET /healthz HTTP/1.1\r\nAuthorization: Bearer {token}\r\nX: {'a' * 70_000}\r\n\r\n".encode(),
    )
    seen["head never ends"] = exchange(
        gateway.port, f"GET /graphql HTTP/1.1\r\nAuthorization: Bearer {token}\r\n".encode()
    )
    seen["body never ends"] = exchange(
        gateway.port,
        f"POST /graphql HTTP/1.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: 50\r\n\r\n{{".encode(),
    )
    return seen


@pytest.mark.slow
def test_no_token_or_key_reaches_the_logs_at_debug(
    start_gateway: Start, simulator_url: str, tmp_path: Path
) -> None:
    token = "tok-" + secrets.token_urlsafe(24)
    tenants = tmp_path / "tenants.json"
    entry = {
        "id": "acme",
        "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
        "telnyx_api_key": KEY,
    }
    tenants.write_text(json.dumps({"tenants": [entry]}))
    gateway = start_gateway(
        GATEWAY_LOG_LEVEL="debug",
        GATEWAY_DEMO="false",
        GATEWAY_TENANTS_FILE=str(tenants),
        GATEWAY_TELNYX_BASE_URL=f"{simulator_url}/v2",
        GATEWAY_HEADER_TIMEOUT="1",
        GATEWAY_BODY_TIMEOUT="1",
    )
    seen = every_kind_of_request(gateway, token)
    # Upstream failures: a dropped connection, then Telnyx refusing the key.
    auth = {"Authorization": f"Bearer {token}", "Cache-Control": "no-cache"}
    failures = []
    for fault in ({"drop": True, "times": 10}, {"status": 401, "times": 10}):
        httpx.delete(f"{simulator_url}/_simulator/faults").raise_for_status()
        httpx.post(f"{simulator_url}/_simulator/faults", json=fault).raise_for_status()
        failures.append(
            httpx.get(f"{gateway.url}/v2/short_codes", headers=auth, timeout=30).status_code
        )
    gateway.sigterm()
    assert gateway.process.wait(timeout=30) == 0
    assert failures == [503, 502]
    assert {name: value for name, value in seen.items() if isinstance(value, int)} == {
        "rest": 200,
        "graphql": 200,
        "rest 404": 404,
        "key as token": 401,
        "too large": 413,
        "metrics": 200,
        "readyz": 200,
    }
    answers = {
        name: value.split(b"\r\n", 1)[0] for name, value in seen.items() if isinstance(value, bytes)
    }
    # No WebSocket support: an upgrade is answered as plain HTTP, never switched.
    assert answers == {
        "websocket": b"HTTP/1.1 400 Bad Request",
        "websocket, metrics port": b"HTTP/1.1 200 OK",
        "malformed": b"HTTP/1.1 400 Bad Request",
        "header too large": b"HTTP/1.1 431 Request Header Fields Too Large",
        "head never ends": b"HTTP/1.1 408 Request Timeout",
        "body never ends": b"HTTP/1.1 408 Request Timeout",
    }
    logs = gateway.logs()
    assert '"level": "debug"' in logs  # the level really was debug
    assert token not in logs
    assert token[4:20] not in logs
    assert KEY not in logs
    assert "Bearer" not in logs


@pytest.mark.parametrize(
    ("line", "redacted"),
    [
        ("< authorization: Bearer abc.def", "< authorization: REDACTED"),
        ("> Proxy-Authorization: Basic Zm9vOmJhcg==", "> Proxy-Authorization: REDACTED"),
        ("headers={'Authorization': 'Bearer tok'}", "headers={'Authorization': 'REDACTED'}"),
        ("cookie: session=abc; other=def", "cookie: REDACTED"),
        ("sent Bearer tok-123 upstream", "sent REDACTED upstream"),
        (f"key {KEY} refused", "key REDACTED refused"),
        ("redis://:s3cret@redis:6379/0 unreachable", "redis://REDACTED@redis:6379/0 unreachable"),
        (
            "GET http://127.0.0.1:8080/v2/short_codes 200",
            "GET http://127.0.0.1:8080/v2/short_codes 200",
        ),
        ("KEYS of the cache", "KEYS of the cache"),
    ],
)
def test_library_lines_are_scrubbed_of_credentials(line: str, redacted: str) -> None:
    assert redact(line) == redacted


def test_only_lines_from_other_loggers_than_the_gateways_are_rewritten() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS + QUIET_LOGGERS}
    try:
        configure_logging("debug", stream)
        library = logging.getLogger("websockets.server")  # as it logged upgrade headers
        library.info("< authorization: Bearer %s", "tok-1")
        library.debug("below the floor: Bearer tok-2")
        logging.getLogger("gateway.test").debug("own line, kept as written")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, was in levels.items():
            logging.getLogger(name).setLevel(was)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["logger"], line["level"], line["message"]) for line in lines] == [
        ("websockets.server", "info", "< authorization: REDACTED"),
        ("gateway.test", "debug", "own line, kept as written"),
    ]
