"""The Kubernetes manifests (deploy/kubernetes) against the code and each other."""

from __future__ import annotations

import math
import re
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
import pytest
import yaml
from opentelemetry.sdk import environment_variables
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.config import Settings
from gateway.telemetry import build_telemetry
from gateway.tenancy import TenantRegistry
from tests.deploy.support import (
    KUBERNETES,
    OTEL_SDK_VARIABLES,
    dockerfile,
    kubernetes_configmap,
    kubernetes_object,
    load_yaml,
    settings_from,
    unknown_variables,
)

DEFAULT_PORT = Settings.model_fields["port"].default
DEFAULT_METRICS_PORT = Settings.model_fields["metrics_port"].default
LABELS = {"app.kubernetes.io/name": "telnyx-gateway"}
# Between the end of the gateway's budget and the kill: the interpreter's exit and reaping.
EXIT_MARGIN = 5


@pytest.fixture(scope="module")
def deployment() -> dict[str, Any]:
    return kubernetes_object("Deployment")


@pytest.fixture(scope="module")
def pod(deployment: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


@pytest.fixture(scope="module")
def container(pod: dict[str, Any]) -> dict[str, Any]:
    (container,) = pod["containers"]
    result: dict[str, Any] = container
    return result


def _secret_example() -> dict[str, Any]:
    secret: dict[str, Any] = load_yaml(KUBERNETES / "secret.example.yaml")
    return secret


def _environment(container: dict[str, Any]) -> dict[str, str]:
    """The container's variables as the gateway sees them: ConfigMap first, `env` over it."""
    name, data = kubernetes_configmap()
    (source,) = container["envFrom"]
    # kustomize rewrites this reference to the generated, hash-suffixed name.
    assert source == {"configMapRef": {"name": name}}
    env = dict(data)
    for entry in container["env"]:
        if "value" in entry:
            env[entry["name"]] = entry["value"]
    return env


def _container_port(container: dict[str, Any], name: str) -> int:
    (port,) = [p["containerPort"] for p in container["ports"] if p["name"] == name]
    assert isinstance(port, int)
    return port


# --- the kustomization -----------------------------------------------------------------


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    kustomization = load_yaml(KUBERNETES / "kustomization.yaml")
    resources = kustomization["resources"]
    on_disk = {path.name for path in KUBERNETES.glob("*.yaml")}
    assert sorted(resources) == sorted(on_disk - {"kustomization.yaml", "secret.example.yaml"})
    (generator,) = kustomization["configMapGenerator"]
    assert {path.name for path in KUBERNETES.iterdir()} == on_disk | set(generator["envs"])
    for path in KUBERNETES.glob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text()):
            assert "namespace" not in document.get("metadata", {}), path.name


def test_settings_are_a_generated_configmap_so_that_a_change_rolls_the_pods(
    container: dict[str, Any],
) -> None:
    kustomization = load_yaml(KUBERNETES / "kustomization.yaml")
    (generator,) = kustomization["configMapGenerator"]
    assert generator["name"] == "telnyx-gateway"
    assert generator["options"] == {"labels": LABELS}
    # The hash suffix is what changes the pod template: it must not be turned off.
    assert "disableNameSuffixHash" not in generator["options"]
    assert "disableNameSuffixHash" not in kustomization.get("generatorOptions", {})
    assert "behavior" not in generator
    # No ConfigMap besides the generated one, which the container reads.
    for resource in kustomization["resources"]:
        for document in yaml.safe_load_all((KUBERNETES / resource).read_text()):
            assert document["kind"] != "ConfigMap", resource
    assert container["envFrom"] == [{"configMapRef": {"name": generator["name"]}}]


def test_objects_select_the_deployments_pods(deployment: dict[str, Any]) -> None:
    assert deployment["spec"]["selector"] == {"matchLabels": LABELS}
    assert deployment["spec"]["template"]["metadata"]["labels"] == LABELS
    assert kubernetes_object("Service")["spec"]["selector"] == LABELS
    assert kubernetes_object("PodDisruptionBudget")["spec"]["selector"] == {"matchLabels": LABELS}


