"""The GraphQL face of the gateway: strawberry types, resolvers, DataLoaders and the SDL."""

from schema.app import GatewayGraphQL, create_graphql_app
from schema.build import build_schema, sdl

__all__ = ["GatewayGraphQL", "build_schema", "create_graphql_app", "sdl"]
