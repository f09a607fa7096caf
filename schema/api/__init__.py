"""The GraphQL API itself: its object types, inputs, connections, resolvers, DataLoaders
and error codes. Everything here is about what the API answers, not about HTTP (see
`schema.http`), limits (`schema.limits`) or execution speed (`schema.speedups`).
"""