# --- ports and probes ------------------------------------------------------------------


def test_container_port_is_the_settings_port_and_the_service_targets_it(
    container: dict[str, Any],
) -> None:
    assert _container_port(container, "http") == DEFAULT_PORT
    assert int(_environment(container)["GATEWAY_PORT"]) == DEFAULT_PORT
    (port,) = kubernetes_object("Service")["spec"]["ports"]
    assert port == {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}


def test_the_metrics_port_is_declared_and_no_service_exposes_it(
    container: dict[str, Any],
) -> None:
    assert _container_port(container, "metrics") == DEFAULT_METRICS_PORT
    assert int(_environment(container)["GATEWAY_METRICS_PORT"]) == DEFAULT_METRICS_PORT
    assert [p["name"] for p in container["ports"]] == ["http", "metrics"]
    targets = [p["targetPort"] for p in kubernetes_object("Service")["spec"]["ports"]]
    assert "metrics" not in targets
    assert DEFAULT_METRICS_PORT not in targets


def test_probes_ask_healthz_and_readyz_on_the_http_port(container: dict[str, Any]) -> None:
    probes = {
        kind: container[kind]["httpGet"]
        for kind in ("livenessProbe", "readinessProbe", "startupProbe")
    }
    assert probes == {
        "livenessProbe": {"path": "/healthz", "port": "http"},
        "readinessProbe": {"path": "/readyz", "port": "http"},
        "startupProbe": {"path": "/healthz", "port": "http"},
    }


def test_prometheus_annotations_name_the_metrics_route_and_port(
    deployment: dict[str, Any], container: dict[str, Any]
) -> None:
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(_container_port(container, "metrics")),
        "prometheus.io/path": "/metrics",
    }


@pytest.fixture
def bare_app() -> Starlette:
    return create_app(Settings(demo=True, otel_sdk_disabled=True))


async def test_every_probed_path_answers_200_without_credentials(
    bare_app: Starlette, container: dict[str, Any]
) -> None:
    # The probes and the image's HEALTHCHECK ask the API port; the scrape path is checked
    # against the metrics listener where that is served.
    paths = {
        container[kind]["httpGet"]["path"]
        for kind in ("livenessProbe", "readinessProbe", "startupProbe")
    }
    (healthcheck,) = [i for i in dockerfile() if i.keyword == "HEALTHCHECK"]
    paths.update(re.findall(r"http://127\.0\.0\.1:\d+(/\w+)", healthcheck.arguments))
    assert paths == {"/healthz", "/readyz"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=bare_app), base_url="http://pod"
    ) as client:
        statuses = {path: (await client.get(path)).status_code for path in sorted(paths)}
    assert statuses == {"/healthz": 200, "/readyz": 200}


# --- settings --------------------------------------------------------------------------


def test_every_variable_is_a_setting_or_feeds_one(container: dict[str, Any]) -> None:
    _, data = kubernetes_configmap()
    names = set(data) | {entry["name"] for entry in container["env"]}
    assert unknown_variables(names) == []
    # Anything else may only be substituted into another variable, as $(NAME).
    values = " ".join(str(entry.get("value", "")) for entry in container["env"])
    helpers = {n for n in names if not n.startswith(("GATEWAY_", "OTEL_"))}
    assert helpers == {"POD_NAME", "POD_NAMESPACE"}
    assert {n for n in helpers if f"$({n})" in values} == helpers


def test_allowed_sdk_variables_are_ones_the_sdk_documents() -> None:
    documented = {
        value for name, value in vars(environment_variables).items() if name.startswith("OTEL_")
    }
    assert documented >= OTEL_SDK_VARIABLES


def test_resource_attributes_reach_the_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "k8s.pod.name=gateway-0,k8s.namespace.name=sre")
    telemetry = build_telemetry(Settings(demo=True, otel_sdk_disabled=True))
    try:
        attributes = telemetry.tracer_provider.resource.attributes
        assert attributes["k8s.pod.name"] == "gateway-0"
        assert attributes["k8s.namespace.name"] == "sre"
        assert attributes["service.name"] == "telnyx-messaging-gateway"
    finally:
        telemetry.shutdown()


