"""The control API under /_simulator, for tests and benchmarks that run out of process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from gateway.simulator.faults import Fault
from gateway.simulator.wire import INVALID_JSON, ApiError, Problem, json_response, route

if TYPE_CHECKING:
    from gateway.simulator.app import Simulator


def _invalid(detail: str, pointer: str) -> ApiError:
    return ApiError(422, [Problem("10015", "Bad Request", detail, pointer=pointer)])


async def _object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        raise ApiError(400, [INVALID_JSON]) from None
    if not isinstance(body, dict):
        raise _invalid("The body must be a JSON object.", "/")
    return body


def _number(body: dict[str, Any], name: str, default: float, *, minimum: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise _invalid(f"'{name}' must be a number >= {minimum:g}.", f"/{name}")
    return float(value)


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise _invalid(f"'{name}' must be a string.", f"/{name}")
    return value


def fault_from_json(body: dict[str, Any]) -> Fault:
    """`{"status": 503}`, `{"drop": true}` or `{"delay": 0.5}`, with optional
    `times`, `headers`, `body`, `method` and `path` (a prefix such as "/v2/short_codes")."""
    times = int(_number(body, "times", 1, minimum=1))
    method, path = _text(body, "method"), _text(body, "path")
    method = method.upper() if method else None
    if body.get("drop") is True:
        return Fault("drop", times, method=method, path=path)
    if "delay" in body:
        return Fault(
            "delay", times, delay=_number(body, "delay", 0, minimum=0), method=method, path=path
        )
    status = body.get("status")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise _invalid("Give 'status' (100-599), 'drop': true, or 'delay'.", "/status")
    headers = body.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise _invalid("'headers' must be an object of strings.", "/headers")
    return Fault("status", times, status, headers, body.get("body"), method=method, path=path)


def routes(simulator: Simulator) -> list[BaseRoute]:
    """The admin routes, bound to one simulator."""

    async def list_requests(request: Request) -> Response:
        return json_response({"data": [record.to_json() for record in simulator.requests]})

    async def clear_requests(request: Request) -> Response:
        simulator.requests.clear()
        return json_response({"data": []})

    async def list_faults(request: Request) -> Response:
        faults = simulator.faults
        return json_response(
            {"data": {"latency": faults.latency, "faults": [f.to_json() for f in faults.pending()]}}
        )

    async def add_fault(request: Request) -> Response:
        fault = simulator.faults.add(fault_from_json(await _object(request)))
        return json_response({"data": fault.to_json()})

    async def clear_faults(request: Request) -> Response:
        simulator.faults.clear()
        return await list_faults(request)

    async def set_latency(request: Request) -> Response:
        body = await _object(request)
        simulator.faults.latency = _number(body, "seconds", 0, minimum=0)
        return await list_faults(request)

    async def reset(request: Request) -> Response:
        simulator.reset()
        return json_response({"data": {}})

    async def seed_account(request: Request) -> Response:
        body = await _object(request)
        api_key: str = request.path_params["api_key"]
        if not api_key.startswith("KEY"):
            raise _invalid("Simulated API keys start with KEY.", "/")
        account = simulator.account(api_key)
        profile_id = _text(body, "messaging_profile_id")
        if profile_id is not None and profile_id not in account.profiles:
            raise _invalid("No such messaging profile.", "/messaging_profile_id")
        added = {
            "profiles": len(account.add_profiles(int(_number(body, "profiles", 0, minimum=0)))),
            "phone_numbers": len(
                account.add_phone_numbers(
                    int(_number(body, "phone_numbers", 0, minimum=0)),
                    messaging_profile_id=profile_id,
                )
            ),
            "short_codes": len(
                account.add_short_codes(
                    int(_number(body, "short_codes", 0, minimum=0)),
                    messaging_profile_id=profile_id,
                )
            ),
        }
        return json_response({"data": added})

    return [
        route("/requests", GET=list_requests, DELETE=clear_requests),
        route("/faults", GET=list_faults, POST=add_fault, DELETE=clear_faults),
        route("/latency", PUT=set_latency),
        route("/reset", POST=reset),
        route("/accounts/{api_key}/seed", POST=seed_account),
    ]
