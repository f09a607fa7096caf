"""What a page of profiles' selection asks of each profile's nested lists, read off the
query before the page is resolved (strawberry's public `info.selected_fields`).

It sees only what is plain: fields under `@include` or `@skip` (whether they run is the
executor's to decide) and arguments the window refuses are left out, and their resolvers
read (and report) them as usual.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from gateway.errors import BadInputError
from schema.api.context import Info
from schema.api.nested import NESTED, Nested
from schema.api.paging import Window, window


@dataclass(frozen=True, slots=True)
class Asked:
    """One nested list the selection asks each profile for, and its window."""

    nested: Nested[Any]
    window: Window


def _fields(selections: Sequence[Selection]) -> Iterator[SelectedField]:
    """The fields of a selection set, through fragments; none under a directive."""
    for selection in selections:
        if selection.directives:
            continue
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, FragmentSpread | InlineFragment):
            yield from _fields(selection.selections)


def _children(fields: Sequence[SelectedField], name: str) -> list[SelectedField]:
    return [child for field in fields for child in _fields(field.selections) if child.name == name]


def _first(value: Any) -> Any:
    # strawberry hands an integer literal over as its text; a variable comes coerced.
    return int(value) if isinstance(value, str) and value.isdigit() else value


def nested_asked(info: Info) -> list[Asked]:
    """The nested lists a profiles connection's selection asks of every profile."""
    max_first = info.context.max_page_size
    nodes = _children(_children(list(_fields(info.selected_fields)), "edges"), "node")
    asked = []
    for field in (child for node in nodes for child in _fields(node.selections)):
        nested = NESTED.get(field.name)
        if nested is None:
            continue
        first, after = _first(field.arguments.get("first")), field.arguments.get("after")
        if not isinstance(first, int | None) or not isinstance(after, str | None):
            continue
        try:
            asked.append(Asked(nested, window(nested.kind, first, after, max_first=max_first)))
        except BadInputError:
            continue  # the field reports it
    return asked