def test_settings_load_from_the_configmap_and_env(
    container: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_from(_environment(container), monkeypatch)
    assert settings.is_demo is False
    assert settings.host == "0.0.0.0"  # noqa: S104  -- the pod IP must be reachable
    assert settings.port == DEFAULT_PORT
    assert settings.tenants_file == Path("/etc/gateway/tenants.json")
    assert settings.base_url == "https://api.telnyx.com/v2"
    assert settings.graphiql is False
    assert settings.introspection is False
    assert settings.shutdown_budget == 25
    assert settings.metrics_port == DEFAULT_METRICS_PORT
    assert settings.otel_exporter_otlp_endpoint == "http://otel-collector:4318"
    assert settings.otel_service_name == "telnyx-messaging-gateway"


# --- the tenants Secret ----------------------------------------------------------------


def test_tenants_secret_is_mounted_read_only_where_the_setting_points(
    pod: dict[str, Any], container: dict[str, Any]
) -> None:
    tenants_file = PurePosixPath(_environment(container)["GATEWAY_TENANTS_FILE"])
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(tenants_file.parent)]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    secret = _secret_example()
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    assert volume["secret"]["items"] == [{"key": "tenants.json", "path": tenants_file.name}]
    assert set(secret["stringData"]) == {"tenants.json"}


def test_secret_example_is_a_valid_tenants_file_no_token_matches(tmp_path: Path) -> None:
    path = tmp_path / "tenants.json"
    path.write_text(_secret_example()["stringData"]["tenants.json"])
    registry = TenantRegistry.from_file(path)
    assert len(registry) == 1
    assert '"token_sha256": "' + "0" * 64 + '"' in path.read_text()


# --- security --------------------------------------------------------------------------


def test_runs_as_the_images_non_root_user(pod: dict[str, Any], container: dict[str, Any]) -> None:
    (user,) = [i.arguments for i in dockerfile() if i.keyword == "USER"]
    assert pod["securityContext"]["runAsUser"] == int(user) == 10001
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": int(user),
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod["automountServiceAccountToken"] is False


def test_tmp_is_writable_on_the_read_only_root(
    pod: dict[str, Any], container: dict[str, Any]
) -> None:
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]  # noqa: S108  -- a mount path
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert "emptyDir" in volume


def test_requests_cpu_and_memory_and_limits_memory(container: dict[str, Any]) -> None:
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"memory": "512Mi"},
    }


# --- scaling, disruption and shutdown ----------------------------------------------------


def test_autoscaler_scales_the_deployment_on_cpu(deployment: dict[str, Any]) -> None:
    hpa = kubernetes_object("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": deployment["apiVersion"],
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert hpa["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 70},
            },
        }
    ]
    assert hpa["spec"]["minReplicas"] == 2
    assert hpa["spec"]["maxReplicas"] == 10
    # The autoscaler owns the count: a replicas field would reset it on every apply.
    assert "replicas" not in deployment["spec"]


def test_disruption_budget_leaves_room_to_drain_a_node(deployment: dict[str, Any]) -> None:
    pdb = kubernetes_object("PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["minAvailable"] == 1
    # With minAvailable equal to the fewest replicas, no pod could ever be evicted.
    hpa = kubernetes_object("HorizontalPodAutoscaler")
    assert hpa["spec"]["minReplicas"] > pdb["spec"]["minAvailable"]
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}


def test_termination_grace_is_the_prestop_sleep_plus_the_shutdown_budget_plus_a_margin(
    pod: dict[str, Any], container: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    sleep = int(command[1])
    budget = settings_from(_environment(container), monkeypatch).shutdown_budget
    # Kubernetes counts the preStop hook inside terminationGracePeriodSeconds, then sends
    # SIGTERM; the gateway exits within its budget after that.
    assert pod["terminationGracePeriodSeconds"] == sleep + math.ceil(budget) + EXIT_MARGIN
    assert (sleep, budget, pod["terminationGracePeriodSeconds"]) == (5, 25, 35)
