"""The GraphQL face of the gateway.

`schema.api` is the API (types, resolvers, DataLoaders, errors), `schema.http` the
`/graphql` view (CSRF, documents, the response cache), `schema.limits` what one request
may ask for, `schema.speedups` the speed-ups behind `GATEWAY_SPEEDUPS`; `schema.build`
assembles the schema, and `schema.graphql` is its SDL, checked in for codegen;
`schema.federation` makes it an Apollo Federation subgraph (`subgraph.graphql`).
"""

from schema.build import build_schema, federation_sdl, sdl
from schema.http.view import GatewayGraphQL, create_graphql_app, graphiql_routes

__all__ = [
    "GatewayGraphQL",
    "build_schema",
    "create_graphql_app",
    "federation_sdl",
    "graphiql_routes",
    "sdl",
]
