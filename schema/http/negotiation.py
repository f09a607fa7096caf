"""GraphQL over HTTP's content negotiation: which media type an answer is in, and what that
changes about it.

`application/json` is answered as it always was: a well-formed request gets a 200, and
`data` is always present. `application/graphql-response+json` (the media type of the
GraphQL-over-HTTP draft) says more: a request error (a document that does not parse or
validate, variables that do not coerce, a document refused by the cost limit or the
persisted-documents checks) is a 400 with no `data` entry; once execution started, the
answer is a 200 with `data`, even `null`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from schema.api.errors import RATE_LIMITED

if TYPE_CHECKING:
    from strawberry.http import GraphQLHTTPResponse
    from strawberry.types import ExecutionResult

JSON = "application/json"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
_SUPPORTED = (GRAPHQL_RESPONSE_JSON, JSON)


def quality_of(parameters: list[str]) -> float:
    """The `q` of a header element's parameters (RFC 9110 12.4.2): 1 when absent, 0 when bad."""
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0


def negotiate(accept: str | None) -> str:
    """The media type to answer in, by the request's `Accept` header (RFC 9110 12.5.1).

    Each supported type takes the quality of the most specific range that matches it; the
    best quality wins, a named type beating a wildcard on a tie. No header, `*/*` alone, or
    nothing acceptable (the draft allows disregarding the header rather than answering 406,
    which keeps every existing client working): `application/json`.
    """
    if not accept:
        return JSON
    # (quality, specificity) per supported type; specificity 2 named, 1 application/*, 0 */*.
    best: dict[str, tuple[float, int]] = {}
    for part in accept.split(","):
        media_range, *parameters = part.split(";")
        media_range = media_range.strip().lower()
        quality = quality_of(parameters)
        for supported in _SUPPORTED:
            if media_range == supported:
                specificity = 2
            elif media_range == "application/*":
                specificity = 1
            elif media_range == "*/*":
                specificity = 0
            else:
                continue
            known = best.get(supported)
            if known is None or specificity > known[1]:
                best[supported] = (quality, specificity)
    ranked = [
        (quality, specificity, _preferred(supported, specificity), supported)
        for supported, (quality, specificity) in best.items()
        if quality > 0
    ]
    return max(ranked)[3] if ranked else JSON


def _preferred(supported: str, specificity: int) -> bool:
    # On a tie in quality a named type beats a wildcard; between two named types the
    # GraphQL one wins (its client asked for it), between wildcards the one every client
    # understands.
    return supported == (GRAPHQL_RESPONSE_JSON if specificity == 2 else JSON)


def is_request_error(result: ExecutionResult) -> bool:
    """Whether the operation failed before execution: no data, and only errors that belong
    to the document (graphql-core gives every error raised while executing a path)."""
    return (
        result.data is None
        and bool(result.errors)
        and all(error.path is None for error in result.errors or ())
    )


# The `Accept` headers clients send most (aiohttp's and httpx's default, the JSON clients',
# the draft's), negotiated once, each as `negotiate` answers it.
_USUAL = {
    accept: negotiate(accept)
    for accept in (
        "*/*",
        JSON,
        GRAPHQL_RESPONSE_JSON,
        f"{GRAPHQL_RESPONSE_JSON}, {JSON}",
        f"{GRAPHQL_RESPONSE_JSON}, {JSON};q=0.9",
    )
}


@dataclass(slots=True)
class Answer:
    """How one request is answered: its media type, and what its results were."""

    media_type: str
    executed: int = 0
    refused: int = 0
    # Whether every refusal was RATE_LIMITED (a tenant's lanes for large documents were
    # full): then the answer is a 429 saying when to retry, not a 400.
    rate_limited: bool = True
    retry_after: int = 0

    @classmethod
    def to(cls, accept: str | None) -> Answer:
        usual = _USUAL.get(accept) if accept is not None else JSON
        return cls(usual or negotiate(accept))

    @property
    def strict(self) -> bool:
        """Whether the GraphQL-over-HTTP status codes and shapes apply."""
        return self.media_type == GRAPHQL_RESPONSE_JSON

    def shape(self, result: ExecutionResult, response: GraphQLHTTPResponse) -> None:
        """Count one operation's result, and drop its `data` if it was a request error."""
        if not is_request_error(result):
            self.executed += 1
            return
        self.refused += 1
        for error in result.errors or ():
            extensions = error.extensions or {}
            if extensions.get("code") != RATE_LIMITED:
                self.rate_limited = False
            retry_after = extensions.get("retryAfter")
            if isinstance(retry_after, int):
                self.retry_after = max(self.retry_after, retry_after)
        if self.strict:
            response.pop("data", None)

    @property
    def status(self) -> int:
        """When every operation was refused before execution (in the strict type): 429 if
        they all were for the rate, else 400; otherwise 200."""
        if not (self.strict and self.refused and not self.executed):
            return 200
        return 429 if self.rate_limited else 400

    @property
    def headers(self) -> dict[str, str]:
        """Headers the status calls for: `Retry-After` with a 429."""
        return {"Retry-After": str(max(self.retry_after, 1))} if self.status == 429 else {}
