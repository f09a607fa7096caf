"""Tenants: who may call the gateway, and with which Telnyx key.

Callers present ``Authorization: Bearer <token>``; the registry keeps only the sha256 of
each token and compares digests in constant time. The tenants file is JSON::

    {"tenants": [{"id": "acme", "token_sha256": "<hex>", "telnyx_api_key": "KEY..."}]}

where ``telnyx_api_key_file`` (a path, e.g. a mounted Kubernetes secret) may stand in for
``telnyx_api_key``, an optional ``"rate_limit": {"per_second": 5, "burst": 10}``
overrides the gateway's default rate limit for that tenant, and an optional
``"upstream_budget": {"per_second": 10, "burst": 1}`` the calls its Telnyx account may
receive (tenants that share a key share that budget, so they must give the same one).

A registry can `replace` its tenants with another registry's while requests are served:
requests that already authenticated keep the `Tenant` (and so the key) they found.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

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
    `rate_limit` and `upstream_budget` are None when the gateway's defaults apply.
    """

    id: str
    telnyx_api_key: SecretStr = field(repr=False)
    rate_limit: RateLimit | None = None
    upstream_budget: RateLimit | None = None


class TenantsFileError(ValueError):
    """The tenants file cannot be used; the message names the problem, never a secret."""


# Far above any real file; a bound all the same, since the files are read while serving.
MAX_TENANTS_FILE_BYTES = 16 * 1024 * 1024
MAX_KEY_FILE_BYTES = 64 * 1024
# What an HTTP header can carry (as the upstream caller checks before each call).
_KEY_SHAPE = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True, slots=True)
class Rotation:
    """What a `TenantRegistry.replace` changed, by tenant id (ids are not secrets)."""

    tenants: int
    added: tuple[str, ...]
    removed: tuple[str, ...]
    rekeyed: tuple[str, ...]  # same id, another Telnyx key: maybe another Telnyx account


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
    upstream_budget: _RateLimitEntry | None = None

    @field_validator("telnyx_api_key_file", mode="before")
    @classmethod
    def _no_empty_path(cls, value: object) -> object:
        # An empty path would name the tenants file's own directory.
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty: give the key file's path")
        return value

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
        table: list[tuple[bytes, Tenant]] = []
        seen_ids: set[str] = set()
        seen_digests: set[bytes] = set()
        for tenant, digest in tenants:
            if tenant.id in seen_ids:
                raise TenantsFileError(f"tenant id {tenant.id!r} appears twice")
            if digest in seen_digests:
                raise TenantsFileError(f"tenant {tenant.id!r} shares its token hash with another")
            seen_ids.add(tenant.id)
            seen_digests.add(digest)
            table.append((digest, tenant))
        # Replaced whole, never changed in place: a request reads it once.
        self._by_digest: tuple[tuple[bytes, Tenant], ...] = tuple(table)
        self.version = 0

    @classmethod
    def from_tokens(cls, tenants: Iterable[tuple[Tenant, str]]) -> TenantRegistry:
        """Build a registry from plain tokens (demo mode and tests)."""
        return cls((tenant, token_digest(token)) for tenant, token in tenants)

    @classmethod
    def from_file(cls, path: Path) -> TenantRegistry:
        raw = _read(path, MAX_TENANTS_FILE_BYTES, "tenants file")
        try:
            parsed = _TenantsFile.model_validate_json(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'file'}: {error['msg']}"
                for error in exc.errors(include_url=False, include_input=False)
            )
            raise TenantsFileError(f"invalid tenants file {path}: {problems}") from None
        entries = []
        budgets: dict[str, tuple[str, RateLimit | None]] = {}
        for index, entry in enumerate(parsed.tenants):
            where = f"invalid tenants file {path}: tenants.{index}"
            if entry.telnyx_api_key_file is not None:
                key_path = key_file_path(path, entry.telnyx_api_key_file)
                try:
                    secret = _read(key_path, MAX_KEY_FILE_BYTES, "key file").decode()
                except TenantsFileError as exc:
                    raise TenantsFileError(f"{where}.telnyx_api_key_file: {exc}") from None
                except UnicodeDecodeError:
                    raise TenantsFileError(
                        f"{where}.telnyx_api_key_file: {key_path} is not UTF-8 text"
                    ) from None
            else:
                assert entry.telnyx_api_key is not None  # noqa: S101  -- checked by the model
                secret = entry.telnyx_api_key.get_secret_value()
            # Surrounding whitespace (a file's final newline) is never part of a key.
            secret = secret.strip()
            if not secret:
                raise TenantsFileError(f"{where}: the Telnyx key is empty")
            if not _KEY_SHAPE.fullmatch(secret):
                raise TenantsFileError(
                    f"{where}: the Telnyx key holds characters an HTTP header cannot carry"
                )
            limit = entry.rate_limit
            rate_limit = None if limit is None else RateLimit(limit.per_second, limit.burst)
            budget = entry.upstream_budget
            upstream_budget = None if budget is None else RateLimit(budget.per_second, budget.burst)
            # One key is one Telnyx account, and so one budget: two would race for it.
            first = budgets.setdefault(secret, (entry.id, upstream_budget))
            if first[1] != upstream_budget:
                raise TenantsFileError(
                    f"{where}.upstream_budget: tenant {entry.id!r} shares its Telnyx key with "
                    f"tenant {first[0]!r}, so it must give the same upstream_budget"
                )
            tenant = Tenant(entry.id, SecretStr(secret), rate_limit, upstream_budget)
            entries.append((tenant, bytes.fromhex(entry.token_sha256)))
        return cls(entries)

    def __len__(self) -> int:
        return len(self._by_digest)

    def replace(self, other: TenantRegistry) -> Rotation:
        """Serve `other`'s tenants from now on, in one step, and say what changed."""
        old = {tenant.id: tenant for _, tenant in self._by_digest}
        new = {tenant.id: tenant for _, tenant in other._by_digest}
        rekeyed = [
            tenant_id
            for tenant_id, tenant in new.items()
            if tenant_id in old
            and not hmac.compare_digest(
                tenant.telnyx_api_key.get_secret_value().encode(),
                old[tenant_id].telnyx_api_key.get_secret_value().encode(),
            )
        ]
        self._by_digest = other._by_digest
        self.version += 1
        return Rotation(
            tenants=len(new),
            added=tuple(sorted(new.keys() - old.keys())),
            removed=tuple(sorted(old.keys() - new.keys())),
            rekeyed=tuple(sorted(rekeyed)),
        )

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
        scope, so the server span and the face that answers hash the token once between them,
        and find the same tenant even if the registry is replaced in between.
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


