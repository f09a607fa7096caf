"""deploy/compose.yaml and its configuration files, wired to each other and to the code."""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from gateway.app import create_app
from gateway.simulator import Simulator
from gateway.tenancy import TenantRegistry
from tests.deploy.support import (
    COMPOSE_FILE,
    DASHBOARD,
    DEPLOY,
    DOCKERFILE,
    REPO,
    Mount,
    compose_mounts,
    load_yaml,
    settings_from,
    unknown_variables,
)

SERVICES = {"gateway", "simulator", "redis", "otel-collector", "jaeger", "prometheus", "grafana"}
# Between the end of the gateway's budget and the kill: the interpreter's exit and reaping.
EXIT_MARGIN = 5


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = load_yaml(COMPOSE_FILE)
    return loaded


def _service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    service: dict[str, Any] = compose["services"][name]
    return service


def _mount(service: dict[str, Any], target: str) -> Mount:
    (mount,) = [m for m in compose_mounts(service) if m.target == target]
    return mount


def _host_path(mount: Mount) -> Path:
    # Compose resolves relative sources against the compose file's directory.
    return (COMPOSE_FILE.parent / mount.source).resolve()


def _sample_token() -> str:
    """The sample token deploy/README.md gives, the line after it is introduced."""
    match = re.search(r"the sample token is\n\n```\n(.+)\n```", (DEPLOY / "README.md").read_text())
    assert match is not None, "deploy/README.md does not give the sample token"
    return match.group(1)


