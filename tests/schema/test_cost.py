"""The cost model: the worst-case upstream calls of a document, counted statically."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import FragmentDefinitionNode, GraphQLSchema, parse
from graphql.utilities import get_operation_ast

from gateway.config import Settings
from schema.build import build_schema
from schema.limits.cost import Size, operation_cost, operation_size, resolved_fields, window_reads

NESTED_PAGE = (
    "{ messagingProfiles(first: 20) { edges { node { id"
    " phoneNumbers { edges { node { id } } } shortCodes { edges { node { id } } } } } } }"
)


@pytest.fixture(scope="module")
def graphql_schema() -> GraphQLSchema:
    return build_schema(Settings(demo=True, otel_sdk_disabled=True))._schema


def cost(
    schema: GraphQLSchema,
    document: str,
    variables: dict[str, Any] | None = None,
    max_first: int = 100,
) -> int:
    parsed = parse(document)
    operation = get_operation_ast(parsed, None)
    assert operation is not None
    fragments = {
        d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return operation_cost(
        schema, resolved_fields(schema), operation, fragments, variables, max_first=max_first
    )


def test_every_field_with_a_resolver_counts_as_an_upstream_call(
    graphql_schema: GraphQLSchema,
) -> None:
    assert resolved_fields(graphql_schema) == {
        ("Query", "messagingProfiles"),
        ("Query", "messagingProfile"),
        ("Query", "shortCodes"),
        ("Query", "shortCode"),
        ("Query", "phoneNumbers"),
        ("Query", "phoneNumber"),
        ("Query", "messagingProfileMetrics"),
        ("Mutation", "createMessagingProfile"),
        ("Mutation", "updateMessagingProfile"),
        ("Mutation", "deleteMessagingProfile"),
        ("Mutation", "updateShortCode"),
        ("Mutation", "updatePhoneNumberMessaging"),
        ("Mutation", "regenerateMessagingProfileSecret"),
        ("MessagingProfile", "phoneNumbers"),
        ("MessagingProfile", "shortCodes"),
        ("MessagingProfile", "alphanumericSenderIds"),
        ("MessagingProfile", "metrics"),
        ("ShortCode", "messagingProfile"),
        ("PhoneNumber", "messagingProfile"),
    }


@pytest.mark.parametrize(
    ("first", "after", "reads"),
    [
        (0, False, 1),
        (1, False, 1),
        (1, True, 1),  # one item never straddles two pages
        (2, True, 2),  # two may: the last of one page and the first of the next
        (20, False, 1),
        (20, True, 2),
        (100, False, 1),
        (100, True, 2),
        (250, True, 2),
        (251, False, 2),  # past Telnyx's largest page
        (500, False, 2),
        (500, True, 3),
        (252, True, 3),  # from offset 249: pages 1, 2 and 3
    ],
)
def test_window_reads(first: int, *, after: bool, reads: int) -> None:
    assert window_reads(first, after=after) == reads


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("{ messagingProfiles { totalCount } }", 1),
        ('{ messagingProfiles(after: "x") { totalCount } }', 2),
        ("{ messagingProfiles(after: null) { totalCount } }", 1),
        ('{ messagingProfile(id: "p") { id name } }', 1),
        ('{ a: phoneNumber(id: "1") { id } b: phoneNumber(id: "2") { id } }', 2),
        # 1 page of profiles, then one page of each nested list per profile.
        (NESTED_PAGE, 1 + 20 * 2),
        # the default page is 20
        ("{ messagingProfiles { edges { node { phoneNumbers { totalCount } } } } }", 21),
        # a back-reference costs one lookup per parent node
        ("{ phoneNumbers(first: 100) { edges { node { messagingProfile { id } } } } }", 101),
        (
            '{ shortCode(id: "s") { messagingProfile { shortCodes(first: 5)'
            " { edges { node { messagingProfile { id } } } } } } }",
            1 + 1 + 1 + 5,
        ),
        # what is not under `edges` is asked once per connection, not per node
        ("{ messagingProfiles(first: 50) { totalCount pageInfo { hasNextPage } } }", 1),
        (
            "fragment F on MessagingProfile { phoneNumbers(first: 3) { totalCount } }"
            " { messagingProfiles(first: 7) { edges { node { ...F"
            " ... on MessagingProfile { shortCodes { totalCount } } } } } }",
            1 + 7 + 7,
        ),
        ('mutation { deleteMessagingProfile(id: "p") { id } }', 1),
        ('mutation { deleteMessagingProfile(id: "p") { phoneNumbers { totalCount } } }', 2),
        ("{ __schema { types { name } } __typename }", 0),
        (
            "{ messagingProfiles(first: 5000) { edges { node { shortCodes { totalCount } } } } }",
            101,
        ),
    ],
)
def test_document_costs(graphql_schema: GraphQLSchema, document: str, expected: int) -> None:
    assert cost(graphql_schema, document) == expected


VARIABLE_PAGE = (
    "query($n: Int = 5, $after: String) { messagingProfiles(first: $n, after: $after)"
    " { edges { node { phoneNumbers { totalCount } } } } }"
)


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (None, 1 + 5),  # the variable's default
        ({"n": 50}, 1 + 50),
        ({"n": 50, "after": "c"}, 2 + 50),
        ({"n": None}, 1 + 20),  # null: the field's default
        ({"n": "ten"}, 1 + 20),  # coercion refuses it later; the default bounds it
        ({"n": 10_000}, 1 + 100),  # over the maximum: the maximum bounds it
    ],
)
def test_variables_decide_the_window(
    graphql_schema: GraphQLSchema, variables: dict[str, Any] | None, expected: int
) -> None:
    assert cost(graphql_schema, VARIABLE_PAGE, variables) == expected


def test_a_smaller_maximum_page_bounds_the_default(graphql_schema: GraphQLSchema) -> None:
    document = "{ messagingProfiles { edges { node { shortCodes { totalCount } } } } }"
    assert cost(graphql_schema, document, max_first=10) == 1 + 10


@pytest.fixture(scope="module")
def federated_schema() -> GraphQLSchema:
    return build_schema(Settings(demo=True, otel_sdk_disabled=True, federation=True))._schema


ENTITIES = """query($r: [_Any!]!) { _entities(representations: $r) {
  ... on MessagingProfile { phoneNumbers(first: 5) { totalCount } } } }"""


@pytest.mark.parametrize(
    ("representations", "expected"),
    [
        # Per representation: its lookup, and the nested page below it.
        ([{"__typename": "MessagingProfile", "id": "a"}] * 3, 6),
        ([], 0),
        # One representation where the list is expected: GraphQL makes it a list of one.
        ({"__typename": "MessagingProfile", "id": "a"}, 2),
    ],
)
def test_entities_cost_what_each_representation_reads(
    federated_schema: GraphQLSchema, representations: object, expected: int
) -> None:
    assert cost(federated_schema, ENTITIES, {"r": representations}) == expected


def test_entities_written_in_the_document_cost_each_representation(
    federated_schema: GraphQLSchema,
) -> None:
    document = """{ _entities(representations: [
      {__typename: "MessagingProfile", id: "a"}, {__typename: "MessagingProfile", id: "b"}
    ]) { ... on MessagingProfile { id } } }"""
    assert cost(federated_schema, document) == 2


def test_a_field_without_a_per_item_argument_costs_one_call_however_many_values_it_names(
    graphql_schema: GraphQLSchema,
) -> None:
    assert cost(graphql_schema, '{ messagingProfile(id: "a") { id } }') == 1


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        # The items an answer can hold: the edges of each connection, nested ones per parent.
        (NESTED_PAGE, Size(calls=41, items=20 + 20 * 20 * 2)),
        ("{ messagingProfiles(first: 0) { edges { node { id } } } }", Size(calls=1, items=0)),
        (
            "{ messagingProfiles(first: 3) { edges { node { phoneNumbers(first: 0) { totalCount } } } } }",
            Size(calls=4, items=3),
        ),
        ("{ messagingProfiles(first: -5) { totalCount } }", Size(calls=1, items=0)),
    ],
)
def test_the_items_an_answer_can_hold(
    graphql_schema: GraphQLSchema, document: str, expected: Size
) -> None:
    parsed = parse(document)
    operation = get_operation_ast(parsed, None)
    assert operation is not None
    size = operation_size(
        graphql_schema, resolved_fields(graphql_schema), operation, {}, None, max_first=100
    )
    assert size == expected


PHONE_PAGE = "phoneNumbers(first: 5) { totalCount }"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        # An inline fragment without a type condition is its parent's type.
        (f'{{ messagingProfile(id: "a") {{ ... {{ {PHONE_PAGE} }} }} }}', 2),
        # A named fragment inside an inline one, and one named fragment inside another.
        (
            f'{{ messagingProfile(id: "a") {{ ... on MessagingProfile {{ ...P }} }} }}'
            f" fragment P on MessagingProfile {{ {PHONE_PAGE} }}",
            2,
        ),
        (
            '{ messagingProfile(id: "a") { ...Outer } }'
            " fragment Outer on MessagingProfile { ...Inner }"
            f" fragment Inner on MessagingProfile {{ {PHONE_PAGE} }}",
            2,
        ),
        # The same fragment twice counts twice, as it is resolved twice under two aliases.
        (
            '{ a: messagingProfile(id: "a") { ...P } b: messagingProfile(id: "b") { ...P } }'
            f" fragment P on MessagingProfile {{ {PHONE_PAGE} }}",
            4,
        ),
    ],
)
def test_fragments_count_what_they_select(
    graphql_schema: GraphQLSchema, document: str, expected: int
) -> None:
    assert cost(graphql_schema, document) == expected


def test_a_fragment_on_a_member_of_a_union_counts_that_types_fields(
    federated_schema: GraphQLSchema,
) -> None:
    """`_entities` answers the `_Entity` union: a named fragment on `MessagingProfile`
    counts the profile's nested page, per representation."""
    document = (
        "query($r: [_Any!]!) { _entities(representations: $r) { ...P } }"
        f" fragment P on MessagingProfile {{ {PHONE_PAGE} }}"
    )
    representations = [{"__typename": "MessagingProfile", "id": "a"}] * 3
    assert cost(federated_schema, document, {"r": representations}) == 6


@pytest.mark.parametrize(
    "document",
    [
        '{ __typename messagingProfile(id: "a") { __typename id } }',
        '{ messagingProfile(id: "a") { id } __schema { queryType { name } } }',
    ],
)
def test_introspection_costs_nothing_and_hides_nothing_after_it(
    graphql_schema: GraphQLSchema, document: str
) -> None:
    assert cost(graphql_schema, document) == 1


def test_the_items_of_every_root_field_add_up(federated_schema: GraphQLSchema) -> None:
    document = (
        "query($r: [_Any!]!) { messagingProfiles(first: 5) { edges { node { id } } }"
        " _entities(representations: $r) { __typename } }"
    )
    parsed = parse(document)
    operation = get_operation_ast(parsed, None)
    assert operation is not None
    variables = {"r": [{"__typename": "MessagingProfile", "id": "a"}] * 3}
    size = operation_size(
        federated_schema, resolved_fields(federated_schema), operation, {}, variables, max_first=100
    )
    assert size == Size(calls=1 + 3, items=5 + 3)
