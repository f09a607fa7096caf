"""Relay windows over Telnyx pages, with a list held in memory."""

from __future__ import annotations

import base64
import math

import pytest

from gateway.errors import BadInputError, NotFoundError
from gateway.telnyx.models import Page, PaginationMeta
from schema.api.paging import Window, decode_cursor, encode_cursor, read_window, window


class Upstream:
    """A Telnyx list of `count` integers that records the pages it served."""

    def __init__(self, count: int) -> None:
        self.items = list(range(count))
        self.reads: list[tuple[int, int]] = []

    async def fetch(self, number: int, size: int) -> Page[int]:
        self.reads.append((number, size))
        start = (number - 1) * size
        return Page[int](
            data=self.items[start : start + size],
            meta=PaginationMeta(
                page_number=number,
                page_size=size,
                total_pages=math.ceil(len(self.items) / size),
                total_results=len(self.items),
            ),
        )


def test_cursor_round_trip() -> None:
    assert decode_cursor("profiles", encode_cursor("profiles", 41)) == 41
    assert decode_cursor("profiles", encode_cursor("profiles", 2**31 - 2)) == 2**31 - 2


def forged(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64!",
        encode_cursor("short_codes", 3),
        "cHJvZmlsZXM6LTE=",  # profiles:-1
        forged("profiles:2147483647"),  # one past the furthest offset
        forged("profiles:99999999999999999999"),
        forged("profiles:" + "9" * 4300),  # int() refuses this many digits itself
        forged("profiles:\uff11\uff12"),  # full-width digits
        forged("profiles:\u0661"),  # an Arabic-Indic one
        forged("profiles: 5"),
        forged("profiles:5 "),
        "A" * 129,
        # A cursor of the gateway's with more around it: base64 as the gateway writes it.
        encode_cursor("profiles", 5) + "!!",
        "!" + encode_cursor("profiles", 5),
        encode_cursor("profiles", 5) + "==",
        encode_cursor("profiles", 5).rstrip("="),
    ],
)
def test_foreign_forged_or_malformed_cursor_is_bad_input(cursor: str) -> None:
    with pytest.raises(BadInputError) as caught:
        decode_cursor("profiles", cursor)
    assert caught.value.problems[0].path == ("after",)


def test_window_defaults_and_limits() -> None:
    assert window("p", None, None, max_first=100) == Window(offset=0, first=20, size=20)
    assert window("p", None, None, max_first=5) == Window(offset=0, first=5, size=20)
    assert window("p", 1, encode_cursor("p", 9), max_first=100) == Window(10, 1, 20)
    assert window("p", 90, None, max_first=100).size == 90
    assert window("p", 1000, None, max_first=1000).size == 250


def test_window_reports_every_problem() -> None:
    with pytest.raises(BadInputError) as caught:
        window("p", 101, "junk", max_first=100)
    assert [(p.path, p.message) for p in caught.value.problems] == [
        (("first",), "must be at most 100"),
        (("after",), "is not a cursor of this connection"),
    ]
    with pytest.raises(BadInputError) as negative:
        window("p", -1, None, max_first=100)
    assert negative.value.problems[0].message == "must not be negative"


@pytest.mark.parametrize(
    ("offset", "first", "expected_reads"),
    [
        (0, 20, [(1, 20)]),
        (5, 20, [(1, 20), (2, 20)]),
        (19, 2, [(1, 20), (2, 20)]),
        (40, 20, [(3, 20)]),
        # Page 4 is past the end, but the total is not known before the pages arrive.
        (55, 20, [(3, 20), (4, 20)]),
    ],
)
async def test_window_slices_across_pages(
    offset: int, first: int, expected_reads: list[tuple[int, int]]
) -> None:
    upstream = Upstream(60)
    sliced = await read_window(Window(offset, first, 20), upstream.fetch)
    assert list(sliced.items) == list(range(offset, min(offset + first, 60)))
    assert sliced.total == 60
    assert sliced.has_next == (offset + first < 60)
    assert upstream.reads == expected_reads


