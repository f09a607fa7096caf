"""The cost limit: the most upstream calls a document can cause, and the most items its
answer can hold, counted before anything is sent.

Telnyx is hurt by fan-out, not by field counts, so a document's cost is the number of
Telnyx reads and writes it can cause in the worst case:

- a connection field costs the Telnyx pages its window spans (1 for a first page, up to 2
  after a cursor), times the number of parents it is asked for;
- any other field with a resolver (a lookup by id, a `messagingProfile` back-reference, a
  mutation) costs 1 per parent: Telnyx has no batch read, so the DataLoaders save calls
  only when ids repeat, which the worst case cannot assume;
- `edges` multiply what is below them by the window's `first` (its literal, else the
  variable's value, else the default page size);
- a field that reads a list argument's items one by one (federation's `_entities`, marked
  with `COST_PER_ITEM` in its metadata) costs 1 per item and holds that many items, and
  what is below it is counted once per item, for each of its fragments (an over-count:
  each item is of one type).

The cost depends on the variables, so it is counted per operation after validation (the
validation cache shares results between variable values) and charged to the request:
the operations of a batch share one budget. The count is remembered per parsed document,
under what the variables' values tell it (`schema.limits.sizes`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
)
from graphql.utilities import get_operation_ast, value_from_ast_untyped
from strawberry.types import ExecutionContext

from schema.api.paging import DEFAULT_FIRST, upstream_size
from schema.limits.sizes import Size as Size  # re-exported: `operation_size` answers one
from schema.limits.sizes import Sizes

# strawberry's back-reference from a graphql-core field to its own field definition.
_DEFINITION = "strawberry-definition"
# In a strawberry field's metadata: the list argument whose items the field reads one by one.
COST_PER_ITEM = "cost_per_item"


@functools.lru_cache(maxsize=8)
def resolved_fields(schema: GraphQLSchema) -> frozenset[tuple[str, str]]:
    """(type, field) of every field with a resolver: each one calls Telnyx."""
    found = set()
    for type_ in schema.type_map.values():
        if type_.name.startswith("__") or not isinstance(type_, GraphQLObjectType):
            continue
        for name, field in type_.fields.items():
            definition = field.extensions.get(_DEFINITION)
            if getattr(definition, "base_resolver", None) is not None:
                found.add((type_.name, name))
    return frozenset(found)


def _is_connection(type_: GraphQLNamedType) -> bool:
    return isinstance(type_, GraphQLObjectType) and {"edges", "pageInfo"} <= type_.fields.keys()


def window_reads(first: int, *, after: bool) -> int:
    """The most Telnyx pages a window of `first` items spans (see `paging.window`)."""
    first = max(first, 1)
    size = upstream_size(first)
    if not after:
        return -(-first // size)
    # From an unknown offset the window may straddle one more page boundary.
    return -(-(first - 1) // size) + 1


@dataclass(slots=True)
class CostBudget:
    """What one request may still spend, across the operations of a batch: upstream calls
    (`limit`) and items its answers may hold (`items_limit`)."""

    limit: int
    items_limit: int = 2_000
    spent: int = 0
    items: int = 0
    # The items of the operation sized last (the one about to run).
    last_items: int = 0


class _Counter:
    def __init__(
        self,
        schema: GraphQLSchema,
        resolved: frozenset[tuple[str, str]],
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        defaults: Mapping[str, ValueNode],
        max_first: int,
    ) -> None:
        self._schema = schema
        self._resolved = resolved
        self._fragments = fragments
        self._variables = variables
        self._defaults = defaults
        self._max_first = max_first
        # Items the answer can hold: every connection's `first`, once per parent.
        self.items = 0
        # The variables whose values the count read: the same whatever their values.
        self.read: set[str] = set()

    def _value(self, node: ValueNode | None) -> Any:
        if isinstance(node, VariableNode):
            name = node.name.value
            self.read.add(name)
            if name in self._variables:
                return self._variables[name]
            return self._value(self._defaults.get(name))
        return None if node is None else value_from_ast_untyped(node)

    def _argument(self, field: FieldNode, name: str) -> Any:
        for argument in field.arguments or ():
            if argument.name.value == name:
                return self._value(argument.value)
        return None

    def _per_item(self, field: FieldNode, definition: GraphQLField) -> int | None:
        """How many items a per-item field reads; None for any other field."""
        metadata = getattr(definition.extensions.get(_DEFINITION), "metadata", None) or {}
        argument = metadata.get(COST_PER_ITEM)
        if argument is None:
            return None
        items = self._argument(field, argument)
        # A single value where a list is expected is coerced to a list of one.
        return len(items) if isinstance(items, list) else 1

    def _first(self, field: FieldNode) -> int:
        value = self._argument(field, "first")
        if isinstance(value, int) and not isinstance(value, bool):
            # Over the maximum is refused by the resolver; the maximum bounds it anyway.
            return min(max(value, 0), self._max_first)
        return min(DEFAULT_FIRST, self._max_first)

    def _fields(
        self, type_: GraphQLNamedType, selection_set: SelectionSetNode | None, seen: frozenset[str]
    ) -> Iterator[tuple[GraphQLNamedType, FieldNode]]:
        if selection_set is None:
            return
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield type_, selection
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self._schema.get_type(condition.name.value) if condition else type_
                yield from self._fields(inner or type_, selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self._fragments.get(name)
                if fragment is None or name in seen:
                    continue
                inner = self._schema.get_type(fragment.type_condition.name.value)
                yield from self._fields(inner or type_, fragment.selection_set, seen | {name})

    def count(
        self,
        type_: GraphQLNamedType,
        selection_set: SelectionSetNode | None,
        parents: int,
        seen: frozenset[str] = frozenset(),
        *,
        per_edge: int | None = None,
    ) -> int:
        """The cost of a selection made once for each of `parents` objects of `type_`.

        `per_edge` is the window's `first` when `type_` is a connection.
        """
        total = 0
        for parent_type, field in self._fields(type_, selection_set, seen):
            name = field.name.value
            definition = (
                parent_type.fields.get(name) if isinstance(parent_type, GraphQLObjectType) else None
            )
            if definition is None:
                continue  # introspection (`__typename`), and a union's, costs nothing
            child = get_named_type(definition.type)
            many = parents * per_edge if per_edge is not None and name == "edges" else parents
            if _is_connection(child):
                first = self._first(field)
                after = self._argument(field, "after") is not None
                total += many * window_reads(first, after=after)
                self.items += many * first
                total += self.count(child, field.selection_set, many, seen, per_edge=first)
                continue
            if (parent_type.name, name) in self._resolved:
                read = self._per_item(field, definition)
                if read is not None:
                    many *= read
                    self.items += many  # each one is an item of the answer
                total += many
            total += self.count(child, field.selection_set, many, seen)
        return total


def operation_size(
    schema: GraphQLSchema,
    resolved: frozenset[tuple[str, str]],
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any] | None,
    *,
    max_first: int,
) -> Size:
    """The most upstream calls `operation` makes with these variables, and the most items
    (the edges of its connections, nested ones once per parent) its answer holds: the work
    of building the answer grows with those."""
    size, _ = _measure(schema, resolved, operation, fragments, variables, max_first=max_first)
    return size


def _measure(
    schema: GraphQLSchema,
    resolved: frozenset[tuple[str, str]],
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any] | None,
    *,
    max_first: int,
) -> tuple[Size, frozenset[str]]:
    """`operation_size`, and the names of the variables it read."""
    defaults = {
        definition.variable.name.value: definition.default_value
        for definition in operation.variable_definitions or ()
        if definition.default_value is not None
    }
    counter = _Counter(schema, resolved, fragments, variables or {}, defaults, max_first)
    root = schema.get_root_type(operation.operation)
    calls = 0 if root is None else counter.count(root, operation.selection_set, 1)
    return Size(calls, counter.items), frozenset(counter.read)


def operation_cost(
    schema: GraphQLSchema,
    resolved: frozenset[tuple[str, str]],
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any] | None,
    *,
    max_first: int,
) -> int:
    """The worst-case number of upstream calls `operation` makes with these variables."""
    size = operation_size(schema, resolved, operation, fragments, variables, max_first=max_first)
    return size.calls


def charge(context: ExecutionContext, sizes: Sizes) -> GraphQLError | None:
    """Charge the operation's worst-case upstream calls and items to the request's budget
    (its `cost`: the limits, and what the request's earlier operations spent); the error
    that refuses it when they exceed the budget (nothing is charged then).

    Runs as part of validation, after the (cached) rules, so a refused document never
    reaches execution and nothing is sent upstream. The error has no path: the document is
    at fault, so it is `BAD_USER_INPUT` (`schema.api.errors`).
    """
    document = context.graphql_document
    if context.pre_execution_errors or document is None:
        return None
    operation = get_operation_ast(document, context.operation_name)
    if operation is None:  # several operations and no name: execution says so
        return None
    request = context.context  # the gateway's `Context`
    budget: CostBudget = request.cost
    schema = context.schema._schema
    max_first: int = request.max_page_size

    def measure() -> tuple[Size, frozenset[str]]:
        fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        resolved = resolved_fields(schema)
        variables = context.variables
        return _measure(schema, resolved, operation, fragments, variables, max_first=max_first)

    size = sizes.size(
        document,
        context.operation_name,
        context.variables,
        max_first=max_first,
        measure=measure,
    )
    calls, items = budget.spent + size.calls, budget.items + size.items
    if calls > budget.limit:
        message = (
            f"This request could make up to {calls} upstream calls; the limit is {budget.limit}."
        )
    elif items > budget.items_limit:
        message = (
            f"This request could return up to {items} items; the limit is {budget.items_limit}."
        )
    else:
        budget.spent, budget.items, budget.last_items = calls, items, size.items
        return None
    return GraphQLError(message)
