"""The GraphQL-over-HTTP reference audit (npm `graphql-http`, `auditServer`) against the
gateway on a real socket, with each request reader (the speed-up's, and strawberry's when
`make test` runs this suite again with GATEWAY_SPEEDUPS=false).

The audit sends the tenant's token and nothing else of ours. Three of its 61 audits are
MAY-level notices the gateway answers on purpose with a 400 (README, "GraphQL over HTTP"):
a GET must show it is not a cross-site form, with a preflight header the audit does not send.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from schema.http.csrf import MESSAGE as CSRF_MESSAGE
from tests import nodetools
from tests.conftest import ALPHA_TOKEN, MakeApp
from tests.server import serve

AUDITS = 61
CSRF_REFUSAL = (
    "notice",
    400,
    {"errors": [{"message": CSRF_MESSAGE, "extensions": {"code": "BAD_USER_INPUT"}}]},
)
# The GETs without a preflight header: refused by CSRF prevention (schema/http/csrf.py).
EXPECTED = {"5A70": CSRF_REFUSAL, "D6D5": CSRF_REFUSAL, "6A70": CSRF_REFUSAL}


def audit(url: str) -> list[dict[str, Any]]:
    result = nodetools.run("audit.mjs", url, ALPHA_TOKEN, timeout=90)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.slow
def test_the_audit_passes_but_for_the_csrf_refusals(make_app: MakeApp) -> None:
    nodetools.node()
    with serve(make_app()) as url:
        results = audit(f"{url}/graphql")
    assert len(results) == AUDITS
    failed = {
        result["id"]: (result["status"], result["status_code"], json.loads(result["body"]))
        for result in results
        if result["status"] != "ok"
    }
    assert failed == EXPECTED
    names = {result["id"]: result["name"] for result in results}
    assert [names[id_].split(" ", 1)[0] for id_ in sorted(EXPECTED)] == ["MAY", "MAY", "MAY"]
