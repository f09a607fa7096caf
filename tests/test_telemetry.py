"""Telemetry building blocks: endpoints, redaction, JSON logs and the server-span middleware."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import PurePosixPath

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from gateway.config import Settings
from gateway.logs import QUIET_LOGGERS, JsonFormatter, LibraryRedaction, configure_logging
from gateway.telemetry import (
    ServerTelemetry,
    Telemetry,
    build_telemetry,
    log_span_destination,
    otlp_traces_endpoint,
    redact_path,
)


@pytest.mark.parametrize(
    ("base", "traces", "expected"),
    [
        ("http://collector:4318", None, "http://collector:4318/v1/traces"),
        ("http://collector:4318/", None, "http://collector:4318/v1/traces"),
        ("http://collector:4318", "http://other:4318/custom", "http://other:4318/custom"),
        (None, "http://other:4318/custom", "http://other:4318/custom"),
        (None, None, None),
    ],
)
def test_the_otlp_traces_endpoint_follows_the_otel_variables(
    base: str | None, traces: str | None, expected: str | None
) -> None:
    settings = Settings(
        demo=True, otel_exporter_otlp_endpoint=base, otel_exporter_otlp_traces_endpoint=traces
    )
    assert otlp_traces_endpoint(settings) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v2/phone_numbers/+13125550001/messaging", "/v2/phone_numbers/REDACTED/messaging"),
        ("/v2/phone_numbers/%2B13125550001/messaging", "/v2/phone_numbers/REDACTED/messaging"),
        ("/v2/phone_numbers/13125550001/messaging", "/v2/phone_numbers/REDACTED/messaging"),
        # Telnyx number ids are longer than any phone number.
        ("/v2/phone_numbers/1293384261075731499/messaging", None),
        ("/v2/short_codes/20001", None),
        ("/v2/messaging_profiles/3fa85f64-5717-4562-b3fc-2c963f66afa6", None),
    ],
)
def test_phone_numbers_in_paths_are_redacted(path: str, expected: str | None) -> None:
    assert redact_path(path) == (expected or path)


def test_a_json_log_line_carries_the_active_span_and_the_records_fields() -> None:
    telemetry = build_telemetry(Settings(demo=True, otel_sdk_disabled=True))
    record = logging.LogRecord(
        "gateway.test", logging.WARNING, __file__, 1, "upstream %s", ("slow",), None
    )
    record.fields = {"telnyx.operation": "list_short_codes"}
    formatter = JsonFormatter()

    outside = json.loads(formatter.format(record))
    with telemetry.tracer_provider.get_tracer("test").start_as_current_span("work") as span:
        inside = json.loads(formatter.format(record))
    context = span.get_span_context()

    assert outside == {
        "time": outside["time"],
        "level": "warning",
        "logger": "gateway.test",
        "message": "upstream slow",
        "telnyx.operation": "list_short_codes",
    }
    assert inside == {
        **outside,
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
    }


def test_a_json_log_line_says_its_time_in_utc_its_error_type_and_any_value_as_text() -> None:
    try:
        raise ValueError("not logged")
    except ValueError:
        record = logging.LogRecord(
            "gateway.test", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    record.created = 86400.25
    record.fields = {"where": PurePosixPath("/srv/tenants.json")}

    assert json.loads(JsonFormatter().format(record)) == {
        "time": "1970-01-02T00:00:00.250+00:00",
        "level": "error",
        "logger": "gateway.test",
        "message": "failed",
        "where": "/srv/tenants.json",
        "error.type": "ValueError",
    }


@pytest.mark.parametrize(
    ("logger", "kept"),
    [("gateway", True), ("gateway.rest", True), ("gatewayish", False), ("uvicorn", False)],
)
def test_only_the_gateways_own_lines_are_left_unscanned(logger: str, kept: bool) -> None:
    line = "header authorization: Bearer abc"
    record = logging.LogRecord(logger, logging.INFO, __file__, 1, line, (), None)
    assert LibraryRedaction().filter(record) is True
    assert record.getMessage() == (line if kept else "header authorization: REDACTED")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, was in quiet.items():
        logging.getLogger(name).setLevel(was)


@pytest.mark.usefixtures("restore_logging")
def test_configured_logging_keeps_httpx_request_lines_out_even_at_debug() -> None:
    stream = io.StringIO()
    configure_logging("debug", stream)

    logging.getLogger("httpx").info(
        'HTTP Request: GET https://api.telnyx.com/v2/phone_numbers/+13125550001/messaging "200 OK"'
    )
    logging.getLogger("httpx").warning("pool exhausted")
    logging.getLogger("gateway.test").debug("kept")

    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == [
        "pool exhausted",
        "kept",
    ]


# --- the server-span middleware on its own ------------------------------------------


async def item(request: Request) -> Response:
    return PlainTextResponse(request.path_params["id"])


async def broken(_: Request) -> Response:
    raise RuntimeError("the database password is hunter2")


def small_app(telemetry: Telemetry) -> Starlette:
    return Starlette(
        routes=[
            Mount(
                "/outer",
                routes=[
                    Mount("/inner", routes=[Route("/items/{id}", item, methods=["GET", "PURGE"])])
                ],
            ),
            Route("/broken", broken),
        ],
        middleware=[
            Middleware(
                ServerTelemetry,
                tracer_provider=telemetry.tracer_provider,
                meter_provider=telemetry.meter_provider,
                identify=lambda authorization: "acme" if authorization == "Bearer t" else None,
            )
        ],
    )


@pytest.fixture
def exported() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def telemetry(exported: InMemorySpanExporter) -> Iterator[Telemetry]:
    built = build_telemetry(Settings(demo=True, otel_sdk_disabled=True), span_exporter=exported)
    yield built
    built.shutdown()


async def test_routes_under_nested_mounts_and_a_root_path_are_named_by_their_template(
    telemetry: Telemetry, exported: InMemorySpanExporter
) -> None:
    transport = httpx.ASGITransport(app=small_app(telemetry), root_path="/api")
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get(
            "/api/outer/inner/items/42", headers={"Authorization": "Bearer t"}
        )
        other = await client.request("PURGE", "/api/outer/inner/items/42")

    assert (response.text, other.status_code) == ("42", 200)
    first, second = exported.get_finished_spans()
    assert first.kind is SpanKind.SERVER
    assert (first.name, dict(first.attributes or {})) == (
        "GET /outer/inner/items/{id}",
        {
            "http.request.method": "GET",
            "http.route": "/outer/inner/items/{id}",
            "url.scheme": "http",
            "url.path": "/api/outer/inner/items/42",
            "network.protocol.version": "1.1",
            "user_agent.original": f"python-httpx/{httpx.__version__}",
            "http.response.status_code": 200,
            "gateway.tenant.id": "acme",
        },
    )
    # An unknown method is reported as _OTHER, and the name uses HTTP (semantic conventions).
    assert (second.name, (second.attributes or {})["http.request.method"]) == (
        "HTTP /outer/inner/items/{id}",
        "_OTHER",
    )


async def test_an_unhandled_error_is_a_500_server_span_with_the_error_type_only(
    telemetry: Telemetry, exported: InMemorySpanExporter
) -> None:
    transport = httpx.ASGITransport(app=small_app(telemetry), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/broken")

    assert response.status_code == 500
    (span,) = exported.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert (span.name, attributes["http.response.status_code"], attributes["error.type"]) == (
        "GET /broken",
        500,
        "RuntimeError",
    )
    assert (span.status.status_code, span.status.description, span.events) == (
        StatusCode.ERROR,
        None,
        (),
    )
    assert "hunter2" not in repr(attributes)


@pytest.mark.parametrize(
    ("env", "level", "message"),
    [
        (
            {},
            "WARNING",
            "spans: exported nowhere; OTEL_TRACES_EXPORTER has otlp but neither "
            "OTEL_EXPORTER_OTLP_ENDPOINT nor OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set",
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "https://gw:s3cret@collector.example:4318/a?k=s3cret",
                "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer s3cret",
            },
            "INFO",
            "spans: exported over OTLP/HTTP to collector.example:4318",
        ),
        (
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://[::1]/v1/traces"},
            "INFO",
            "spans: exported over OTLP/HTTP to [::1]",
        ),
        (
            {"OTEL_TRACES_EXPORTER": "console,otlp"},
            "WARNING",
            "spans: written to stdout (OTEL_TRACES_EXPORTER has console); OTEL_TRACES_EXPORTER "
            "has otlp but neither OTEL_EXPORTER_OTLP_ENDPOINT nor "
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set",
        ),
        (
            {"OTEL_TRACES_EXPORTER": "none"},
            "INFO",
            "spans: exported nowhere (OTEL_TRACES_EXPORTER=none)",
        ),
        (
            {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
            "INFO",
            "spans: none recorded or exported (OTEL_SDK_DISABLED=true)",
        ),
    ],
)
def test_start_up_says_where_spans_go_by_host_only(
    env: dict[str, str],
    level: str,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_TRACES_EXPORTER",
        "OTEL_SDK_DISABLED",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with caplog.at_level(logging.INFO, logger="gateway.telemetry"):
        log_span_destination(Settings(demo=True))
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [(level, message)]
    assert "s3cret" not in caplog.text


async def test_otel_sdk_disabled_stops_spans_and_leaves_the_metrics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gateway.app import create_app
    from tests.conftest import client_for

    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    settings = Settings(demo=True)
    assert settings.otel_sdk_disabled is True
    app = create_app(settings)
    telemetry: Telemetry = app.state.telemetry
    try:
        async with client_for(app, "demo-token") as client:
            response = await client.post(
                "/graphql", json={"query": "{ messagingProfiles(first: 1) { totalCount } }"}
            )
        assert response.status_code == 200
        metrics = telemetry.metrics_text().decode()
        assert (
            'gateway_requests_total{http_request_method="POST",http_response_status_code="200",'
            'http_route="/graphql",otel_scope_name="gateway.server",otel_scope_schema_url="",'
            'otel_scope_version="0.1.0",tenant_id="demo"} 1.0'
        ) in metrics
        assert (
            not telemetry.tracer_provider.get_tracer("check")
            .start_span("s")
            .get_span_context()
            .is_valid
        )
    finally:
        telemetry.shutdown()
