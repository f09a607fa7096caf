"""Relay windows (`first`, `after`) mapped onto Telnyx's `page[number]` / `page[size]`.

A cursor is the URL-safe base64 of ``"<kind>:<offset>"``: opaque to callers, tagged with
the connection it belongs to so a profile cursor is refused by the phone-number list.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from gateway.errors import BadInputError, FieldProblem
from gateway.telnyx.models import Page, is_last, total_results
from gateway.telnyx.operation import PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX

T = TypeVar("T")

DEFAULT_FIRST = 20
# The furthest a cursor may point: past a 32-bit integer no list reaches.
MAX_OFFSET = 2**31 - 2
MAX_CURSOR = 128


def encode_cursor(kind: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{offset}".encode()).decode()


def decode_cursor(kind: str, cursor: str) -> int:
    """The offset a cursor of connection `kind` points at; BadInputError otherwise.

    Cursors are opaque but not trusted: a forged one must be base64 as the gateway writes
    it (nothing before, between or after), name this connection and an offset of ASCII
    digits below 2^31 (no list is longer; `int` would also take other scripts' digits, and
    refuses 4,300 of them with an error of its own).
    """
    text = ""
    if len(cursor) <= MAX_CURSOR:
        try:
            raw = base64.b64decode(cursor.encode("ascii"), altchars=b"-_", validate=True)
            text = raw.decode("ascii")
        except (UnicodeError, binascii.Error, ValueError):
            text = ""
    tag, _, offset = text.partition(":")
    if (
        tag != kind
        or not (offset.isascii() and offset.isdigit())
        or len(offset) > len(str(MAX_OFFSET))
        or int(offset) > MAX_OFFSET
    ):
        raise BadInputError([FieldProblem(("after",), "is not a cursor of this connection")])
    return int(offset)


@dataclass(frozen=True, slots=True)
class Window:
    """The items a caller asked for: `first` of them from `offset`, read `size` per page."""

    offset: int
    first: int
    size: int

    @property
    def pages(self) -> range:
        """1-based Telnyx page numbers covering the window (at least one, for the total)."""
        start = self.offset // self.size
        end = (self.offset + max(self.first, 1) - 1) // self.size
        return range(start + 1, end + 2)


def upstream_size(first: int) -> int:
    """The Telnyx page size read for windows of `first` items."""
    return min(max(first, PAGE_SIZE_DEFAULT), PAGE_SIZE_MAX)


def window(kind: str, first: int | None, after: str | None, *, max_first: int) -> Window:
    """Check `first` and `after` and choose the upstream page size.

    The page size depends on `first` alone, never on the offset: walking a list with the
    same `first` reads the same pages, so repeated and neighbouring windows hit the cache.
    With `size >= first` a window spans at most two Telnyx pages.
    """
    problems = []
    if first is None:
        first = min(DEFAULT_FIRST, max_first)
    elif first < 0:
        problems.append(FieldProblem(("first",), "must not be negative"))
    elif first > max_first:
        problems.append(FieldProblem(("first",), f"must be at most {max_first}"))
    offset = 0
    if after is not None:
        try:
            offset = decode_cursor(kind, after) + 1
        except BadInputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise BadInputError(problems)
    return Window(offset=offset, first=first, size=upstream_size(first))


@dataclass(frozen=True, slots=True)
class Slice(Generic[T]):
    """The window's items, and how many the whole list holds."""

    items: Sequence[T]
    offset: int
    total: int

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.items) < self.total


async def read_window(win: Window, fetch: Callable[[int, int], Awaitable[Page[T]]]) -> Slice[T]:
    """Fetch the window's pages concurrently and cut the window out of them."""
    results = await asyncio.gather(
        *(fetch(number, win.size) for number in win.pages), return_exceptions=True
    )
    return cut_window(win, results)


def cut_window(win: Window, results: Sequence[Page[T] | BaseException]) -> Slice[T]:
    """The window cut out of its pages, as read (each page, or why it could not be)."""
    pages: list[Page[T]] = []
    for result in results:
        if isinstance(result, BaseException):
            raise result
        pages.append(result)
        if is_last(result):
            break  # a page past the end may have been refused: no error
    items = [item for page in pages for item in page["data"]]
    before = (win.pages[0] - 1) * win.size
    start = win.offset - before
    chosen = items[start : start + win.first]
    total = total_results(pages[0])
    if total is None:
        # No count from upstream: what was seen is a lower bound, plus one unseen item
        # when the last page read did not say it was the last.
        total = before + len(items) + (0 if is_last(pages[-1]) else 1)
    # Past the end of the list the total stays the list's: an offset is not a length.
    total = max(total, win.offset + len(chosen)) if chosen else total
    return Slice(items=chosen, offset=win.offset, total=total)
