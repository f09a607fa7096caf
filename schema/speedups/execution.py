"""graphql-core's executor with a short path for plain scalar fields.

Most fields of a response are attributes read off an object and serialised: `name`,
`createdAt`, `phoneNumber`. strawberry gives such a field (no resolver, no field
extension, no permission) a resolver that reads the attribute without an `Info`; but
graphql-core still builds a resolve info, calls through the middleware manager, tests
the result for awaitability twice and walks `complete_value` for each of them: a large
share of a large response's cost. Here such a field is read and serialised directly.

Whatever this path does not handle plainly (a null in a non-null field, a value the
scalar refuses, an error) is handed back to graphql-core, which reports it as before;
it is off when an extension wraps resolvers (strawberry then installs middleware).
The methods overridden are graphql-core's internals (pinned through strawberry).
"""

from __future__ import annotations

import functools
from typing import Any

from graphql import (
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    Undefined,
    get_nullable_type,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

# strawberry's back-reference from a graphql-core field to its own field definition.
_DEFINITION = "strawberry-definition"

# (object type, field) -> (attribute, scalar or enum, non-null)
Leaves = dict[tuple[str, str], tuple[str, GraphQLLeafType, bool]]


@functools.lru_cache(maxsize=8)
def plain_leaves(schema: GraphQLSchema) -> Leaves:
    """The fields whose value is an attribute of the source, serialised by a leaf type."""
    found: Leaves = {}
    for type_ in schema.type_map.values():
        if type_.name.startswith("__") or not isinstance(type_, GraphQLObjectType):
            continue
        for name, field in type_.fields.items():
            definition = field.extensions.get(_DEFINITION)
            leaf = get_nullable_type(field.type)
            if (
                definition is None
                # strawberry marks its resolver of a field without resolver or extensions.
                or not getattr(field.resolve, "_is_default", False)
                or definition.default_resolver is not getattr
                or not is_leaf_type(leaf)
            ):
                continue
            non_null = isinstance(field.type, GraphQLNonNull)
            found[(type_.name, name)] = (definition.python_name, leaf, non_null)
    return found


class Execution(StrawberryGraphQLCoreExecutionContext):
    """The executor of every operation (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        middleware = self.middleware_manager
        self._leaves: Leaves = (
            {} if middleware is not None and middleware.middlewares else plain_leaves(self.schema)
        )

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        leaf = self._leaves.get((parent_type.name, field_details_list[0].node.name.value))
        if leaf is not None:
            attribute, type_, non_null = leaf
            try:
                value = getattr(source, attribute)
                if value is None:
                    if not non_null:
                        return None
                else:
                    coerced = type_.coerce_output_value(value)
                    if coerced is not None and coerced is not Undefined:
                        return coerced
            except Exception:  # noqa: BLE001, S110  -- reported by the full path below
                pass
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )
