"""graphql-core's executor with a short path for plain fields and plain subtrees.

Most of a response is attributes read off objects and serialised: `name`, `createdAt`,
and whole subtrees of them (a page's `edges`, each `node`, its `features` and `health`).
strawberry gives such a field (no resolver, no field extension, no permission) a resolver
that reads the attribute without an `Info`; but graphql-core still builds a resolve info,
calls through the middleware manager, tests the result for awaitability and walks
`complete_value`, `complete_object_value` and `execute_fields` for every one of them: most
of a large answer's cost. Here a plain field is completed directly: a leaf is read and
serialised; an object or list of objects whose whole selection is plain is completed by a
plan compiled once per selection (`collect_subfields` still does the collecting, so
fragments, aliases, `@skip` and `@include` are graphql-core's).

Whatever this path does not handle plainly (a null in a non-null position, a value a scalar
refuses, a field with a resolver in the subtree, `@defer` or `@stream`, a type with
`is_type_of`, any error) is handed back to graphql-core, which completes the field from
the start and reports it as before: the values are attributes, so reading them twice
changes nothing. It is off when an extension wraps resolvers (strawberry then installs
middleware). The methods overridden are graphql-core's internals (pinned via strawberry).

graphql-core's executor also keeps its resolvers' async helpers as its own bound methods,
and it holds the request's context: every request was a cycle of executor, context,
loaders and pages that only the cyclic garbage collector freed, which then took a fifth
of a cold nested page's CPU. Here the helpers hold the executor weakly.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from graphql import (
    GraphQLEnumType,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfoHelpers,
    GraphQLScalarType,
    GraphQLSchema,
    Undefined,
    get_nullable_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema.limits.turns import Turns

# strawberry's back-reference from a graphql-core field to its own field definition.
_DEFINITION = "strawberry-definition"


@dataclass(frozen=True, slots=True)
class Plain:
    """A field whose value is an attribute of its source, and how to complete it: a leaf
    type, or an object type, either alone or as the items of a list."""

    attribute: str
    non_null: bool
    leaf: GraphQLLeafType | None
    object_type: GraphQLObjectType | None
    is_list: bool = False
    item_non_null: bool = False


# (object type, field) -> how to complete it
Plains = dict[tuple[str, str], Plain]
# A compiled selection: (response name, field, the selection of its objects or None).
Step = tuple[str, Plain | None, Any]
_TYPENAME = "__typename"
# Lists longer than this are completed in the request's turn once its slice is used.
LONG_LIST = 20
Leaf = GraphQLLeafType


class _BailError(Exception):
    """Not plain after all: graphql-core completes the field."""


def _plain(field_type: Any, attribute: str) -> Plain | None:
    non_null = isinstance(field_type, GraphQLNonNull)
    inner: Any = get_nullable_type(field_type)
    is_list = isinstance(inner, GraphQLList)
    item_non_null = is_list and isinstance(inner.of_type, GraphQLNonNull)
    if is_list:
        inner = get_nullable_type(inner.of_type)
    if isinstance(inner, GraphQLScalarType | GraphQLEnumType):
        return Plain(attribute, non_null, inner, None, is_list, item_non_null)
    if isinstance(inner, GraphQLObjectType):
        return Plain(attribute, non_null, None, inner, is_list, item_non_null)
    return None


@functools.lru_cache(maxsize=8)
def plain_fields(schema: GraphQLSchema) -> Plains:
    """The fields whose value is an attribute of the source, by (type, field)."""
    found: Plains = {}
    for type_ in schema.type_map.values():
        if type_.name.startswith("__") or not isinstance(type_, GraphQLObjectType):
            continue
        for name, field in type_.fields.items():
            definition = field.extensions.get(_DEFINITION)
            if (
                definition is None
                # strawberry marks its resolver of a field without resolver or extensions.
                or not getattr(field.resolve, "_is_default", False)
                or definition.default_resolver is not getattr
            ):
                continue
            plain = _plain(field.type, definition.python_name)
            if plain is not None:
                found[(type_.name, name)] = plain
    return found


def _leaf(type_: GraphQLLeafType, value: Any) -> Any:
    coerced = type_.coerce_output_value(value)
    if coerced is None or coerced is Undefined:
        raise _BailError
    return coerced


def _gather(values: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
    return gather_with_cancel(*values)


def _track(executor: weakref.ref[Execution], values: Sequence[Any]) -> None:
    live = executor()
    if live is not None:
        live.track_async_work(values)


class Execution(StrawberryGraphQLCoreExecutionContext):
    """The executor of every operation (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        middleware = self.middleware_manager
        self._plains: Plains = (
            {} if middleware is not None and middleware.middlewares else plain_fields(self.schema)
        )
        # Compiled selections, by (type, identity of the field group), keeping the group
        # alive so that its id is not reused (as graphql-core's own subfield memo does).
        self._plans: dict[tuple[str, int], tuple[FieldDetailsList, tuple[Step, ...] | None]] = {}
        self._turns: Turns | None = getattr(self.context_value, "turns", None)
        self.async_helpers = GraphQLResolveInfoHelpers(
            gather=_gather, track=functools.partial(_track, weakref.ref(self))
        )

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        plain = self._plains.get((parent_type.name, field_details_list[0].node.name.value))
        if plain is not None:
            try:
                plan = (
                    None
                    if plain.object_type is None
                    else self._plan(plain.object_type, field_details_list)
                )
                if plain.object_type is None or plan is not None:
                    value = getattr(source, plain.attribute)
                    turns = self._turns
                    if (
                        plan is not None
                        and turns is not None
                        and isinstance(value, list)
                        and len(value) > LONG_LIST
                        and turns.building
                        and turns.due()
                    ):
                        return self._complete_in_turn(
                            turns,
                            (plain, plan, value),
                            (parent_type, source, field_details_list, path, position_context),
                        )
                    return self._complete(plain, plan, value)
            except Exception:  # noqa: BLE001, S110  -- reported by the full path below
                pass
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

    async def _complete_in_turn(
        self,
        turns: Turns,
        plainly: tuple[Plain, tuple[Step, ...], list[Any]],
        field: tuple[GraphQLObjectType, Any, FieldDetailsList, Path, Any],
    ) -> Any:
        """A long list of a request past its slice, completed in its turn: other requests
        run in between (`schema.limits.turns`). `field` is `execute_field`'s arguments."""
        plain, plan, value = plainly
        items: list[Any] = []
        try:
            for start in range(0, len(value), LONG_LIST):
                async with turns.turn():
                    chunk = value[start : start + LONG_LIST]
                    items.extend(self._complete(plain, plan, chunk))
        except Exception:  # noqa: BLE001  -- reported by the full path below
            async with turns.turn():
                completed = super().execute_field(*field)
            return await completed if self.is_awaitable(completed) else completed
        return items

    def _plan(
        self, type_: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> tuple[Step, ...] | None:
        """The compiled selection of `type_` under these fields; None when not plain."""
        key = (type_.name, id(field_details_list))
        cached = self._plans.get(key)
        if cached is not None:
            return cached[1]
        plan = self._compile(type_, field_details_list)
        self._plans[key] = (field_details_list, plan)
        return plan

    def _compile(
        self, type_: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> tuple[Step, ...] | None:
        if type_.is_type_of is not None:
            return None
        grouped, defer_usages, _ = self.collect_subfields(type_, field_details_list)
        if defer_usages:
            return None
        steps: list[Step] = []
        for response_name, details in grouped.items():
            name = details[0].node.name.value
            if name == _TYPENAME:
                steps.append((response_name, None, type_.name))
                continue
            plain = self._plains.get((type_.name, name))
            if plain is None or any(
                directive.name.value == "stream"
                for field in details
                for directive in field.node.directives or ()
            ):
                return None
            sub = None
            if plain.object_type is not None:
                sub = self._plan(plain.object_type, details)
                if sub is None:
                    return None
            steps.append((response_name, plain, sub))
        return tuple(steps)

    def _complete(self, plain: Plain, plan: tuple[Step, ...] | None, value: Any) -> Any:
        if value is None:
            if plain.non_null:
                raise _BailError
            return None
        if not plain.is_list:
            return (
                self._run(plan, value) if plan is not None else _leaf(cast(Leaf, plain.leaf), value)
            )
        if not isinstance(value, list | tuple):
            raise _BailError
        items: list[Any] = []
        for item in value:
            if item is None:
                if plain.item_non_null:
                    raise _BailError
                items.append(None)
            elif plan is not None:
                items.append(self._run(plan, item))
            else:
                items.append(_leaf(cast(Leaf, plain.leaf), item))
        return items

    def _run(self, plan: tuple[Step, ...], source: Any) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for response_name, plain, sub in plan:
            if plain is None:
                result[response_name] = sub  # __typename
            else:
                result[response_name] = self._complete(plain, sub, getattr(source, plain.attribute))
        return result
