"""What an operation can cost at most (`Size`), remembered for the documents sent lately
(`Sizes`), so that the cost limit (`schema.limits.cost`) walks a document once, not on
every request.

The walk visits the same fields and reads the same variables whatever their values: the
values only multiply. It tells a variable's value apart only as: an int (`first`, bounded
by the largest page), null or not (`after`), a list's length (a per-item argument), or
anything else; and an absent variable takes the operation's default. So a size is kept
under each read variable's value reduced to that, never under the value itself: cursors
and ids are the caller's data.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode

# As many documents as the parse and validation caches keep (`schema.extensions`).
DOCUMENTS = 128
# Per document: a few page sizes, each with and without a cursor.
VALUES = 8

_ABSENT = ("absent",)
_OTHER = ("other",)


@dataclass(frozen=True, slots=True)
class Size:
    """What an operation can cost at most: upstream calls, and items in its answer."""

    calls: int
    items: int


# What `Sizes` needs when it has no size: the size, and the names of the variables read.
Measure = Callable[[], tuple[Size, frozenset[str]]]


def _reduced(value: Any, max_first: int) -> Hashable:
    """`value` as far as the walk can tell it apart (see the module's docstring)."""
    if isinstance(value, int) and not isinstance(value, bool):
        # The walk bounds `first` so: past the bounds, every int counts the same.
        return min(max(value, 0), max_first)
    if value is None:
        return None
    if isinstance(value, list):
        return ("list", len(value))
    return _OTHER


@dataclass(slots=True)
class _Document:
    # Kept alive, so no other document has its id while it is remembered.
    document: DocumentNode
    # The names of the variables each operation (by its name) reads.
    reads: dict[str | None, tuple[str, ...]]
    sizes: OrderedDict[Hashable, Size]


class Sizes:
    """One schema's operations' sizes (each schema's steps keep their own), remembered by
    document object for the last `documents`, and per document for the last `values` of
    (operation, largest page, variables).

    The parse cache hands back one object for one text, so the object identifies it, as it
    does for `schema.extensions.Validations`; each entry keeps its document, so an id is
    never taken for another document's."""

    def __init__(self, documents: int = DOCUMENTS, values: int = VALUES) -> None:
        self._documents = documents
        self._values = values
        self._kept: OrderedDict[int, _Document] = OrderedDict()

    def size(
        self,
        document: DocumentNode,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
        *,
        max_first: int,
        measure: Measure,
    ) -> Size:
        """The size remembered for these values, else what `measure` says (then kept)."""
        variables = variables or {}
        kept = self._kept.get(id(document))
        if kept is None or kept.document is not document:
            kept = _Document(document, {}, OrderedDict())
            self._kept[id(document)] = kept
            if len(self._kept) > self._documents:
                self._kept.popitem(last=False)
        else:
            self._kept.move_to_end(id(document))
        reads = kept.reads.get(operation_name)
        if reads is not None:
            key = self._key(operation_name, reads, variables, max_first)
            size = kept.sizes.get(key)
            if size is not None:
                kept.sizes.move_to_end(key)
                return size
        size, read = measure()
        reads = kept.reads[operation_name] = tuple(sorted(read))
        kept.sizes[self._key(operation_name, reads, variables, max_first)] = size
        if len(kept.sizes) > self._values:
            kept.sizes.popitem(last=False)
        return size

    @staticmethod
    def _key(
        operation_name: str | None,
        reads: tuple[str, ...],
        variables: Mapping[str, Any],
        max_first: int,
    ) -> Hashable:
        values = tuple(
            _reduced(variables[name], max_first) if name in variables else _ABSENT for name in reads
        )
        return (operation_name, max_first, values)
