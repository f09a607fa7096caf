"""The checked-in SDL is the one the code builds, and every type and field is documented."""

from __future__ import annotations

from pathlib import Path

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLObjectType,
    build_schema,
)

from schema import sdl

SDL_FILE = Path(__file__).parents[2] / "schema" / "schema.graphql"


def test_checked_in_sdl_matches_the_code() -> None:
    assert SDL_FILE.read_text() == sdl(), (
        "schema/schema.graphql is out of date with the code: run `make schema` and commit it"
    )


def test_every_type_field_and_argument_has_a_description() -> None:
    missing = []
    for name, kind in build_schema(sdl()).type_map.items():
        if name.startswith("__") or kind.ast_node is None:
            continue
        if not kind.description:
            missing.append(name)
        if isinstance(kind, GraphQLObjectType):
            for field_name, field in kind.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                missing += [
                    f"{name}.{field_name}({arg})"
                    for arg, argument in field.args.items()
                    if not argument.description
                ]
        elif isinstance(kind, GraphQLInputObjectType):
            missing += [f"{name}.{f}" for f, field in kind.fields.items() if not field.description]
        elif isinstance(kind, GraphQLEnumType):
            missing += [f"{name}.{v}" for v, value in kind.values.items() if not value.description]
    assert missing == []


def test_secret_is_not_in_the_schema() -> None:
    assert "v1Secret" not in sdl()
