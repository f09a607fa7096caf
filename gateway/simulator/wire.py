"""Telnyx's wire formats: JSON responses, the error envelope, and page parameters."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.simulator.store import JSON

_ERROR_DOCS = "https://developers.telnyx.com/docs/overview/errors/"

PAGE_SIZE_DEFAULT = 20
PAGE_SIZE_MAX = 250
# Telnyx states no maximum; past this a page number overflows serialisers (orjson: 64 bits).
PAGE_NUMBER_MAX = 2**31 - 1


Endpoint = Callable[[Request], Awaitable[Response]]


def route(path: str, **handlers: Endpoint) -> Route:
    """One route per path, so a wrong method gets a 405 whose Allow header lists them all."""

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return Route(path, dispatch, methods=list(handlers))


def json_response(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    # One serialisation per response, by orjson: the simulator sits under benchmarks.
    return Response(orjson.dumps(payload), status, headers, media_type="application/json")


@dataclass(frozen=True, slots=True)
class Problem:
    """One entry of Telnyx's `errors` array."""

    code: str
    title: str
    detail: str
    pointer: str | None = None
    parameter: str | None = None

    def to_json(self) -> JSON:
        entry: JSON = {"code": self.code, "title": self.title, "detail": self.detail}
        source = {}
        if self.pointer is not None:
            source["pointer"] = self.pointer
        if self.parameter is not None:
            source["parameter"] = self.parameter
        if source:
            entry["source"] = source
        entry["meta"] = {"url": _ERROR_DOCS + self.code}
        return entry


class ApiError(Exception):
    """Raised by a handler to answer with Telnyx's error envelope."""

    def __init__(self, status: int, problems: Sequence[Problem]) -> None:
        super().__init__(problems[0].title)
        self.status = status
        self.problems = tuple(problems)

    def response(self) -> Response:
        return json_response(
            {"errors": [problem.to_json() for problem in self.problems]}, self.status
        )


# Code, title and detail from Telnyx's official error table (NOTES.md §4).
UNAUTHORIZED = Problem(
    "10009",
    "Authentication failed",
    "The required authentication headers were either invalid or not included in the request.",
)
NOT_FOUND = Problem(
    "10005", "Resource not found", "The requested resource or URL could not be found."
)
INVALID_JSON = Problem("10023", "Invalid JSON", "The request body is not valid JSON.")
UNEXPECTED = Problem("10007", "Unexpected error", "An unexpected error occured.")


def error_body(status: int) -> JSON:
    """The default body of a fault-injected status: the closest official code."""
    problem = {
        400: Problem("10015", "Bad Request", "The request failed because it was not well-formed."),
        401: UNAUTHORIZED,
        403: Problem(
            "10010",
            "Authorization failed",
            "You do not have permission to perform the requested action.",
        ),
        404: NOT_FOUND,
        408: Problem("10008", "Request timeout", "The request timed out."),
        429: Problem(
            "10011",
            "Too many requests",
            "You have exceeded the maximum number of allowed requests.",
        ),
    }.get(status, UNEXPECTED)
    return {"errors": [problem.to_json()]}


@dataclass(frozen=True, slots=True)
class PageRequest:
    number: int
    size: int


def _page_value(
    query: Mapping[str, str], name: str, default: int, maximum: int | None
) -> tuple[int, Problem | None]:
    raw = query.get(f"page[{name}]")
    if raw is None:
        return default, None
    limit = PAGE_NUMBER_MAX if maximum is None else maximum
    digits = (raw.lstrip("0") or "0") if raw.isascii() and raw.isdigit() else ""
    # Never int() an arbitrarily long string: past 10 digits it is over any limit anyway.
    value = (int(digits) if len(digits) <= 10 else limit + 1) if digits else 0
    if 1 <= value <= limit:
        return value, None
    bound = f"between 1 and {limit}" if maximum or value > limit else "greater than or equal to 1"
    # Pointer text as in the spec's only example of this error
    # (paths./phone_numbers/jobs.get.responses.422: "page/number", no leading slash).
    return default, Problem(
        "10015",
        "Invalid pagination",
        f"page[{name}] must be an integer {bound}.",
        pointer=f"page/{name}",
        parameter=f"page[{name}]",
    )


def page_request(query: Mapping[str, str], *, max_size: int | None = PAGE_SIZE_MAX) -> PageRequest:
    """Parse `page[number]` and `page[size]`, or raise a 422 naming each bad one."""
    number, bad_number = _page_value(query, "number", 1, None)
    size, bad_size = _page_value(query, "size", PAGE_SIZE_DEFAULT, max_size)
    problems = [problem for problem in (bad_number, bad_size) if problem is not None]
    if problems:
        raise ApiError(422, problems)
    return PageRequest(number, size)


def page(items: Sequence[JSON], request: PageRequest) -> JSON:
    """`{"data": [...], "meta": {...}}`; meta is always complete, even past the last page."""
    start = (request.number - 1) * request.size
    return {
        "data": items[start : start + request.size],
        "meta": {
            "page_number": request.number,
            "page_size": request.size,
            # No results means no pages (ceil(0 / size) == 0).
            "total_pages": math.ceil(len(items) / request.size),
            "total_results": len(items),
        },
    }
