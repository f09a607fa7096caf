"""`build_schema` and `sdl`: the schema, its limits and caches, assembled once."""

from __future__ import annotations

from typing import TYPE_CHECKING

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from opentelemetry import trace
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from schema.api.errors import log_unexpected
from schema.api.mutation import Mutation
from schema.api.query import Query
from schema.extensions import Operation, Steps
from schema.federation import SCALARS, federated_query, subgraph_sdl
from schema.limits.turns import Lanes
from schema.speedups import OFF, Runner, Speedups

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from gateway.config import Settings


class GatewaySchema(strawberry.Schema):
    """A strawberry schema that logs unexpected errors by type, never by message, and runs
    its extensions with the speed-ups' runner when they are on."""

    extensions_runner: Runner | None = None

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        if self.extensions_runner is None:
            return super().create_extensions_runner(execution_context, extensions)
        return self.extensions_runner(execution_context, extensions)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_unexpected(errors)


def _schema(
    extensions: Sequence[Callable[[], SchemaExtension]] = (),
    config: StrawberryConfig | None = None,
    speedups: Speedups = OFF,
    query: type[Query] = Query,
) -> GatewaySchema:
    schema = GatewaySchema(
        query=query,
        mutation=Mutation,
        extensions=extensions,
        config=config,
        execution_context_class=speedups.execution_context_class,
    )
    schema.extensions_runner = speedups.extensions_runner
    return schema


def build_schema(
    settings: Settings,
    *,
    speedups: Speedups = OFF,
    lanes: Lanes | None = None,
    tracer_provider: trace.TracerProvider | None = None,
) -> strawberry.Schema:
    """The schema with the settings' limits, parser and validation caches, and error edge."""
    tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)
    # The rule classes are made once, here: the validation cache keys on them, so rules
    # made per request (as the limiter extensions do when used as factories) never hit it.
    rules = [
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
    ]
    if not settings.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    config = StrawberryConfig(
        # Suggestions ("Did you mean ...?") would reveal the schema introspection hides.
        disable_field_suggestions=not settings.introspection,
        batching_config={"max_operations": settings.max_batch_size}
        if settings.max_batch_size
        else None,
        scalar_map=SCALARS if settings.federation else {},
    )
    steps = Steps.build(
        tracer,
        max_tokens=settings.max_tokens,
        rules=tuple(rules),
        lanes=lanes,
    )
    # One extension, made per operation (`schema.extensions` says why and in what order).
    return _schema(
        [lambda: Operation(steps)],
        config,
        speedups,
        federated_query(sdl()) if settings.federation else Query,
    )


def sdl() -> str:
    """The SDL `schema/schema.graphql` holds (`make schema` writes it)."""
    return _schema().as_str() + "\n"


def federation_sdl() -> str:
    """The SDL of the federation subgraph (`GATEWAY_FEDERATION`), which `_service { sdl }`
    answers and `schema/subgraph.graphql` holds (`make schema` writes it)."""
    return subgraph_sdl(sdl())