def test_runs_the_gateway_and_what_surrounds_it(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES


def test_third_party_images_are_pinned(compose: dict[str, Any]) -> None:
    images = {name: service["image"] for name, service in compose["services"].items()}
    unpinned = [
        image
        for image in images.values()
        if ":" not in image or image.rsplit(":", 1)[1] in ("latest", "")
    ]
    assert unpinned == []


def test_gateway_and_simulator_are_built_from_the_dockerfile(compose: dict[str, Any]) -> None:
    for name in ("gateway", "simulator"):
        build = _service(compose, name)["build"]
        context = (COMPOSE_FILE.parent / build["context"]).resolve()
        assert context == REPO
        assert (context / build["dockerfile"]).resolve() == DOCKERFILE
        assert (context / ".dockerignore").is_file()


def test_gateway_variables_are_settings(compose: dict[str, Any]) -> None:
    for name in ("gateway", "simulator"):
        assert unknown_variables(set(_service(compose, name).get("environment", {}))) == []


def test_gateway_settings_point_at_the_other_services(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = _service(compose, "gateway")
    settings = settings_from(gateway["environment"], monkeypatch)
    assert settings.is_demo is False
    assert settings.host == "0.0.0.0"  # noqa: S104  -- reachable from the other containers
    assert settings.port == 8080
    # The API only, on this machine only; the metrics port stays on the compose network.
    assert gateway["ports"] == [f"127.0.0.1:{settings.port}:{settings.port}"]
    assert settings.metrics_port == 9464
    assert gateway["expose"] == [str(settings.metrics_port)]
    assert settings.base_url == "http://simulator:12111/v2"
    assert settings.redis_url == "redis://redis:6379/0"
    assert settings.otel_exporter_otlp_endpoint == "http://otel-collector:4318"
    assert settings.otel_service_name == "telnyx-messaging-gateway"
    assert settings.otel_sdk_disabled is False
    for url in (settings.base_url, settings.redis_url, settings.otel_exporter_otlp_endpoint):
        assert urlsplit(url).hostname in compose["services"]


def test_simulator_serves_where_the_gateway_looks(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_from(_service(compose, "gateway")["environment"], monkeypatch)
    simulator = _service(compose, "simulator")
    command = simulator["command"]
    assert command[:4] == ["python", "-m", "gateway", "simulate"]
    options = dict(zip(command[4::2], command[5::2], strict=True))
    assert options == {"--host": "0.0.0.0", "--port": "12111", "--latency": "0.02"}  # noqa: S104  -- for the gateway container
    assert urlsplit(settings.base_url).port == int(options["--port"])
    assert simulator["ports"] == [f"127.0.0.1:{options['--port']}:{options['--port']}"]


async def test_simulator_healthcheck_path_answers(compose: dict[str, Any]) -> None:
    test = _service(compose, "simulator")["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    match = re.search(r"'http://127\.0\.0\.1:12111(/[^']*)'", test[3])
    assert match is not None
    transport = httpx.ASGITransport(app=Simulator().app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        response = await client.get(match.group(1))
    assert response.status_code == 200


def test_tenants_file_is_mounted_where_the_setting_says(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = _service(compose, "gateway")
    settings = settings_from(gateway["environment"], monkeypatch)
    assert settings.tenants_file == Path("/etc/gateway/tenants.json")
    mount = _mount(gateway, str(settings.tenants_file))
    assert mount.read_only
    assert _host_path(mount) == DEPLOY / "compose" / "tenants.json"


def test_sample_token_from_the_readme_is_a_tenant_the_simulator_accepts(
    compose: dict[str, Any],
) -> None:
    tenants_file = _host_path(_mount(_service(compose, "gateway"), "/etc/gateway/tenants.json"))
    token = _sample_token()
    tenant = TenantRegistry.from_file(tenants_file).authenticate(f"Bearer {token}")
    assert tenant.id == "acme"
    assert tenant.telnyx_api_key.get_secret_value().startswith("KEY")
    # Only the hash is stored: the token itself must not appear in the file.
    text = tenants_file.read_text()
    assert token not in text
    assert hashlib.sha256(token.encode()).hexdigest() in text


async def test_sample_token_queries_the_gateway_as_the_readme_shows(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = _service(compose, "gateway")
    env = dict(gateway["environment"])
    env["GATEWAY_TENANTS_FILE"] = str(_host_path(_mount(gateway, env["GATEWAY_TENANTS_FILE"])))
    env["OTEL_SDK_DISABLED"] = "true"
    del env["GATEWAY_REDIS_URL"]  # no Redis here; this test is about tenants and the upstream
    settings = settings_from(env, monkeypatch)
    app = create_app(settings, upstream_transport=httpx.ASGITransport(app=Simulator().app))
    query = "{ messagingProfiles(first: 2) { totalCount edges { node { id name } } } }"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway:8080"
    ) as client:
        response = await client.post(
            "/graphql",
            json={"query": query},
            headers={"Authorization": f"Bearer {_sample_token()}"},
        )
    assert response.status_code == 200
    assert "errors" not in response.json()
    assert len(response.json()["data"]["messagingProfiles"]["edges"]) == 2


def test_collector_receives_otlp_http_and_exports_to_jaeger(compose: dict[str, Any]) -> None:
    service = _service(compose, "otel-collector")
    (config_arg,) = service["command"]
    config_path = config_arg.removeprefix("--config=")
    config = load_yaml(_host_path(_mount(service, config_path)))
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "0.0.0.0:4318"
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"]
    assert set(pipeline["processors"]) <= set(config["processors"])
    assert pipeline["exporters"] == ["otlp/jaeger"]
    host, port = config["exporters"]["otlp/jaeger"]["endpoint"].split(":")
    assert host == "jaeger"
    assert port == "4317"  # Jaeger's OTLP/gRPC receiver
    assert _service(compose, "jaeger")["environment"] == {"COLLECTOR_OTLP_ENABLED": "true"}
    assert set(config["service"]["extensions"]) <= set(config["extensions"])


def test_prometheus_scrapes_the_gateway_metrics_port(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_from(_service(compose, "gateway")["environment"], monkeypatch)
    service = _service(compose, "prometheus")
    config_arg = next(a for a in service["command"] if a.startswith("--config.file="))
    config = load_yaml(_host_path(_mount(service, config_arg.removeprefix("--config.file="))))
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"] == [{"targets": [f"gateway:{settings.metrics_port}"]}]
    assert settings.metrics_port != settings.port


def test_every_published_port_is_bound_to_the_loopback_interface(
    compose: dict[str, Any],
) -> None:
    published = {
        name: [str(port) for port in service.get("ports", [])]
        for name, service in compose["services"].items()
    }
    assert {
        name: [port for port in ports if not port.startswith("127.0.0.1:")]
        for name, ports in published.items()
    } == {name: [] for name in published}
    # The fault-injection API and the dashboards are among them.
    assert published["simulator"] == ["127.0.0.1:12111:12111"]
    assert published["grafana"] == ["127.0.0.1:3000:3000"]


def test_grafana_lets_anyone_look_and_nobody_administer(compose: dict[str, Any]) -> None:
    env = _service(compose, "grafana")["environment"]
    auth = {
        name: value for name, value in env.items() if name.startswith(("GF_AUTH", "GF_SECURITY"))
    }
    assert auth == {
        "GF_AUTH_ANONYMOUS_ENABLED": "true",
        "GF_AUTH_ANONYMOUS_ORG_ROLE": "Viewer",
        "GF_AUTH_DISABLE_LOGIN_FORM": "true",
        "GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION": "true",
    }


def test_stop_grace_period_is_the_shutdown_budget_plus_a_margin(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = _service(compose, "gateway")
    budget = settings_from(gateway["environment"], monkeypatch).shutdown_budget
    match = re.fullmatch(r"(\d+)s", gateway["stop_grace_period"])
    assert match is not None
    # No preStop in compose: SIGTERM comes at once, then the gateway has its budget.
    assert int(match.group(1)) == math.ceil(budget) + EXIT_MARGIN
    assert (budget, gateway["stop_grace_period"]) == (25, "30s")


def test_grafana_provisions_the_prometheus_datasource_and_the_dashboard(
    compose: dict[str, Any],
) -> None:
    service = _service(compose, "grafana")
    provisioning = _host_path(_mount(service, "/etc/grafana/provisioning"))
    (datasource,) = load_yaml(provisioning / "datasources" / "prometheus.yaml")["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    assert "prometheus" in compose["services"]
    (provider,) = load_yaml(provisioning / "dashboards" / "gateway.yaml")["providers"]
    dashboards = _mount(service, provider["options"]["path"])
    assert _host_path(dashboards) == DASHBOARD.parent
    home = service["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{dashboards.target}/{DASHBOARD.name}"
    # Every panel and query names the provisioned datasource by its uid.
    dashboard = json.loads(DASHBOARD.read_text())
    uids = {panel["datasource"]["uid"] for panel in dashboard["panels"]} | {
        target["datasource"]["uid"] for panel in dashboard["panels"] for target in panel["targets"]
    }
    assert uids == {datasource["uid"]}


def test_paths_the_readmes_give_exist() -> None:
    texts = (DEPLOY / "README.md").read_text() + (REPO / "README.md").read_text()
    paths = set(re.findall(r"\bdeploy/[\w./-]*\w", texts))
    assert {"deploy/compose.yaml", "deploy/kubernetes", "deploy/Dockerfile"} <= paths
    assert sorted(p for p in paths if not (REPO / p).exists()) == []


def test_readme_runs_compose_with_this_file_and_builds_with_the_repository_as_context() -> None:
    commands = (DEPLOY / "README.md").read_text().splitlines()
    assert "docker compose -f deploy/compose.yaml up --build" in commands
    assert "docker build -f deploy/Dockerfile -t telnyx-messaging-gateway ." in commands
    assert "   kubectl apply -k deploy/kubernetes -n <namespace>" in commands
