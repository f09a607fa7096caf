"""The speed-ups' extension runner runs an extension's hooks as strawberry's runner does:
the same steps in the same order, the same exceptions reaching them, the same results."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext

from gateway.config import Settings
from schema.build import build_schema
from schema.speedups import ON
from schema.speedups.stages import Stages, runner


class Recording(SchemaExtension):
    """Notes each step's entry and exit, and what reached the operation's hook."""

    def __init__(self, log: list[str], *, fail_in: str | None = None) -> None:
        self.log = log
        self.fail_in = fail_in

    def on_operation(self) -> Iterator[None]:
        self.log.append("operation")
        try:
            yield
        except Exception as exc:
            self.log.append(f"operation saw {type(exc).__name__}: {exc}")
            raise
        self.log.append("operation done")

    def on_parse(self) -> Iterator[None]:
        self.log.append("parse")
        yield
        self.log.append("parse done")

    async def on_validate(self) -> AsyncIterator[None]:
        self.log.append("validate")
        if self.fail_in == "validate":
            raise RuntimeError("refused in validation")
        yield
        self.log.append("validate done")

    def on_execute(self) -> Iterator[None]:
        self.log.append("execute")
        yield
        if self.fail_in == "execute":
            raise RuntimeError("refused after execution")
        self.log.append("execute done")

    def get_results(self) -> dict[str, Any]:
        return {"steps": len(self.log)}


class Callable_(SchemaExtension):  # noqa: N801  -- a hook that is a plain method
    def on_operation(self) -> None:  # type: ignore[override]
        return None


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "world"

    @strawberry.field
    def broken(self) -> str:
        raise ValueError("resolver failed")


class Lean(strawberry.Schema):
    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        return runner(execution_context, extensions)


async def run_both(query: str, fail_in: str | None = None) -> tuple[Any, Any]:
    """(log, errors, data, extensions) under strawberry's runner, then under `Stages`."""
    outcomes = []
    for kind in (strawberry.Schema, Lean):
        log: list[str] = []
        schema = kind(query=Query, extensions=[functools.partial(Recording, log, fail_in=fail_in)])
        result = await schema.execute(query)
        errors = [error.message for error in result.errors or ()]
        outcomes.append((log, errors, result.data, result.extensions))
    return outcomes[0], outcomes[1]


@pytest.mark.parametrize(
    ("query", "fail_in"),
    [
        ("{ hello }", None),
        ("{ broken }", None),
        ("{ hello", None),  # does not parse
        ("{ nothing }", None),  # does not validate
        ("{ hello }", "validate"),
        ("{ hello }", "execute"),
    ],
)
async def test_the_steps_run_as_under_strawberrys_runner(query: str, fail_in: str | None) -> None:
    strawberrys, ours = await run_both(query, fail_in)
    assert ours == strawberrys


async def test_an_answered_operation_runs_every_step_in_order() -> None:
    _, (log, errors, data, extensions) = await run_both("{ hello }")
    assert log == [
        "operation",
        "parse",
        "parse done",
        "validate",
        "validate done",
        "execute",
        "execute done",
        "operation done",
    ]
    assert (errors, data, extensions) == ([], {"hello": "world"}, {"steps": 8})


async def test_an_exception_in_a_step_reaches_the_operations_hook() -> None:
    _, (log, errors, data, _) = await run_both("{ hello }", "execute")
    assert log[-1] == "operation saw RuntimeError: refused after execution"
    assert (errors, data) == (["refused after execution"], None)


def test_one_extension_of_generator_hooks_gets_the_lean_runner() -> None:
    context = ExecutionContext(
        query="{ hello }", schema=strawberry.Schema(query=Query), allowed_operations=()
    )
    assert type(runner(context, [Recording([])])) is Stages


@pytest.mark.parametrize(
    "extensions",
    [
        [],
        [Recording([]), Recording([])],
        [Callable_()],
    ],
    ids=["none", "two", "a plain hook"],
)
def test_any_other_operation_gets_strawberrys_runner(extensions: list[SchemaExtension]) -> None:
    context = ExecutionContext(
        query="{ hello }", schema=strawberry.Schema(query=Query), allowed_operations=()
    )
    assert type(runner(context, extensions)) is SchemaExtensionsRunner


def test_the_gateways_schema_uses_it_when_the_speedups_are_on() -> None:
    settings = Settings(demo=True, otel_sdk_disabled=True)
    on = build_schema(settings, speedups=ON)
    off = build_schema(settings)
    context = ExecutionContext(query="{ __typename }", schema=on, allowed_operations=())
    assert type(on.create_extensions_runner(context, on.get_extensions())) is Stages
    assert type(off.create_extensions_runner(context, off.get_extensions())) is (
        SchemaExtensionsRunner
    )
