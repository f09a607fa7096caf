"""The `/graphql` HTTP view: request parsing, CSRF prevention, authentication, rate
limits, trusted and persisted documents, the whole-response cache, GraphiQL."""