async def test_wide_window_reads_every_page_it_spans() -> None:
    upstream = Upstream(700)
    sliced = await read_window(Window(100, 600, 250), upstream.fetch)
    assert list(sliced.items) == list(range(100, 700))
    assert upstream.reads == [(1, 250), (2, 250), (3, 250)]
    assert not sliced.has_next


async def test_window_past_the_end_is_empty() -> None:
    upstream = Upstream(3)
    sliced = await read_window(Window(10, 5, 20), upstream.fetch)
    assert list(sliced.items) == []
    assert sliced.total == 3  # the list's own count: an offset past its end is no length
    assert not sliced.has_next


async def test_first_zero_still_counts() -> None:
    upstream = Upstream(7)
    sliced = await read_window(Window(0, 0, 20), upstream.fetch)
    assert (list(sliced.items), sliced.total, sliced.has_next) == ([], 7, True)


async def test_missing_meta_falls_back_to_a_lower_bound() -> None:
    async def fetch(number: int, size: int) -> Page[int]:
        return Page[int](data=list(range(size)) if number == 1 else [])

    sliced = await read_window(Window(0, 5, 20), fetch)
    assert sliced.total == 21  # 20 seen and at least one more: the page was not the last
    assert sliced.has_next


async def test_a_failing_first_page_fails_the_window() -> None:
    async def fetch(number: int, size: int) -> Page[int]:
        raise NotFoundError("list", status=404)

    with pytest.raises(NotFoundError):
        await read_window(Window(0, 5, 20), fetch)


async def test_a_page_past_the_last_one_may_be_refused() -> None:
    """The window spans pages 1 and 2, page 1 says it is the last, and Telnyx refuses
    page 2 (as it may for a page past the end): the window is what page 1 holds."""

    async def fetch(number: int, size: int) -> Page[int]:
        if number == 2:
            raise NotFoundError("list", status=404)
        return Page[int](
            data=list(range(15)),
            meta=PaginationMeta(page_number=1, page_size=20, total_pages=1, total_results=15),
        )

    sliced = await read_window(Window(10, 20, 20), fetch)
    assert (list(sliced.items), sliced.total, sliced.has_next) == ([10, 11, 12, 13, 14], 15, False)


async def test_a_refused_page_fails_the_window_when_the_one_before_was_not_the_last() -> None:
    async def fetch(number: int, size: int) -> Page[int]:
        if number == 2:
            raise NotFoundError("list", status=404)
        return Page[int](
            data=list(range(20)),
            meta=PaginationMeta(page_number=1, page_size=20, total_pages=2, total_results=30),
        )

    with pytest.raises(NotFoundError):
        await read_window(Window(10, 20, 20), fetch)


async def test_without_a_count_the_last_page_read_gives_the_exact_total() -> None:
    async def fetch(number: int, size: int) -> Page[int]:
        return Page[int](data=list(range(7)), meta=PaginationMeta(page_number=1, total_pages=1))

    sliced = await read_window(Window(0, 5, 20), fetch)
    assert (list(sliced.items), sliced.total, sliced.has_next) == ([0, 1, 2, 3, 4], 7, True)


async def test_a_count_below_the_window_is_raised_to_what_the_window_saw() -> None:
    """Telnyx's count said 3 while the page held 8 (the list grew between them): the
    window from offset 6 holds two items, so the list holds at least 8."""

    async def fetch(number: int, size: int) -> Page[int]:
        return Page[int](
            data=list(range(8)),
            meta=PaginationMeta(page_number=1, page_size=20, total_pages=1, total_results=3),
        )

    sliced = await read_window(Window(6, 5, 20), fetch)
    assert (list(sliced.items), sliced.total, sliced.has_next) == ([6, 7], 8, False)
