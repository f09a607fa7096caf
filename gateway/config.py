"""Settings: the one module that reads the environment (prefix ``GATEWAY_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, HttpUrl, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_TELNYX_BASE_URL = "https://api.telnyx.com/v2"
MIB = 1024 * 1024


class Settings(BaseSettings):
    """Every knob of the gateway; each is documented in the README's settings table."""

    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_", extra="ignore", frozen=True, populate_by_name=True
    )

    # Serving
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    shutdown_grace_period: int = Field(default=20, ge=0)

    # Tenants and demo mode
    tenants_file: Path | None = None
    demo: bool | None = None  # resolved below: true exactly when no tenants file is given
    demo_token: str = "demo-token"  # noqa: S105  -- demo only; refused outside demo mode

    # Upstream (Telnyx)
    telnyx_base_url: HttpUrl = HttpUrl(DEFAULT_TELNYX_BASE_URL)
    upstream_connect_timeout: float = Field(default=5.0, gt=0)
    upstream_timeout: float = Field(default=10.0, gt=0)
    upstream_deadline: float = Field(default=20.0, gt=0)
    upstream_max_retries: int = Field(default=2, ge=0, le=10)
    upstream_max_retry_delay: float = Field(default=8.0, ge=0)
    upstream_retry_budget_ratio: float = Field(default=0.2, ge=0)
    upstream_retry_budget_min_per_second: float = Field(default=10.0, ge=0)
    upstream_max_connections: int = Field(default=100, ge=1)
    upstream_max_keepalive: int = Field(default=50, ge=0)
    upstream_transport: Literal["aiohttp", "httpx"] = "aiohttp"
    tenant_upstream_concurrency: int = Field(default=16, ge=1)

    # Cache
    # Byte budgets: what the kept entries cost in memory, in total and per tenant.
    cache_max_bytes: int = Field(default=96 * MIB, ge=0)  # 0 disables caching
    cache_tenant_max_bytes: int = Field(default=24 * MIB, ge=0)
    cache_ttl_profiles: float = Field(default=30.0, ge=0)
    cache_ttl_short_codes: float = Field(default=30.0, ge=0)
    cache_ttl_phone_numbers: float = Field(default=30.0, ge=0)
    cache_stale_if_error: float = Field(default=300.0, ge=0)

    # GraphQL
    graphiql: bool | None = None  # defaults to the demo flag
    introspection: bool | None = None  # defaults to the demo flag
    max_page_size: int = Field(default=100, ge=1, le=1000)
    max_query_depth: int = Field(default=10, ge=1)
    max_aliases: int = Field(default=30, ge=1)
    max_tokens: int = Field(default=2_000, ge=1)
    max_query_cost: int = Field(default=500, ge=1)  # worst-case upstream calls per request
    max_query_items: int = Field(default=2_000, ge=1)  # items the answers of a request can hold
    tenant_heavy_queries: int = Field(default=1, ge=1)  # heavy documents a tenant runs at once
    max_batch_size: int = Field(default=10, ge=0)  # 0 refuses batches
    apq_cache_bytes: int = Field(default=8 * MIB, ge=0)  # 0 turns APQ off
    apq_tenant_cache_bytes: int = Field(default=2 * MIB, ge=0)
    trusted_documents_file: Path | None = None
    trusted_documents_only: bool = False
    response_cache_max_bytes: int = Field(default=32 * MIB, ge=0)  # 0 turns it off
    response_cache_tenant_max_bytes: int = Field(default=8 * MIB, ge=0)
    nested_fan_in: bool = True  # nested lists of many profiles from the account-wide lists
    # Speed-ups that reach into libraries' internals (schema.speedups, gateway.otlp).
    speedups: bool = True

    # Request limits
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    rate_limit_per_second: float = Field(default=50.0, gt=0)
    rate_limit_burst: int = Field(default=100, ge=1)

    # Cross-replica coherence
    redis_url: str | None = None
    redis_down_ttl: float = Field(default=5.0, ge=0)  # cache freshness while Redis is away

    # Telemetry: the standard OpenTelemetry variables, read here and nowhere else.
    otel_service_name: str = Field(
        default="telnyx-messaging-gateway", validation_alias="OTEL_SERVICE_NAME"
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    otel_exporter_otlp_traces_endpoint: str | None = Field(
        default=None, validation_alias="OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    otel_traces_exporter: str = Field(default="otlp", validation_alias="OTEL_TRACES_EXPORTER")
    otel_sdk_disabled: bool = Field(default=False, validation_alias="OTEL_SDK_DISABLED")

    @model_validator(mode="after")
    def _resolve_defaults(self) -> Settings:
        demo = self.tenants_file is None if self.demo is None else self.demo
        object.__setattr__(self, "demo", demo)
        if self.graphiql is None:
            object.__setattr__(self, "graphiql", demo)
        if self.introspection is None:
            object.__setattr__(self, "introspection", demo)
        if not demo and self.tenants_file is None:
            raise ValueError("GATEWAY_TENANTS_FILE is required when GATEWAY_DEMO is false")
        if self.trusted_documents_only and self.trusted_documents_file is None:
            raise ValueError(
                "GATEWAY_TRUSTED_DOCUMENTS_FILE is required when GATEWAY_TRUSTED_DOCUMENTS_ONLY is true"
            )
        return self

    @property
    def is_demo(self) -> bool:
        return bool(self.demo)

    @property
    def base_url(self) -> str:
        """The Telnyx base URL with no trailing slash; operation paths are appended to it."""
        return str(self.telnyx_base_url).rstrip("/")
