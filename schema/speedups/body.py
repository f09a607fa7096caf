"""Reading the common request, one operation POSTed as JSON, without strawberry's parser.

strawberry's `parse_http_body` parses the content type with the email package, twice,
which costs as much as answering from the response cache. This reads the plain case
itself; anything else (another method or content type, a batch, a streaming `Accept`,
members of the wrong types) is left to strawberry's parser (None).
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from strawberry.http import GraphQLRequestData

# What a plain (not streamed) answer may be asked for with.
_PLAIN_ACCEPT = frozenset({"", "*/*", "application/json", "application/graphql-response+json"})


def _plainly_accepted(accept: str) -> bool:
    return all(part.split(";", 1)[0].strip().lower() in _PLAIN_ACCEPT for part in accept.split(","))


async def read_operation(request: Request) -> GraphQLRequestData | None:
    """The request's one operation, or None: let strawberry read it."""
    media_type = request.headers.get("content-type", "").partition(";")[0]
    if (
        request.method != "POST"
        or media_type.strip().lower() != "application/json"
        or not _plainly_accepted(request.headers.get("accept", ""))
    ):
        return None
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict):
        return None
    query, variables = body.get("query"), body.get("variables")
    operation, extensions = body.get("operationName"), body.get("extensions")
    if not (
        isinstance(query, str | None)
        and isinstance(variables, dict | None)
        and isinstance(operation, str | None)
        and isinstance(extensions, dict | None)
    ):
        return None
    return GraphQLRequestData(query, variables, operation, extensions)
