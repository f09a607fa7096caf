"""Settings: the one module that reads the environment (prefix ``GATEWAY_``).

Each field's `description` is its documentation: the README's settings table and
``python -m gateway serve --help`` are both rendered from it (`documented`), and a test
keeps the README in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, HttpUrl, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_TELNYX_BASE_URL = "https://api.telnyx.com/v2"
MIB = 1024 * 1024
# Where a default is computed rather than a value, the table says how, in these words.
_SHOWN = "shown_default"


def _shown(text: str) -> dict[str, Any]:
    return {_SHOWN: text}


class Settings(BaseSettings):
    """Every knob of the gateway; each is documented in the README's settings table."""

    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_", extra="ignore", frozen=True, populate_by_name=True
    )

    # Serving
    host: str = Field(default="127.0.0.1", description="address to listen on")
    port: int = Field(default=8080, ge=0, le=65535, description="port to listen on")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info",
        description="`debug`, `info`, `warning` or `error`; logs are JSON lines on stderr. "
        "`debug` is for the gateway's own loggers: the server's and the libraries' stay at "
        "`info` or above, and their lines are scrubbed of credentials (authorization and "
        "cookie headers, bearer tokens, Telnyx keys, URL passwords)",
    )
    shutdown_budget: float = Field(
        default=25.0,
        ge=1,
        description="seconds from SIGTERM to exit, everything included: in-flight requests get "
        "what the flush and a margin leave (19 s of 25: the budget less a fifth for the "
        "flush, at most 5 s, and a tenth for the exit, at most 1 s, in whole seconds), "
        "then spans and metrics are flushed, abandoned at the deadline if the collector "
        "does not answer, and the process exits 0; the deploy files' grace periods are "
        "derived from it (deploy/README.md)",
    )
    metrics_port: int = Field(
        default=9464,
        ge=0,
        le=65535,
        description="a second listener on the same host, with its own 32 connections, serving "
        "`/metrics`, `/healthz` and `/readyz`, for scrapers and probes: they answer when the "
        "API port is at its cap, and the API's Service need not expose `/metrics` "
        "(`GATEWAY_PORT` keeps `/healthz` and `/readyz`, and has no `/metrics`); `0` turns "
        "it off",
    )
    max_connections: int = Field(
        default=4096,
        ge=1,
        description="open connections on the API port. Past it, the connection idle longest "
        "(nothing sent yet, headers still arriving, or between requests) is closed to make "
        "room; when every connection has a request in progress, the new one gets `503` and "
        "is closed. At start-up the process raises its open-files limit to the hard limit, "
        "logs both, and lowers this cap (with a warning) so that it, the upstream pool, the "
        "metrics port and 256 spare descriptors fit",
    )
    header_timeout: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="seconds to receive a request's line and headers, counted from its first "
        "byte (or from the connection's opening) and not reset by each byte; then `408` and "
        "the connection closed (closed without an answer if nothing was sent)",
    )
    body_timeout: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="seconds to receive a request's body once its headers are in; then `408` "
        "and the connection closed",
    )
    keep_alive_timeout: int = Field(
        default=5,
        ge=1,
        le=300,
        description="seconds an idle keep-alive connection stays open between requests",
    )
    max_header_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="largest request line and headers together; over it: `431` and the "
        "connection closed",
    )

    # Tenants and demo mode
    tenants_file: Path | None = Field(
        default=None,
        description="the JSON file of tenants, token hashes and Telnyx keys (format: the README's Tenants section); "
        "required unless demo mode is on. It is reloaded without a restart on SIGHUP and when "
        "it or a key file it names changes",
    )
    tenants_reload_interval: float = Field(
        default=0.5,
        ge=0,
        description="seconds between checks of the tenants file and its key files for changes "
        "(content, not only timestamps, so Kubernetes' in-place Secret updates are seen); "
        "`0` checks only on SIGHUP",
    )
    demo: bool | None = Field(
        default=None,  # resolved below: true exactly when no tenants file is given
        description="demo mode: the embedded simulator as upstream and one demo tenant",
        json_schema_extra=_shown("true when no tenants file is given"),
    )
    demo_token: str = Field(
        default="demo-token",
        description="the demo tenant's bearer token (demo mode only)",
    )

    # Upstream (Telnyx)
    telnyx_base_url: HttpUrl = Field(
        default=HttpUrl(DEFAULT_TELNYX_BASE_URL),
        description="Telnyx's base URL, version prefix included",
    )
    upstream_connect_timeout: float = Field(
        default=5.0, gt=0, description="seconds to open a connection to Telnyx"
    )
    upstream_timeout: float = Field(
        default=10.0,
        gt=0,
        description="seconds one attempt may take to read, write or wait for a pooled connection",
    )
    upstream_deadline: float = Field(
        default=20.0,
        gt=0,
        description="seconds one call may take in all, retries and backoff included",
    )
    upstream_max_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="retries after the first attempt (as the official SDKs)",
    )
    upstream_max_retry_delay: float = Field(
        default=8.0, ge=0, description="cap of the exponential backoff, seconds"
    )
    upstream_retry_budget_ratio: float = Field(
        default=0.2,
        ge=0,
        description="retries per tenant as a share of its calls: each call earns this much of "
        "a retry, so an outage is not multiplied by retries",
    )
    upstream_retry_budget_min_per_second: float = Field(
        default=10.0,
        ge=0,
        description="retries per tenant per second allowed whatever the traffic (the budget "
        "holds at most ten seconds of them)",
    )
    upstream_max_connections: int = Field(
        default=100, ge=1, description="connection pool size to Telnyx"
    )
    upstream_max_keepalive: int = Field(
        default=50,
        ge=0,
        description="idle keep-alive connections kept open by the `httpx` transport (aiohttp "
        "keeps every idle connection for 30 s, within the pool size)",
    )
    upstream_transport: Literal["aiohttp", "httpx"] = Field(
        default="aiohttp",
        description="`aiohttp` (aiohttp's pool, measured faster: `make bench-transport`) or "
        "`httpx` (httpx's own)",
    )
    tenant_upstream_concurrency: int = Field(
        default=16,
        ge=1,
        description="concurrent upstream calls per tenant, so one tenant cannot starve others",
    )
    # Circuit breaker (gateway.telnyx.breaker, docs/architecture.md).
    upstream_circuit_window: int = Field(
        default=20,
        ge=0,
        le=10_000,
        description="the circuit breaker judges Telnyx's health over this many most recent "
        "calls (each after its retries; a timeout, a connection failure or a 5xx fails, a 4xx "
        "is not counted); one circuit per tenant, and one for Telnyx as a whole that only "
        "failures of two tenants or more can open (see `docs/architecture.md`); `0` turns "
        "the breaker off",
    )
    upstream_circuit_min_calls: int = Field(
        default=10, ge=1, description="calls the window must hold before the circuit may open"
    )
    upstream_circuit_failure_ratio: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="share of failed calls in the window that opens the circuit. While open, "
        "calls are refused without being sent: reads get stale data at once when the cache "
        "still has it (within `GATEWAY_CACHE_STALE_IF_ERROR`), otherwise "
        "`UPSTREAM_UNAVAILABLE` (REST: 503 with `Retry-After`); writes are refused. With "
        "Redis, an opening is announced to the other replicas",
    )
    upstream_circuit_reset_timeout: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="seconds an open circuit refuses calls before it lets probes through "
        "(half-open)",
    )
    upstream_circuit_probes: int = Field(
        default=3,
        ge=1,
        le=100,
        description="reads let through, unretried, while half-open (writes wait until it "
        "closes): one failure opens it again, this many successes close it",
    )

    # Cache
    # Byte budgets: what the kept entries cost in memory, in total and per tenant.
    cache_max_bytes: int = Field(
        default=96 * MIB,
        ge=0,
        description="memory the cached upstream reads may take, all tenants together: each "
        "costs the bytes Telnyx sent plus its key and bookkeeping (least recently used go "
        "first); `0` disables caching",
    )
    cache_tenant_max_bytes: int = Field(
        default=24 * MIB,
        ge=0,
        description="the most of it one tenant's reads may take: past it that tenant's own "
        "least recently used reads go, never another tenant's",
    )
    cache_ttl_profiles: float = Field(
        default=30.0, ge=0, description="seconds a messaging-profile read stays fresh"
    )
    cache_ttl_short_codes: float = Field(
        default=30.0, ge=0, description="seconds a short-code read stays fresh"
    )
    cache_ttl_phone_numbers: float = Field(
        default=30.0, ge=0, description="seconds a phone-number read stays fresh"
    )
    cache_stale_if_error: float = Field(
        default=300.0,
        ge=0,
        description="seconds after expiry an entry may still be served when Telnyx is unavailable",
    )

    # GraphQL
    graphiql: bool | None = Field(
        default=None,
        description="serve GraphiQL on `GET /graphql` (its files under `/graphiql/`); in demo "
        "mode it comes with the demo token, otherwise it asks for a tenant token",
        json_schema_extra=_shown("the demo flag"),
    )
    graphiql_assets: Path | None = Field(
        default=None,
        description="where GraphiQL's files are (`make web` installs them there; the image "
        "has them)",
        json_schema_extra=_shown("`web/node_modules` of the checkout"),
    )
    introspection: bool | None = Field(
        default=None,
        description="allow GraphQL introspection (GraphiQL's documentation and completion need it)",
        json_schema_extra=_shown("true in demo mode or with GraphiQL on"),
    )
    max_page_size: int = Field(
        default=100, ge=1, le=1000, description="largest `first` a GraphQL connection accepts"
    )
    max_query_depth: int = Field(default=10, ge=1, description="deepest GraphQL query accepted")
    max_aliases: int = Field(default=30, ge=1, description="most aliases in one GraphQL document")
    max_tokens: int = Field(default=2_000, ge=1, description="most tokens in one GraphQL document")
    max_query_cost: int = Field(
        default=500,
        ge=1,
        description="most upstream calls one GraphQL request may cause in the worst case (each "
        "page read, lookup and write counts, nested lists once per parent); over it the request "
        "is refused with `BAD_USER_INPUT` before any call; the operations of a batch share it",
    )
    max_query_items: int = Field(
        default=2_000,
        ge=1,
        description="most items the answers of one GraphQL request may hold in the worst case: "
        "every connection's `first`, nested ones once per parent (`messagingProfiles(first: "
        "20) { phoneNumbers(first: 50) }` holds 20 + 20 x 50 = 1,020); building an answer costs "
        "CPU by its items, so this keeps one request from holding the server for long; over it "
        "the request is refused with `BAD_USER_INPUT` before any call; the operations of a "
        "batch share it",
    )
    tenant_heavy_queries: int = Field(
        default=1,
        ge=1,
        description="GraphQL documents whose answers can hold more than a quarter of "
        "`GATEWAY_MAX_QUERY_ITEMS` that one tenant may run at once; the others wait their turn "
        "(at most `GATEWAY_UPSTREAM_DEADLINE`, then `RATE_LIMITED`), so one tenant flooding "
        "large queries cannot take the CPU from the others",
    )
    tenant_queries: int = Field(
        default=16,
        ge=1,
        description="GraphQL documents one tenant may run at once (answers from the response "
        "cache do not count); the others wait their turn (at most `GATEWAY_UPSTREAM_DEADLINE`, "
        "then `RATE_LIMITED`) holding only their request, so however far the server falls "
        "behind, one tenant's documents hold the pages and answers of this many at a time",
    )
    max_batch_size: int = Field(
        default=10,
        ge=0,
        description="most operations in one batched GraphQL request (a JSON array); `0` "
        "refuses batches",
    )
    apq_cache_bytes: int = Field(
        default=8 * MIB,
        ge=0,
        description="memory the documents registered through Apollo's automatic persisted "
        "queries may take, all tenants together (each costs its text, its hash and key, and "
        "bookkeeping), least recently used first out; `0` turns APQ off "
        "(`PERSISTED_QUERY_NOT_SUPPORTED`)",
    )
    apq_tenant_cache_bytes: int = Field(
        default=2 * MIB, ge=0, description="the most of it one tenant's documents may take"
    )
    trusted_documents_file: Path | None = Field(
        default=None,
        description='trusted GraphQL documents, checked at start-up: `{"<sha256>": '
        '"<document>"}` or an Apollo persisted query manifest; they run by hash for every '
        "tenant",
    )
    trusted_documents_only: bool = Field(
        default=False,
        description="run only the trusted documents (by hash or full text); anything else is "
        "refused with `BAD_USER_INPUT`, and APQ registration is off",
    )
    response_cache_max_bytes: int = Field(
        default=32 * MIB,
        ge=0,
        description="memory the whole GraphQL query responses kept may take, all tenants "
        "together (least recently used go first); a repeated query (same tenant, document, "
        "variables and operation name) is answered without being parsed or run. An answer is "
        "kept until the first of its upstream reads stops being fresh, and every write (through "
        "either face, on any replica) evicts the answers that read what it changed; answers "
        "with errors or stale data, mutations and batches are never kept, and `Cache-Control: "
        "no-cache` bypasses and refreshes it; `0` turns it off",
    )
    response_cache_tenant_max_bytes: int = Field(
        default=8 * MIB, ge=0, description="the most of it one tenant's responses may take"
    )
    federation: bool = Field(
        default=False,
        description="serve `/graphql` as an Apollo Federation v2 subgraph: `_service { sdl }` "
        "and `_entities` for `MessagingProfile`, `ShortCode` and `PhoneNumber` by "
        '`@key(fields: "id")`; the router must forward the caller\'s `Authorization` header',
    )
    nested_fan_in: bool = Field(
        default=True,
        description="a page of profiles asking for their `phoneNumbers` or `shortCodes` reads "
        "the account's whole list (`GET /phone_numbers/messaging`, `GET /short_codes`, 250 a "
        "page) and groups it by profile, when that takes fewer calls than one per profile; "
        "same answers either way; `false` always reads per profile",
    )
    # Speed-ups that reach into libraries' internals (schema.speedups, gateway.otlp,
    # gateway.spans).
    speedups: bool = Field(
        default=True,
        description="the speed-ups that reach into libraries' internals (graphql-core's "
        "executor, strawberry's request parsing and extension runner, the OTLP span encoder, "
        "the span recorder; see "
        "`schema/speedups/__init__.py` and `bench/README.md`); `false` runs the libraries' own "
        "code paths, should an upgrade break one",
    )

    # Request limits
    max_body_bytes: int = Field(
        default=256 * 1024, ge=1024, description="largest request body accepted"
    )
    rate_limit_per_second: float = Field(
        default=50.0,
        gt=0,
        description="each tenant's sustained request rate (token bucket); a tenant's "
        '`"rate_limit": {"per_second": x, "burst": y}` in the tenants file overrides it; over '
        "it: 429 with `Retry-After`",
    )
    rate_limit_burst: int = Field(
        default=100,
        ge=1,
        description="requests a tenant may make at once before its rate applies",
    )

    upstream_budget_per_second: float = Field(
        default=0.0,
        ge=0,
        description="calls per second each Telnyx account (one API key) may receive from all "
        "replicas together, retries included; 0: no budget. A tenant's "
        '`"upstream_budget": {"per_second": x, "burst": y}` in the tenants file overrides it. '
        "A call waits for its turn up to its deadline, then fails unsent with `RATE_LIMITED` "
        "(REST: 429 with `Retry-After`); Telnyx's 429 pauses the account on every replica",
    )
    upstream_budget_burst: int = Field(
        default=1,
        ge=1,
        description="calls an account's budget lets through at once: at most "
        "burst - 1 + per_second x W calls go to Telnyx in any W seconds, so 1 keeps every "
        "second within per_second",
    )
    replicas: int = Field(
        default=1,
        ge=1,
        description="replicas in the deployment: while Redis is unreachable each one sends "
        "an account at most its share of the upstream budget (per_second / replicas)",
    )

    # Cross-replica coherence
    redis_url: str | None = Field(
        default=None,
        description="Redis shared by the replicas (e.g. `redis://redis:6379/0`; `rediss://` for "
        "TLS, a password as `rediss://:secret@redis:6380/0`): every write's invalidation is "
        "published to all replicas, and rate limits and each Telnyx account's upstream budget "
        "are one bucket across them. Without it each replica runs alone. If Redis goes away, "
        "replicas keep serving with local rate limits, their share of each upstream budget "
        'and short cache TTLs, report `"redis": "down"` in '
        "`/readyz` and `gateway_redis_up 0` in `/metrics`, and drop their caches when it "
        "returns",
    )
    redis_sentinels: str = Field(
        default="",
        json_schema_extra=_shown("none"),
        pattern=r"^\s*([^,\s]+:\d+\s*(,\s*[^,\s]+:\d+\s*)*)?$",
        description="Sentinels to ask for the Redis master, as `host:port,host:port`; with "
        "them, `GATEWAY_REDIS_URL` gives only the master's scheme (`rediss://` for TLS), "
        "password and database (e.g. `rediss://:secret@redis/0`), and the replicas follow a "
        "failover",
    )
    redis_sentinel_master: str = Field(
        default="mymaster",
        min_length=1,
        description="the name the Sentinels monitor the master under",
    )
    redis_cluster: bool = Field(
        default=False,
        description="Redis is a Cluster: `GATEWAY_REDIS_URL` names one of its nodes and the "
        "others are discovered",
    )
    redis_tls_ca_file: Path | None = Field(
        default=None,
        description="CA certificate(s), PEM, to verify a `rediss://` Redis (and its Sentinels) "
        "with, instead of the system's",
    )
    redis_down_ttl: float = Field(
        default=5.0,
        ge=0,
        description="seconds a cached read stays fresh while Redis is unreachable (writes on "
        "other replicas cannot evict it then)",
    )
    cache_shared: bool | None = Field(
        default=None,
        description="a second cache tier in Redis behind each replica's own: a read one "
        "replica fetched is served by the others without calling Telnyx (`X-Cache: HIT`, "
        "outcome `shared` in spans and metrics), with the same TTLs, stale window and "
        "invalidations (a write on any replica evicts both tiers everywhere), and identical "
        "cold reads on several replicas make one call (a one-second lease in Redis, renewed "
        "while the call runs; the others wait for its answer). Each Redis call is bounded "
        "by `GATEWAY_CACHE_SHARED_TIMEOUT`; without an answer a replica uses its own tier "
        "alone",
        json_schema_extra=_shown("true when `GATEWAY_REDIS_URL` is set"),
    )
    cache_shared_tenant_max_bytes: int = Field(
        default=16 * MIB,
        ge=0,
        description="Redis memory one tenant's shared reads may take (Telnyx's bytes, keys "
        "and bookkeeping); a read that does not fit is not shared, and is served from each "
        "replica's own tier as usual",
    )
    cache_shared_entry_max_bytes: int = Field(
        default=MIB,
        ge=0,
        description="the largest read the shared tier keeps; larger ones stay in each "
        "replica's own tier",
    )
    cache_shared_timeout: float = Field(
        default=0.25,
        gt=0,
        le=5,
        description="seconds each call to the shared tier may take; after a failure the "
        "replica leaves Redis alone for a second and serves from its own tier",
    )

    # Telemetry: the standard OpenTelemetry variables, read here and nowhere else.
    otel_service_name: str = Field(
        default="telnyx-messaging-gateway",
        validation_alias="OTEL_SERVICE_NAME",
        description="the traces' and metrics' `service.name`",
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT",
        description="export spans over OTLP/HTTP to this base URL (`/v1/traces` is appended); "
        "the other standard `OTEL_EXPORTER_OTLP_*` variables (headers, timeout, compression) "
        "apply",
    )
    otel_exporter_otlp_traces_endpoint: str | None = Field(
        default=None,
        validation_alias="OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        description="export spans over OTLP/HTTP to exactly this URL (over "
        "`OTEL_EXPORTER_OTLP_ENDPOINT`)",
    )
    otel_traces_exporter: str = Field(
        default="otlp",
        validation_alias="OTEL_TRACES_EXPORTER",
        description="`otlp`, `console`, both comma-separated, or `none`; `otlp` without an "
        "endpoint exports nothing, and a line at start-up says where spans go",
    )
    otel_sdk_disabled: bool = Field(
        default=False,
        validation_alias="OTEL_SDK_DISABLED",
        description="`true`: no spans are made or exported (log lines carry no trace ids); "
        "`/metrics` is still served. `OTEL_TRACES_EXPORTER=none` stops only the export",
    )

    @field_validator("tenants_file", "trusted_documents_file", mode="before")
    @classmethod
    def _no_empty_path(cls, value: object) -> object:
        # An empty variable would become Path("."), the working directory.
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty: give a file's path, or leave the variable unset")
        return value

    @field_validator("otel_traces_exporter")
    @classmethod
    def _known_exporters(cls, value: str) -> str:
        names = [part.strip() for part in value.split(",")]
        unknown = [name for name in names if name not in TRACES_EXPORTERS]
        if unknown:
            raise ValueError(
                f"unknown exporter {unknown[0]!r}: give otlp, console, both "
                "comma-separated, or none"
            )
        return value

    @model_validator(mode="after")
    def _resolve_defaults(self) -> Settings:
        demo = self.tenants_file is None if self.demo is None else self.demo
        object.__setattr__(self, "demo", demo)
        if self.cache_shared is None:
            object.__setattr__(self, "cache_shared", bool(self.redis_url))
        if self.graphiql is None:
            object.__setattr__(self, "graphiql", demo)
        if self.introspection is None:
            # GraphiQL without introspection has no documentation and no completion.
            object.__setattr__(self, "introspection", demo or bool(self.graphiql))
        if not demo and self.tenants_file is None:
            raise ValueError("GATEWAY_TENANTS_FILE is required when GATEWAY_DEMO is false")
        if self.metrics_port and self.metrics_port == self.port:
            raise ValueError("GATEWAY_METRICS_PORT must differ from GATEWAY_PORT (0 turns it off)")
        if 0 < self.upstream_circuit_window < self.upstream_circuit_min_calls:
            raise ValueError(
                "GATEWAY_UPSTREAM_CIRCUIT_MIN_CALLS must not exceed GATEWAY_UPSTREAM_CIRCUIT_WINDOW"
            )
        if self.trusted_documents_only and self.trusted_documents_file is None:
            raise ValueError(
                "GATEWAY_TRUSTED_DOCUMENTS_FILE is required when GATEWAY_TRUSTED_DOCUMENTS_ONLY is true"
            )
        return self

    @property
    def shares_cache(self) -> bool:
        """Whether the replicas share a cache tier in Redis."""
        return bool(self.cache_shared and self.redis_url)

    @property
    def is_demo(self) -> bool:
        return bool(self.demo)

    @property
    def base_url(self) -> str:
        """The Telnyx base URL with no trailing slash; operation paths are appended to it."""
        return str(self.telnyx_base_url).rstrip("/")


TRACES_EXPORTERS = frozenset({"otlp", "console", "none"})


@dataclass(frozen=True, slots=True)
class Documented:
    """One setting as the README and ``serve --help`` show it."""

    variable: str
    default: str  # Markdown: a value in backticks, or words saying how it is chosen
    meaning: str  # Markdown


def variable(field_name: str) -> str:
    """The environment variable of a Settings field (or of an alias, given as is)."""
    field = Settings.model_fields.get(field_name)
    if field is None:
        return field_name
    alias = field.validation_alias
    return alias if isinstance(alias, str) else f"GATEWAY_{field_name.upper()}"


def _default_text(default: object) -> str:
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, float) and default.is_integer():
        return f"`{int(default)}`"
    if isinstance(default, int) and default >= MIB and default % MIB == 0:
        return f"`{default}` ({default // MIB} MiB)"
    return f"`{default}`"


def documented() -> list[Documented]:
    """Every setting, in the order of `Settings`, from the fields' metadata."""
    rows = []
    for name, field in Settings.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        shown = extra.get(_SHOWN)
        default = shown if isinstance(shown, str) else _default_text(field.default)
        rows.append(Documented(variable(name), default, field.description or ""))
    return rows
