"""An operation's size is counted once per parsed document and what its variables' values
tell the count, and charged as if counted on every request."""

from __future__ import annotations

from typing import Any

import httpx
import hypothesis
import pytest
from graphql import DocumentNode, GraphQLSchema, OperationDefinitionNode, parse
from graphql.utilities import get_operation_ast
from hypothesis import strategies as st

from gateway.config import Settings
from schema.build import build_schema
from schema.limits import cost
from schema.limits.cost import operation_size, resolved_fields
from schema.limits.sizes import DOCUMENTS, VALUES, Size, Sizes
from tests.conftest import MakeApp, client_for

# Each profile's short codes: one call per profile on the page, after the page's own.
PAGE = (
    "query($n: Int) { messagingProfiles(first: $n) { edges { node"
    " { shortCodes { totalCount } } } } }"
)
COUNT = "{ messagingProfiles { totalCount } }"


def refusal(calls: int, limit: int) -> str:
    return f"This request could make up to {calls} upstream calls; the limit is {limit}."


async def charged(
    client: httpx.AsyncClient,
    document: str,
    variables: dict[str, Any],
    operation: str | None = None,
) -> str:
    """What the gateway answered: "ran", else the message of the error that refused it."""
    body = {"query": document, "variables": variables, "operationName": operation}
    response = await client.post("/graphql", json=body)
    body = response.json()
    if body.get("data") is not None:
        return "ran"
    [error] = body["errors"]
    message: str = error["message"]
    return message


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The text of every document whose operation was walked to count its size."""
    walked: list[str] = []
    measure = cost._measure

    def counting(
        schema: GraphQLSchema,
        resolved: Any,
        operation: OperationDefinitionNode,
        *args: Any,
        **kw: Any,
    ) -> tuple[Size, frozenset[str]]:
        assert operation.loc is not None
        walked.append(operation.loc.source.body)
        return measure(schema, resolved, operation, *args, **kw)

    monkeypatch.setattr("schema.limits.cost._measure", counting)
    return walked


async def test_one_document_is_charged_for_the_first_it_is_sent_with_each_time(
    make_app: MakeApp,
) -> None:
    async with client_for(make_app(max_query_cost=11)) as client:
        said = [await charged(client, PAGE, {"n": n}) for n in (10, 11, 30, 11, 10, 5000, 10)]
    assert said == [
        "ran",
        refusal(12, 11),
        refusal(31, 11),
        refusal(12, 11),
        "ran",
        refusal(101, 11),  # past the largest page: the largest page
        "ran",
    ]


async def test_an_absent_variable_takes_its_default_and_null_the_fields(
    make_app: MakeApp,
) -> None:
    document = PAGE.replace("$n: Int", "$n: Int = 5")
    sent: list[dict[str, Any]] = [{}, {"n": None}, {"n": 7}, {}, {"n": None}, {"n": 7}]
    async with client_for(make_app(max_query_cost=1)) as client:
        said = [await charged(client, document, variables) for variables in sent]
    # The operation's default is 5; null leaves the field's, 20.
    assert said == [refusal(1 + n, 1) for n in (5, 20, 7, 5, 20, 7)]


async def test_a_cursor_may_make_a_window_straddle_one_more_page(make_app: MakeApp) -> None:
    document = (
        "query($after: String) { messagingProfiles(first: 10, after: $after)"
        " { edges { node { shortCodes { totalCount } } } } }"
    )
    sent: list[dict[str, Any]] = [{}, {"after": "YQ=="}, {}, {"after": None}, {"after": "Yg=="}]
    async with client_for(make_app(max_query_cost=1)) as client:
        said = [await charged(client, document, variables) for variables in sent]
    assert said == [refusal(reads + 10, 1) for reads in (1, 2, 1, 1, 2)]


async def test_a_document_is_walked_once_for_the_values_it_is_sent_with(
    make_app: MakeApp, walks: list[str]
) -> None:
    async with client_for(make_app()) as client:
        for _ in range(3):
            assert await charged(client, PAGE, {"n": 5}) == "ran"
        assert walks == [PAGE]
        for _ in range(2):
            assert await charged(client, COUNT, {}) == "ran"
        assert walks == [PAGE, COUNT]
        # Another `first`, then one already counted, then none.
        for n in (6, 5, 6):
            assert await charged(client, PAGE, {"n": n}) == "ran"
        assert await charged(client, PAGE, {}) == "ran"
    assert walks == [PAGE, COUNT, PAGE, PAGE]


async def test_each_operation_of_a_document_is_charged_its_own_size(
    make_app: MakeApp, walks: list[str]
) -> None:
    document = (
        "query Few { messagingProfiles(first: 5) { edges { node { shortCodes { totalCount } } } } }"
        " query Many { messagingProfiles(first: 30) { edges { node { shortCodes { totalCount } } } } }"
    )
    async with client_for(make_app(max_query_cost=1)) as client:
        said = [await charged(client, document, {}, name) for name in ("Few", "Many") * 2]
    assert said == [refusal(6, 1), refusal(31, 1)] * 2
    assert walks == [document, document]


@pytest.fixture(scope="module")
def federated_schema() -> GraphQLSchema:
    return build_schema(Settings(demo=True, otel_sdk_disabled=True, federation=True))._schema


class Measured:
    """`Sizes`'s measure for one operation, counting what it is asked."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode) -> None:
        self.schema, self.document = schema, document
        self.times = 0

    def size(
        self, sizes: Sizes, variables: dict[str, Any], *, max_first: int = 100
    ) -> tuple[Size, Size]:
        """The size `sizes` gives, and the one counted afresh."""
        operation = get_operation_ast(self.document)
        assert operation is not None
        resolved = resolved_fields(self.schema)

        def measure() -> tuple[Size, frozenset[str]]:
            self.times += 1
            return cost._measure(
                self.schema, resolved, operation, {}, variables, max_first=max_first
            )

        given = sizes.size(self.document, None, variables, max_first=max_first, measure=measure)
        counted = operation_size(
            self.schema, resolved, operation, {}, variables, max_first=max_first
        )
        return given, counted


