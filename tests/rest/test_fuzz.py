"""Schema-driven fuzzing: schemathesis reads the face's own /v2/openapi.json, generates
requests for every operation (valid and invalid ones), sends them in process, and checks
that no answer is a 5xx and every answer conforms to the document."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.app import create_app
from gateway.config import Settings
from gateway.simulator import Account, Simulator
from gateway.tenancy import TenantRegistry
from tests.conftest import ALPHA_TOKEN

pytestmark = pytest.mark.slow

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
# Bounded and deterministic: a fixed number of examples, no example database, no shrinking
# (a failure is reported as found), no deadline (the first request warms caches).
BOUNDED = settings(
    max_examples=10,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def api(
    settings: Settings, simulator: Simulator, tenants: TenantRegistry
) -> Iterator[schemathesis.BaseSchema]:
    # The app's own telemetry: schemathesis runs the app's lifespan, which shuts it down.
    # The fuzz sends hundreds of requests at once: the tenant's rate limit is not under test.
    unlimited = settings.model_copy(
        update={"rate_limit_per_second": 1e6, "rate_limit_burst": 10**6}
    )
    app = create_app(
        unlimited, upstream_transport=httpx.ASGITransport(app=simulator.app), tenants=tenants
    )
    yield schemathesis.openapi.from_asgi("/v2/openapi.json", app)
    shutdown_lifespans()


def fuzz(
    operation: APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    statuses: Counter[int],
    path_parameters: dict[str, str] | None = None,
) -> None:
    strategy = operation.as_strategy(
        mode,
        headers={"Authorization": f"Bearer {ALPHA_TOKEN}"},
        path_parameters=path_parameters,
    )

    @BOUNDED
    @given(case=strategy)
    def run(case: Case[Any]) -> None:
        response = case.call()
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    run()


def test_no_operation_answers_5xx_or_outside_its_document(
    api: schemathesis.BaseSchema, alpha: Account
) -> None:
    real = {
        "/messaging_profiles/": next(iter(alpha.profiles)),
        "/short_codes/": next(iter(alpha.short_codes)),
        "/phone_numbers/": next(iter(alpha.phone_numbers)),
    }
    statuses: Counter[int] = Counter()
    nothing_to_violate = []
    operations = []
    for result in api.get_all_operations():
        assert isinstance(result, Ok), result  # the document loads without errors
        operations.append(result.ok())
    for operation in operations:
        fuzz(operation, GenerationMode.POSITIVE, statuses)
        try:
            fuzz(operation, GenerationMode.NEGATIVE, statuses)
        except Unsatisfiable:
            nothing_to_violate.append(f"{operation.method.upper()} {operation.path}")
        if "{id}" in operation.path:
            # Generated ids are almost never real; these reach past the 404.
            prefix = next(p for p in real if operation.path.startswith(p))
            fuzz(operation, GenerationMode.POSITIVE, statuses, {"id": real[prefix]})

    assert len(operations) == 17
    # Every operation has an input the document constrains (ids have formats now).
    assert nothing_to_violate == []
    assert all(status < 500 for status in statuses)
    # The run reached the operations, not just the error paths.
    assert statuses[200] >= 50
    assert statuses.keys() >= {200, 404, 422}
