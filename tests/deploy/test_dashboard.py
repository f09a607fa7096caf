"""The Grafana dashboard queries only metrics and labels the gateway really exports."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from gateway.app import create_app
from gateway.cache import Outcome
from gateway.config import Settings
from gateway.simulator import Simulator
from gateway.telemetry import build_telemetry
from gateway.tenancy import Tenant, TenantRegistry
from tests.deploy.support import DASHBOARD

TOKEN = "dashboard-token-0123456789"
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
# A name, its optional {matchers}, and an opening parenthesis when it is a function.
TOKEN_RE = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*(\{[^}]*\})?(\s*\()?")
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or"}
KEYWORDS |= {"unless", "bool", "offset"}


@dataclass
class Query:
    """What one PromQL expression refers to."""

    metrics: set[str] = field(default_factory=set)
    grouping: set[str] = field(default_factory=set)
    matchers: list[tuple[str, str, str, str]] = field(
        default_factory=list
    )  # metric, label, op, value


def parse(expr: str) -> Query:
    query = Query()
    for labels in GROUPING.findall(expr):
        query.grouping.update(label.strip() for label in labels.split(",") if label.strip())
    text = GROUPING.sub(" ", expr)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range selectors
    for match in TOKEN_RE.finditer(text):
        name, matchers, call = match.groups()
        if call or name in KEYWORDS:
            continue
        query.metrics.add(name)
        for label, op, value in MATCHER.findall(matchers or ""):
            query.matchers.append((name, label, op, value))
    return query


def _expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


QUERIES = [parse(expr) for expr in _expressions()]
METRICS = sorted(set().union(*(q.metrics for q in QUERIES)))


def test_the_parser_finds_metrics_labels_and_matchers() -> None:
    query = parse(
        'sum by (a, b) (rate(m_count{error_type!="", x=~"y|z"}[5m])) / ignoring(c) '
        "histogram_quantile(0.5, sum without (le) (rate(n_bucket[1m]))) and on() up"
    )
    assert query.metrics == {"m_count", "n_bucket", "up"}
    assert query.grouping == {"a", "b", "c", "le"}
    assert query.matchers == [("m_count", "error_type", "!=", ""), ("m_count", "x", "=~", "y|z")]


def test_dashboard_covers_what_the_sres_asked_for() -> None:
    assert {
        "telnyx_upstream_duration_seconds_bucket",  # latency quantiles
        "telnyx_upstream_duration_seconds_count",  # error rate
        "telnyx_upstream_retries_total",
        "gateway_cache_reads_total",  # hit and stale ratio
        "telnyx_upstream_active_requests",  # in flight
        "gateway_requests_total",  # by tenant
    } <= set(METRICS)
    quantiles = {
        float(q)
        for expr in _expressions()
        for q in re.findall(
            r"histogram_quantile\(([0-9.]+), sum by \(le, telnyx_operation\) "
            r"\(rate\(telnyx_upstream_duration_seconds_bucket",
            expr,
        )
    }
    assert quantiles == {0.5, 0.95, 0.99}
    grouped = {label for query in QUERIES for label in query.grouping}
    assert {"telnyx_operation", "tenant_id", "outcome", "error_type"} <= grouped


def test_panels_have_unique_ids_and_titles() -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert len({p["id"] for p in panels}) == len({p["title"] for p in panels}) == len(panels)


@dataclass
class Exposition:
    """Sample names on /metrics and the label names each carries."""

    labels: dict[str, set[str]]


@pytest.fixture
async def exposition(simulator: Simulator) -> AsyncIterator[Exposition]:
    """/metrics after reads (misses and hits), a retried 503 and a 404, over both faces."""
    settings = Settings(demo=True, otel_sdk_disabled=True, upstream_max_retry_delay=0.0)
    telemetry = build_telemetry(settings)
    tenants = TenantRegistry.from_tokens([(Tenant("acme", SecretStr("KEYacme0000")), TOKEN)])
    app = create_app(
        settings,
        upstream_transport=httpx.ASGITransport(app=simulator.app),
        tenants=tenants,
        telemetry=telemetry,
    )
    query = {"query": "{ messagingProfiles(first: 2) { totalCount edges { node { id } } } }"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://gateway.test",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as client:
        for _ in range(2):
            assert (await client.post("/graphql", json=query)).status_code == 200
        assert (await client.get("/v2/messaging_profiles")).status_code == 200
        simulator.faults.fail(503, times=1)
        assert (await client.get("/v2/short_codes")).status_code == 200
        assert (await client.get("/v2/messaging_profiles/missing")).status_code == 404
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app.state.probes), base_url="http://gateway.test"
    ) as probes:
        text = (await probes.get("/metrics")).text
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
    yield Exposition(labels)
    telemetry.shutdown()


@pytest.mark.parametrize("metric", METRICS)
async def test_queried_metric_is_exported(metric: str, exposition: Exposition) -> None:
    assert metric in exposition.labels, (
        f"the dashboard queries {metric}, which the gateway does not export; "
        f"it exports {sorted(exposition.labels)}"
    )


async def test_matched_and_grouped_labels_exist_on_the_queried_metrics(
    exposition: Exposition,
) -> None:
    missing = []
    for query in QUERIES:
        exported = [exposition.labels[m] for m in query.metrics if m in exposition.labels]
        if len(exported) < len(query.metrics):
            continue  # test_queried_metric_is_exported names the metric
        for metric, label, _, _ in query.matchers:
            if label not in exposition.labels[metric]:
                missing.append((metric, label))
        for label in query.grouping:
            if not any(label in names for names in exported):
                missing.append((", ".join(sorted(query.metrics)), label))
    assert missing == []


def test_cache_outcome_matchers_name_real_outcomes() -> None:
    values = {value for q in QUERIES for _, label, op, value in q.matchers if label == "outcome"}
    assert values == {"hit", "stale"}
    assert values <= {outcome.value for outcome in Outcome}
