"""Validation results are remembered per parsed document object, for the last few."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import DocumentNode, GraphQLError, GraphQLSchema, parse, specified_rules
from graphql.validation import NoDeprecatedCustomRule
from strawberry.schema.schema import validate_document

from gateway.config import Settings
from schema.build import build_schema
from schema.extensions import Rules, Validations

GOOD = "{ messagingProfiles { totalCount } }"
STANDARD: Rules = tuple(specified_rules)
BAD = "{ messagingProfiles { noSuchField } }"


@pytest.fixture
def graphql_schema() -> GraphQLSchema:
    return build_schema(Settings(demo=True, otel_sdk_disabled=True))._schema


@pytest.fixture
def validated(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The documents actually validated, by their first selection's text."""
    seen: list[str] = []

    def counting(schema: GraphQLSchema, document: DocumentNode, rules: Rules) -> Any:
        loc = document.loc
        assert loc is not None
        seen.append(loc.source.body)
        return validate_document(schema, document, rules)

    monkeypatch.setattr("schema.extensions.validate_document", counting)
    return seen


def messages(errors: list[GraphQLError]) -> list[str]:
    return [error.message for error in errors]


def test_a_document_is_validated_once_and_its_errors_kept(
    graphql_schema: GraphQLSchema, validated: list[str]
) -> None:
    validations = Validations(2)
    good, bad = parse(GOOD), parse(BAD)

    first = [validations(graphql_schema, document, STANDARD) for document in (good, bad, good, bad)]

    assert validated == [GOOD, BAD]
    assert [messages(errors) for errors in first] == [
        [],
        ["Cannot query field 'noSuchField' on type 'MessagingProfileConnection'."],
        [],
        ["Cannot query field 'noSuchField' on type 'MessagingProfileConnection'."],
    ]


def test_an_equal_document_another_schema_or_other_rules_are_validated_again(
    graphql_schema: GraphQLSchema, validated: list[str]
) -> None:
    validations = Validations(4)
    document = parse(GOOD)
    other_schema = build_schema(Settings(demo=True, otel_sdk_disabled=True))._schema

    validations(graphql_schema, document, STANDARD)
    validations(graphql_schema, parse(GOOD), STANDARD)
    validations(other_schema, document, STANDARD)
    validations(graphql_schema, document, (*STANDARD, NoDeprecatedCustomRule))
    validations(graphql_schema, document, (*STANDARD, NoDeprecatedCustomRule))

    assert validated == [GOOD] * 4


def test_the_least_recently_used_document_is_forgotten_past_the_size(
    graphql_schema: GraphQLSchema, validated: list[str]
) -> None:
    validations = Validations(2)
    texts = [f"{{ messagingProfiles(first: {n}) {{ totalCount }} }}" for n in (1, 2, 3)]
    one, two, three = (parse(text) for text in texts)

    for document in (one, two, one, three, one, two):
        validations(graphql_schema, document, STANDARD)

    # `one` was used again before `three` came, so `two` went; then `two` pushed out `three`.
    assert validated == [texts[0], texts[1], texts[2], texts[1]]
