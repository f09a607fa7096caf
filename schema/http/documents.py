"""Which documents may run: trusted documents from a file, and Apollo's persisted queries.

A request names its document by text (`query`), by hash (`extensions.persistedQuery`,
Apollo's APQ protocol: `{"version": 1, "sha256Hash": "<hex>"}`), or both, which registers
the text under its hash once it has parsed and validated. The trusted documents are the
operators' own, shared by every tenant. APQ registrations are kept per tenant: a shared
store would tell any tenant whether another has sent a given document, and a document's
literals (a phone number, a name) are that tenant's data.

With `trusted_only`, only the trusted documents run, by hash or by full text, and APQ
registration is off. Refusals are `BAD_USER_INPUT`, except the two codes Apollo clients
act on: `PERSISTED_QUERY_NOT_FOUND` (send the full text) and
`PERSISTED_QUERY_NOT_SUPPORTED` (stop sending hashes).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.lru import TenantLRU, weight
from schema.api.errors import BAD_USER_INPUT

PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
PERSISTED_QUERY_NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
MANIFEST_FORMAT = "apollo-persisted-query-manifest"
NOT_REGISTERED = "Only registered documents run on this gateway, and this one is not registered."


def document_hash(text: str) -> str:
    """The hex sha256 of a document's UTF-8 text, as Apollo clients compute it."""
    return hashlib.sha256(text.encode()).hexdigest()


class TrustedDocumentsError(ValueError):
    """The trusted documents file cannot be used; the message says where and why."""


class DocumentRefusedError(Exception):
    """The request's document may not run: `message` and `code` are the GraphQL error's."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _entries(parsed: Any) -> list[tuple[str, Any, Any]]:
    """(where, id, body) of each document in either file format."""
    if not isinstance(parsed, dict):
        raise TrustedDocumentsError("expected a JSON object")
    if "format" not in parsed:
        return [(repr(key), key, body) for key, body in parsed.items()]
    if parsed["format"] != MANIFEST_FORMAT:
        raise TrustedDocumentsError(f"format: expected {MANIFEST_FORMAT!r}")
    operations = parsed.get("operations")
    if not isinstance(operations, list):
        raise TrustedDocumentsError("operations: expected a list")
    entries = []
    for index, operation in enumerate(operations):
        if not isinstance(operation, dict):
            raise TrustedDocumentsError(f"operations.{index}: expected an object")
        entries.append((f"operations.{index}", operation.get("id"), operation.get("body")))
    return entries


def load_trusted_documents(path: Path) -> dict[str, str]:
    """The documents of a trusted documents file, by hash; every hash is checked.

    The file is either `{"<sha256>": "<document>", ...}` or an Apollo persisted query
    manifest: `{"format": "apollo-persisted-query-manifest", "version": 1,
    "operations": [{"id": "<sha256>", "body": "<document>", "name": ..., "type": ...}]}`.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TrustedDocumentsError(
            f"cannot read trusted documents file {path}: {exc.strerror}"
        ) from None
    try:
        parsed = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise TrustedDocumentsError(f"invalid trusted documents file {path}: not JSON") from None
    documents: dict[str, str] = {}
    try:
        for where, key, body in _entries(parsed):
            if not isinstance(body, str) or not body.strip():
                raise TrustedDocumentsError(f"{where}: the document must be a non-empty string")
            if not isinstance(key, str) or document_hash(body) != key.lower():
                raise TrustedDocumentsError(f"{where}: the id is not the sha256 of the document")
            documents[key.lower()] = body
    except TrustedDocumentsError as exc:
        raise TrustedDocumentsError(f"invalid trusted documents file {path}: {exc}") from None
    if not documents:
        raise TrustedDocumentsError(f"invalid trusted documents file {path}: no documents")
    return documents


@dataclass(frozen=True, slots=True)
class Resolved:
    """The text to run, and the hash to register it under once it has validated."""

    query: str | None
    register: str | None = None


def _persisted_hash(extensions: Mapping[str, Any] | None) -> str | None:
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    version = persisted.get("version") if isinstance(persisted, dict) else None
    if type(version) is not int or version != 1:
        raise DocumentRefusedError("Unsupported persisted query version.", BAD_USER_INPUT)
    sha = persisted.get("sha256Hash")
    if not isinstance(sha, str):
        raise DocumentRefusedError("persistedQuery.sha256Hash must be a string.", BAD_USER_INPUT)
    return sha.lower()


class Documents:
    """The trusted documents and the APQ registrations, within `apq_bytes` in total and
    `apq_tenant_bytes` per tenant of memory (least recently used go first)."""

    def __init__(
        self,
        trusted: Mapping[str, str] | None = None,
        *,
        trusted_only: bool = False,
        apq_bytes: int = 8 * 1024 * 1024,
        apq_tenant_bytes: int = 2 * 1024 * 1024,
    ) -> None:
        self._trusted = dict(trusted or {})
        self._trusted_only = trusted_only
        self._apq: TenantLRU[tuple[str, str], str] | None = (
            TenantLRU(max_bytes=apq_bytes, tenant_max_bytes=apq_tenant_bytes)
            if apq_bytes and not trusted_only
            else None
        )

    def resolve(
        self, tenant_id: str, query: str | None, extensions: Mapping[str, Any] | None
    ) -> Resolved:
        """What runs for this request; `DocumentRefusedError` when nothing may."""
        sha = _persisted_hash(extensions)
        if sha is None:
            if (
                self._trusted_only
                and query is not None
                and document_hash(query) not in self._trusted
            ):
                raise DocumentRefusedError(NOT_REGISTERED, BAD_USER_INPUT)
            return Resolved(query)
        if query is None:
            found = self._trusted.get(sha)
            if found is None and self._apq is not None:
                found = self._apq.get((tenant_id, sha))
            if found is not None:
                return Resolved(found)
            if self._trusted_only:
                raise DocumentRefusedError(NOT_REGISTERED, BAD_USER_INPUT)
            if self._apq is None:
                raise DocumentRefusedError(
                    "PersistedQueryNotSupported", PERSISTED_QUERY_NOT_SUPPORTED
                )
            raise DocumentRefusedError("PersistedQueryNotFound", PERSISTED_QUERY_NOT_FOUND)
        if document_hash(query) != sha:
            raise DocumentRefusedError("provided sha does not match query", BAD_USER_INPUT)
        if self._trusted_only and sha not in self._trusted:
            raise DocumentRefusedError(NOT_REGISTERED, BAD_USER_INPUT)
        register = self._apq is not None and sha not in self._trusted
        return Resolved(query, register=sha if register else None)

    def register(self, tenant_id: str, sha: str, query: str) -> None:
        """Keep `query` for `tenant_id` under its hash (it has parsed and validated)."""
        if self._apq is None:
            return
        key = (tenant_id, sha)
        # What keeping it costs: the text, the key and its hash string, and the entry.
        self._apq.put(key, query, tenant=tenant_id, size=weight(query, key, sha))
