"""Schema extensions of our own: an operation span, and the cache report in `extensions`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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
        with self._tracer.start_as_current_span(
            "graphql.operation", kind=trace.SpanKind.INTERNAL
        ) as span:
            yield
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
