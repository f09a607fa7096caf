"""Speed-ups that reach into libraries' internals, all behind one switch.

`GATEWAY_SPEEDUPS=false` turns every one of them off, and the libraries' own code paths
run instead; the GraphQL and tracing test suites run both ways, so a library upgrade that
breaks a speed-up fails loudly and the switch keeps the gateway serving meanwhile. Each is
kept only while `make bench` shows it pays (figures in `bench/README.md`):

- `execution`: graphql-core's executor reads plain scalar fields directly (it overrides
  `ExecutionContext.execute_field` and reads strawberry's marker of default resolvers), and
  holds itself weakly in its resolvers' async helpers, so a request leaves no cycle;
- `lookahead`: a page of profiles loads its nested lists' pages itself, so the nested
  connections complete without coroutines;
- `body`: one JSON operation is read without strawberry's request parser;
- `stages`: an operation's extension hooks found once per class, not searched for at each
  of its four steps;
- the OTLP span encoder in `gateway.otlp` and the span recorder in `gateway.spans`
  (switched by the same setting in `gateway.telemetry`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.requests import Request
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.http import GraphQLRequestData
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionContext

from schema.api.context import Info
from schema.speedups.body import read_operation
from schema.speedups.execution import Execution
from schema.speedups.lookahead import read_nested_ahead
from schema.speedups.stages import runner

Runner = Callable[[ExecutionContext, list[SchemaExtension]], SchemaExtensionsRunner]


@dataclass(frozen=True, slots=True)
class Speedups:
    """The speed-ups in use; None (or the library's own) where one is off."""

    execution_context_class: type[StrawberryGraphQLCoreExecutionContext] | None
    read_ahead: Callable[[Info, Sequence[str]], Awaitable[None]] | None
    read_operation: Callable[[Request], Awaitable[GraphQLRequestData | None]] | None
    extensions_runner: Runner | None


ON = Speedups(Execution, read_nested_ahead, read_operation, runner)
OFF = Speedups(None, None, None, None)


def speedups(enabled: bool) -> Speedups:
    return ON if enabled else OFF
