"""Schema extensions of our own: an operation span, and the cache report in `extensions`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from opentelemetry import trace
from strawberry.extensions import SchemaExtension

from schema.api.context import Context


class OperationSpan(SchemaExtension):
    """One span per GraphQL operation, parent of the upstream calls it makes.

    The query text is not recorded: literals in it may hold the caller's data.
    """

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def on_operation(self) -> Iterator[None]:
        # Exceptions are not recorded as the SDK would: a GraphQL error's text quotes the
        # document (a syntax error prints the line it is on), and documents hold data.
        with self._tracer.start_as_current_span(
            "graphql.operation",
            kind=trace.SpanKind.INTERNAL,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield
            except GraphQLError as exc:
                _record_document_error(span, exc)
                raise
            context = self.execution_context
            try:
                kind = context.operation_type.value
            except RuntimeError:  # the document did not parse
                kind = None
            name = context.operation_name
            if kind is not None:
                span.set_attribute("graphql.operation.type", kind)
                span.update_name(f"{kind} {name}" if name else kind)
            if name:
                span.set_attribute("graphql.operation.name", name)
            errors = getattr(context.result, "errors", None) or ()
            span.set_attribute("graphql.errors", len(errors))
            document_errors = [error for error in errors if error.path is None]
            if document_errors:
                _record_document_error(span, document_errors[0])


def _record_document_error(span: trace.Span, error: GraphQLError) -> None:
    """The kind of a document's error and where it is, never its message: a syntax error's
    message names the token it stumbled on, and any token may be the caller's data."""
    kind = (
        "GraphQLSyntaxError"
        if isinstance(error.original_error or error, GraphQLSyntaxError)
        else "GraphQLValidationError"
    )
    span.set_attribute("error.type", kind)
    where = ""
    if error.locations:
        line, column = error.locations[0].line, error.locations[0].column
        span.set_attributes({"graphql.error.line": line, "graphql.error.column": column})
        where = f" at {line}:{column}"
    span.set_status(trace.StatusCode.ERROR, f"{kind}{where}")


class CacheReport(SchemaExtension):
    """`extensions.cache`: whether the data came from the cache, and whether any was stale.

    It also notes the operation's type on the context: only queries' responses are kept.
    """

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context):
            # Known here: execution starts only once the document parsed and validated.
            context.operation_type = self.execution_context.operation_type
        yield

    def get_results(self) -> dict[str, Any]:
        context = self.execution_context.context
        if not isinstance(context, Context):
            return {}
        caller = context.caller
        return {"cache": {"cached": caller.cached, "stale": caller.stale}}
