"""The GatewayError tree translated into GraphQL errors: this face's one error edge.

Every error leaves with ``extensions.code`` from the closed set below. A document
that fails to parse or validate is the caller's input, so it is ``BAD_USER_INPUT``. Telnyx
refusing the tenant's own key (401/403) is ``FORBIDDEN``: the caller is authenticated
with the gateway, but the tenant's Telnyx account refuses the action and the caller cannot
fix that by retrying or by changing their token. Anything unexpected is masked as
``INTERNAL_SERVER_ERROR`` and logged with its type only.
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType
from strawberry.utils.str_converters import to_camel_case

from gateway.errors import (
    AuthenticationError,
    BadInputError,
    ErrorDetail,
    GatewayError,
    RateLimitedError,
    UpstreamAuthError,
    UpstreamError,
    UpstreamRateLimitedError,
    UpstreamRejectedError,
    UpstreamUnavailableError,
)

logger = logging.getLogger(__name__)

UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
BAD_USER_INPUT = "BAD_USER_INPUT"
NOT_FOUND = "NOT_FOUND"
RATE_LIMITED = "RATE_LIMITED"
UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"
UPSTREAM_ERROR = "UPSTREAM_ERROR"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"

INTERNAL_MESSAGE = "Internal server error."
FORBIDDEN_MESSAGE = (
    "Telnyx refused this tenant's credentials for the operation; "
    "the gateway operators must check the tenant's Telnyx key."
)


def field_path(path: tuple[str | int, ...]) -> str:
    """`("input", "whitelisted_destinations", 0)` -> `"input.whitelistedDestinations.0"`."""
    return ".".join(to_camel_case(part) if isinstance(part, str) else str(part) for part in path)


def pointer_path(pointer: str | None, root: str | None) -> str | None:
    """A Telnyx body pointer (`/whitelisted_destinations/0`) as a path in the input."""
    if not pointer or root is None:
        return None
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.strip("/").split("/") if p]
    if not parts:
        return None
    return field_path((root, *(int(p) if p.isdigit() else p for p in parts)))


def _telnyx(detail: ErrorDetail) -> dict[str, Any]:
    return {"code": detail.code, "title": detail.title, "detail": detail.detail}


def _upstream_code(exc: UpstreamError) -> str:
    if isinstance(exc, UpstreamUnavailableError):
        return UPSTREAM_UNAVAILABLE
    if isinstance(exc, UpstreamRateLimitedError):
        return RATE_LIMITED
    if isinstance(exc, UpstreamAuthError):
        return FORBIDDEN
    if isinstance(exc, UpstreamRejectedError):
        return NOT_FOUND if exc.status == 404 else BAD_USER_INPUT
    return UPSTREAM_ERROR


def describe(exc: BaseException, *, input_root: str | None) -> list[tuple[str, dict[str, Any]]]:
    """(message, extensions) of each GraphQL error one exception becomes.

    `input_root` names the argument Telnyx's body pointers point into (`input` for the
    mutations), or None when the operation sent no body.
    """
    if isinstance(exc, BadInputError):
        return [
            (
                f"{field_path(p.path)}: {p.message}" if p.path else p.message,
                {"code": BAD_USER_INPUT, "field": field_path(p.path)}
                if p.path
                else {"code": BAD_USER_INPUT},
            )
            for p in exc.problems
        ] or [(exc.message, {"code": BAD_USER_INPUT})]
    if isinstance(exc, AuthenticationError):
        return [(exc.message, {"code": UNAUTHENTICATED})]
    if isinstance(exc, RateLimitedError):
        return [(exc.message, {"code": RATE_LIMITED, "retryAfter": exc.retry_after})]
    if isinstance(exc, UpstreamError):
        code = _upstream_code(exc)
        base: dict[str, Any] = {"code": code}
        if code in (RATE_LIMITED, UPSTREAM_UNAVAILABLE) and exc.retry_after is not None:
            base["retryAfter"] = exc.retry_after
        message = FORBIDDEN_MESSAGE if code == FORBIDDEN else None
        if not exc.errors:
            return [(message or exc.message, base)]
        described = []
        for detail in exc.errors:
            extensions = {**base, "telnyx": _telnyx(detail)}
            field = pointer_path(detail.pointer, input_root)
            if field is not None:
                extensions["field"] = field
            text = f"{detail.title}: {detail.detail}" if detail.detail else detail.title
            described.append((message or text, extensions))
        return described
    return [(INTERNAL_MESSAGE, {"code": INTERNAL_SERVER_ERROR})]


def translate(error: GraphQLError, *, mutation: bool) -> list[GraphQLError]:
    """The gateway's errors for one error; `mutation` when the operation is a mutation."""
    if error.extensions and "code" in error.extensions:
        return [error]  # already translated
    original = error.original_error
    if original is None or (error.path is None and isinstance(original, GraphQLError)):
        # Without a path it is the document's fault (syntax, validation, variables: a
        # variable's value that does not coerce carries graphql-core's own error);
        # with one, graphql-core failed to serialise our own value.
        described = (
            [(error.message, {"code": BAD_USER_INPUT})]
            if error.path is None
            else [(INTERNAL_MESSAGE, {"code": INTERNAL_SERVER_ERROR})]
        )
    else:
        # Only a mutation field itself sends a body that Telnyx's pointers point into.
        top_level = mutation and error.path is not None and len(error.path) == 1
        described = describe(original, input_root="input" if top_level else None)
    return [
        GraphQLError(
            message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions=extensions,
        )
        for message, extensions in described
    ]


def log_unexpected(errors: list[GraphQLError]) -> None:
    """Log the errors that will be masked: their type and where, never their message."""
    for error in errors:
        original = error.original_error
        if original is None or isinstance(original, GatewayError):
            continue
        if error.path is None and isinstance(original, GraphQLError):
            continue  # a variable's value that does not coerce: the caller's input
        logger.error(
            "unexpected %s while resolving %s",
            type(original).__name__,
            ".".join(str(part) for part in error.path or ()) or "the operation",
        )


def translate_result(context: ExecutionContext) -> None:
    """Rewrite every error of the operation's result into the gateway's GraphQL error
    shape."""
    result = context.result
    errors: list[GraphQLError] | None = getattr(result, "errors", None)
    if not errors:
        return
    try:
        mutation = context.operation_type is OperationType.MUTATION
    except RuntimeError:  # no document: it did not parse
        mutation = False
    # A new list: the validation cache shares its error lists between requests.
    result.errors = [out for error in errors for out in translate(error, mutation=mutation)]  # type: ignore[union-attr]