# `$v` is read as a page size, a cursor and the items of a per-item field.
EVERY_USE = """query($v: Int = 3, $w: String) {
  messagingProfiles(first: $v, after: $w) { edges { node { phoneNumbers(first: $w) { totalCount } } } }
  _entities(representations: $v) { ... on MessagingProfile { shortCodes(after: $v) { totalCount } } }
}"""
ABSENT = object()
VALUES_SENT = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-3, max_value=120)
    | st.floats(allow_nan=False)
    | st.text(max_size=2)
    | st.lists(st.none(), max_size=3)
    | st.dictionaries(st.text(max_size=1), st.none(), max_size=1)
    | st.just(ABSENT)
)


@hypothesis.settings(max_examples=60, deadline=None)
@hypothesis.given(
    sent=st.lists(
        st.tuples(VALUES_SENT, VALUES_SENT, st.sampled_from([10, 100])), min_size=1, max_size=12
    )
)
def test_a_remembered_size_is_the_one_counted_afresh(
    federated_schema: GraphQLSchema, sent: list[tuple[object, object, int]]
) -> None:
    measured = Measured(federated_schema, parse(EVERY_USE))
    sizes = Sizes(documents=2, values=3)
    for v, w, max_first in sent:
        variables = {name: value for name, value in (("v", v), ("w", w)) if value is not ABSENT}
        given, counted = measured.size(sizes, variables, max_first=max_first)
        assert given == counted


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("YQ==", "Yg=="),  # cursors: only whether there is one counts
        (150, 1000),  # past the largest page, every page is the largest
        (-1, 0),
        ([{"id": "a"}], [{"id": "b"}]),  # representations: only how many
        ("ten", {"n": 10}),  # not a page size, a cursor's null nor a list
        (10.0, "10"),
    ],
)
def test_values_the_count_cannot_tell_apart_share_one_size(
    federated_schema: GraphQLSchema, one: object, other: object
) -> None:
    measured = Measured(federated_schema, parse(EVERY_USE))
    sizes = Sizes()
    first, _ = measured.size(sizes, {"v": one, "w": one})
    second, counted = measured.size(sizes, {"v": other, "w": other})
    assert (first, second, measured.times) == (counted, counted, 1)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({}, {"v": None}),
        ({"v": 3}, {"v": None}),
        ({"v": 0}, {"v": 1}),  # a window of none holds no items
        ({"v": 1}, {"v": True}),
        ({"v": [None]}, {"v": [None, None]}),
        ({"v": "ten"}, {"v": None}),
    ],
)
def test_values_the_count_tells_apart_are_counted_each(
    federated_schema: GraphQLSchema, one: dict[str, Any], other: dict[str, Any]
) -> None:
    measured = Measured(federated_schema, parse(EVERY_USE))
    sizes = Sizes()
    measured.size(sizes, one)
    measured.size(sizes, other)
    assert measured.times == 2


def test_the_least_recently_used_document_is_forgotten_past_the_limit(
    federated_schema: GraphQLSchema,
) -> None:
    assert DOCUMENTS == 128
    sizes = Sizes()
    documents = [Measured(federated_schema, parse(COUNT)) for _ in range(DOCUMENTS + 1)]
    for document in documents:
        document.size(sizes, {})
    for document in documents[1:]:
        document.size(sizes, {})
    assert [document.times for document in documents] == [1] * (DOCUMENTS + 1)
    documents[0].size(sizes, {})  # forgotten: counted again, and the next oldest forgotten
    documents[1].size(sizes, {})
    assert [document.times for document in documents[:3]] == [2, 2, 1]


def test_the_least_recently_used_values_of_a_document_are_forgotten_past_the_limit(
    federated_schema: GraphQLSchema,
) -> None:
    assert VALUES == 8
    sizes = Sizes()
    measured = Measured(federated_schema, parse(EVERY_USE))
    for first in range(1, VALUES + 2):
        measured.size(sizes, {"v": first})
    for first in range(2, VALUES + 2):
        measured.size(sizes, {"v": first})
    assert measured.times == VALUES + 1
    measured.size(sizes, {"v": 1})
    assert measured.times == VALUES + 2


def test_an_equal_document_is_counted_again(federated_schema: GraphQLSchema) -> None:
    sizes = Sizes()
    one, equal = Measured(federated_schema, parse(COUNT)), Measured(federated_schema, parse(COUNT))
    for measured in (one, equal, one, equal):
        measured.size(sizes, {})
    assert (one.times, equal.times) == (1, 1)