def key_file_path(tenants_file: Path, key_file: Path) -> Path:
    """Where a `telnyx_api_key_file` is: relative paths are relative to the tenants file."""
    return key_file if key_file.is_absolute() else tenants_file.parent / key_file


def key_files(tenants_file: Path, raw: bytes) -> list[Path]:
    """The key files a tenants file's text names; none when the text is not a valid file."""
    try:
        parsed = _TenantsFile.model_validate_json(raw)
    except ValidationError:
        return []
    return [
        key_file_path(tenants_file, entry.telnyx_api_key_file)
        for entry in parsed.tenants
        if entry.telnyx_api_key_file is not None
    ]


def _read(path: Path, limit: int, what: str) -> bytes:
    try:
        with path.open("rb") as file:
            raw = file.read(limit + 1)
    except OSError as exc:
        raise TenantsFileError(f"cannot read {what} {path}: {exc.strerror}") from None
    if len(raw) > limit:
        raise TenantsFileError(f"{what} {path} is larger than {limit} bytes")
    return raw


def new_token() -> tuple[str, str]:
    """A fresh random bearer token and its sha256 hex digest, for the tenants file."""
    token = secrets.token_urlsafe(32)
    return token, hashlib.sha256(token.encode()).hexdigest()


def dump_example(token_sha256: str) -> str:
    """A tenants-file entry for a freshly made token (the key left to fill in)."""
    return json.dumps(
        {"id": "my-tenant", "token_sha256": token_sha256, "telnyx_api_key": "KEY..."}, indent=2
    )
