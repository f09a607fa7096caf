"""The one schema extension: every step the gateway adds to an operation, in order.

strawberry calls each extension's hooks at each step of every operation (parse, validate,
execute, the operation around them), and that bookkeeping costs about as much per
extension as the work most of ours do: nine extensions cost a cold `messagingProfile(id)`
about 0.25 ms of CPU (`bench/README.md`). So the gateway's steps are one extension,
`Operation`, which calls each concern's code (`schema.limits`, `schema.api.errors`) in
the order they used to run:

- around the operation: a span (the document's text never recorded: literals in it may
  hold the caller's data), the token limit and the extra validation rules set before
  parsing; on the way out, errors translated into the gateway's shape, then a heavy
  document's lane given back, then the span finished;
- parsing and validation through bounded LRU caches (one per schema; validation's keyed
  by the parsed document's identity);
- after validation: the cost limit (its counts remembered per document, as validation's),
  then a lane for a heavy document;
- at execution: the operation's type noted on the context (only queries are kept whole);
- `extensions.cache` in the result: whether the data came from the cache, and whether any
  was stale.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    parse,
)
from opentelemetry import trace
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from schema.api.context import Context
from schema.api.errors import translate_result
from schema.limits.cost import charge
from schema.limits.sizes import Sizes
from schema.limits.turns import Held, Lanes

# As many documents as strawberry's own parser and validation caches keep: each parsed
# document is bounded by the token limit.
CACHED_DOCUMENTS = 128

Rules = tuple[type[ASTValidationRule], ...]


@dataclass(frozen=True)
class Steps:
    """What `Operation` needs, built once per schema: limits, rules, caches, the tracer."""

    tracer: trace.Tracer
    max_tokens: int
    rules: tuple[type[ASTValidationRule], ...]
    lanes: Lanes | None
    parse: Callable[..., DocumentNode]
    validate: Validations
    sizes: Sizes

    @classmethod
    def build(
        cls,
        tracer: trace.Tracer,
        *,
        max_tokens: int,
        rules: tuple[type[ASTValidationRule], ...],
        lanes: Lanes | None,
    ) -> Steps:
        return cls(
            tracer,
            max_tokens,
            rules,
            lanes,
            functools.lru_cache(maxsize=CACHED_DOCUMENTS)(parse),
            Validations(CACHED_DOCUMENTS),
            Sizes(CACHED_DOCUMENTS),
        )


class Validations:
    """`validate_document`'s results, remembered by document object for the last `size`.

    The parse cache hands back one object for one text, so the object identifies it; an LRU
    cache keyed by the document hashes it, and graphql-core hashes the whole tree each time
    (20 us for a 12-field query, 40 us for the nested page). Each entry keeps its document,
    so an id is never taken for another document's."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._kept: OrderedDict[int, tuple[GraphQLSchema, DocumentNode, Rules, list[GraphQLError]]]
        self._kept = OrderedDict()

    def __call__(
        self, schema: GraphQLSchema, document: DocumentNode, rules: Rules
    ) -> list[GraphQLError]:
        key = id(document)
        kept = self._kept.get(key)
        if kept is not None and kept[0] is schema and kept[1] is document and kept[2] == rules:
            self._kept.move_to_end(key)
            return kept[3]
        errors = validate_document(schema, document, rules)
        self._kept[key] = (schema, document, rules, errors)
        self._kept.move_to_end(key)
        if len(self._kept) > self._size:
            self._kept.popitem(last=False)
        return errors


class Operation(SchemaExtension):
    """The gateway's steps for one operation (made per operation, from `steps`)."""

    def __init__(self, steps: Steps) -> None:
        self._steps = steps
        self._held: Held | None = None

    def on_operation(self) -> Iterator[None]:
        steps = self._steps
        context = self.execution_context
        context.parse_options["max_tokens"] = steps.max_tokens
        context.validation_rules = context.validation_rules + steps.rules
        # Exceptions are not recorded as the SDK would: a GraphQL error's text quotes the
        # document (a syntax error prints the line it is on), and documents hold data.
        with steps.tracer.start_as_current_span(
            "graphql.operation",
            kind=trace.SpanKind.INTERNAL,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                try:
                    yield
                finally:
                    if self._held is not None:
                        self._held.release()
                        self._held = None
            except GraphQLError as exc:
                _record_document_error(span, exc)
                raise
            translate_result(context)
            _finish(span, context)

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        context.graphql_document = self._steps.parse(context.query, **context.parse_options)
        yield

    async def on_validate(self) -> AsyncIterator[None]:
        steps = self._steps
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            context.pre_execution_errors = steps.validate(
                context.schema._schema, document, context.validation_rules
            )
        refused = charge(context, steps.sizes)
        if refused is None and steps.lanes is not None:
            self._held, refused = await steps.lanes.admit(context)
        if refused is not None:
            context.pre_execution_errors = [refused]
        yield

    def on_execute(self) -> Iterator[None]:
        request = self.execution_context.context
        if isinstance(request, Context):
            # Known here: execution starts only once the document parsed and validated.
            request.operation_type = self.execution_context.operation_type
        yield

    def get_results(self) -> dict[str, Any]:
        request = self.execution_context.context
        if not isinstance(request, Context):
            return {}
        caller = request.caller
        return {"cache": {"cached": caller.cached, "stale": caller.stale}}


def _finish(span: trace.Span, context: Any) -> None:
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
