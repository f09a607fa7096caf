"""Tenants: who may call the gateway, and with which Telnyx key.

Callers present ``Authorization: Bearer <token>``; the registry keeps only the sha256 of
each token and compares digests in constant time. The tenants file is JSON::

    {"tenants": [{"id": "acme", "token_sha256": "<hex>", "telnyx_api_key": "KEY..."}]}

where ``telnyx_api_key_file`` (a path, e.g. a mounted Kubernetes secret) may stand in for
``telnyx_api_key``, and an optional ``"rate_limit": {"per_second": 5, "burst": 10}``
overrides the gateway's default rate limit for that tenant.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from gateway.errors import AuthenticationError


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket: `per_second` requests on average, up to `burst` at once."""

    per_second: float
    burst: int


@dataclass(frozen=True, slots=True)
class Tenant:
    """A caller of the gateway and the Telnyx account it maps to.

    The key is a `SecretStr`, so it prints as ``**********`` in reprs and tracebacks.
    `rate_limit` is None when the gateway's default applies.
    """

    id: str
    telnyx_api_key: SecretStr = field(repr=False)
    rate_limit: RateLimit | None = None


class TenantsFileError(ValueError):
    """The tenants file cannot be used; the message names the problem, never a secret."""


# Where an ASGI request's authentication is kept: (registry, tenant or None).
_AUTHENTICATED = "gateway.authenticated"


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class _RateLimitEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    per_second: float = Field(gt=0)
    burst: int = Field(ge=1)


class _TenantEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$")
    token_sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    telnyx_api_key: SecretStr | None = None
    telnyx_api_key_file: Path | None = None
    rate_limit: _RateLimitEntry | None = None

    @model_validator(mode="after")
    def _one_key_source(self) -> _TenantEntry:
        if (self.telnyx_api_key is None) == (self.telnyx_api_key_file is None):
            raise ValueError("give exactly one of telnyx_api_key and telnyx_api_key_file")
        return self


class _TenantsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    tenants: list[_TenantEntry] = Field(min_length=1)


class TenantRegistry:
    """The known tenants, found by the sha256 of their bearer token."""

    def __init__(self, tenants: Iterable[tuple[Tenant, bytes]]) -> None:
        self._by_digest: list[tuple[bytes, Tenant]] = []
        seen_ids: set[str] = set()
        seen_digests: set[bytes] = set()
        for tenant, digest in tenants:
            if tenant.id in seen_ids:
                raise TenantsFileError(f"tenant id {tenant.id!r} appears twice")
            if digest in seen_digests:
                raise TenantsFileError(f"tenant {tenant.id!r} shares its token hash with another")
            seen_ids.add(tenant.id)
            seen_digests.add(digest)
            self._by_digest.append((digest, tenant))

    @classmethod
    def from_tokens(cls, tenants: Iterable[tuple[Tenant, str]]) -> TenantRegistry:
        """Build a registry from plain tokens (demo mode and tests)."""
        return cls((tenant, token_digest(token)) for tenant, token in tenants)

    @classmethod
    def from_file(cls, path: Path) -> TenantRegistry:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise TenantsFileError(f"cannot read tenants file {path}: {exc.strerror}") from None
        try:
            parsed = _TenantsFile.model_validate_json(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'file'}: {error['msg']}"
                for error in exc.errors(include_url=False, include_input=False)
            )
            raise TenantsFileError(f"invalid tenants file {path}: {problems}") from None
        entries = []
        for index, entry in enumerate(parsed.tenants):
            if entry.telnyx_api_key_file is not None:
                key_path = entry.telnyx_api_key_file
                if not key_path.is_absolute():
                    key_path = path.parent / key_path
                try:
                    key = SecretStr(key_path.read_text().strip())
                except OSError as exc:
                    raise TenantsFileError(
                        f"invalid tenants file {path}: tenants.{index}.telnyx_api_key_file: "
                        f"cannot read {key_path}: {exc.strerror}"
                    ) from None
            else:
                assert entry.telnyx_api_key is not None  # noqa: S101  -- checked by the model
                key = entry.telnyx_api_key
            if not key.get_secret_value():
                raise TenantsFileError(
                    f"invalid tenants file {path}: tenants.{index}: the Telnyx key is empty"
                )
            limit = entry.rate_limit
            rate_limit = None if limit is None else RateLimit(limit.per_second, limit.burst)
            entries.append((Tenant(entry.id, key, rate_limit), bytes.fromhex(entry.token_sha256)))
        return cls(entries)

    def __len__(self) -> int:
        return len(self._by_digest)

    def authenticate(self, authorization: str | None) -> Tenant:
        """The tenant whose token is in an ``Authorization: Bearer`` header value."""
        if not authorization:
            raise AuthenticationError()
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationError()
        digest = token_digest(token)
        found: Tenant | None = None
        # Compare against every tenant, without an early exit, so timing tells nothing.
        for candidate, tenant in self._by_digest:
            if hmac.compare_digest(candidate, digest):
                found = tenant
        if found is None:
            raise AuthenticationError()
        return found

    def authenticate_scope(self, scope: MutableMapping[str, Any]) -> Tenant:
        """`authenticate` for an ASGI request, once per request: the outcome is kept in the
        scope, so the server span and the face that answers hash the token once between them.
        """
        kept = scope.get(_AUTHENTICATED)
        if kept is None or kept[0] is not self:
            authorization = next(
                (value for name, value in scope["headers"] if name == b"authorization"), None
            )
            try:
                tenant: Tenant | None = self.authenticate(
                    None if authorization is None else authorization.decode("latin-1")
                )
            except AuthenticationError:
                tenant = None
            kept = scope[_AUTHENTICATED] = (self, tenant)
        if kept[1] is None:
            raise AuthenticationError()
        return kept[1]


def new_token() -> tuple[str, str]:
    """A fresh random bearer token and its sha256 hex digest, for the tenants file."""
    token = secrets.token_urlsafe(32)
    return token, hashlib.sha256(token.encode()).hexdigest()


def dump_example(token_sha256: str) -> str:
    """A tenants-file entry for a freshly made token (the key left to fill in)."""
    return json.dumps(
        {"id": "my-tenant", "token_sha256": token_sha256, "telnyx_api_key": "KEY..."}, indent=2
    )
