"""Trusted documents files, and which document a request runs (APQ included)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.lru import weight
from schema.http.documents import (
    DocumentRefusedError,
    Documents,
    Resolved,
    TrustedDocumentsError,
    document_hash,
    load_trusted_documents,
)

COUNT = "{ messagingProfiles { totalCount } }"
NAMES = "{ messagingProfiles { edges { node { name } } } }"
COUNT_SHA = hashlib.sha256(COUNT.encode()).hexdigest()
NAMES_SHA = hashlib.sha256(NAMES.encode()).hexdigest()


def apq(sha: str, version: object = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha}}


def refusal(
    documents: Documents, query: str | None, extensions: Any, tenant: str = "a"
) -> tuple[str, str]:
    with pytest.raises(DocumentRefusedError) as refused:
        documents.resolve(tenant, query, extensions)
    return refused.value.code, refused.value.message


def write(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "documents.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


# --- the file ------------------------------------------------------------------------


def test_document_hash_is_the_hex_sha256_of_the_text() -> None:
    assert document_hash("{ a }") == hashlib.sha256(b"{ a }").hexdigest()


def test_a_map_of_hashes_to_documents(tmp_path: Path) -> None:
    path = write(tmp_path, {COUNT_SHA: COUNT, NAMES_SHA.upper(): NAMES})
    assert load_trusted_documents(path) == {COUNT_SHA: COUNT, NAMES_SHA: NAMES}


def test_an_apollo_manifest(tmp_path: Path) -> None:
    manifest = {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [
            {"id": COUNT_SHA, "body": COUNT, "name": "Count", "type": "query"},
            {"id": NAMES_SHA, "body": NAMES, "name": "Names", "type": "query"},
        ],
    }
    assert load_trusted_documents(write(tmp_path, manifest)) == {
        COUNT_SHA: COUNT,
        NAMES_SHA: NAMES,
    }


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not JSON"),
        ([COUNT], "expected a JSON object"),
        ({}, "no documents"),
        ({NAMES_SHA: COUNT}, f"{NAMES_SHA!r}: the id is not the sha256 of the document"),
        ({COUNT_SHA: ""}, f"{COUNT_SHA!r}: the document must be a non-empty string"),
        ({COUNT_SHA: 5}, f"{COUNT_SHA!r}: the document must be a non-empty string"),
        (
            {"format": "relay", "operations": []},
            "format: expected 'apollo-persisted-query-manifest'",
        ),
        ({"format": "apollo-persisted-query-manifest"}, "operations: expected a list"),
        (
            {"format": "apollo-persisted-query-manifest", "operations": ["x"]},
            "operations.0: expected an object",
        ),
        (
            {
                "format": "apollo-persisted-query-manifest",
                "operations": [
                    {"id": COUNT_SHA, "body": COUNT},
                    {"id": COUNT_SHA, "body": NAMES, "name": "Names"},
                ],
            },
            "operations.1: the id is not the sha256 of the document",
        ),
        (
            {"format": "apollo-persisted-query-manifest", "operations": [{"body": COUNT}]},
            "operations.0: the id is not the sha256 of the document",
        ),
    ],
)
def test_an_invalid_file_is_refused_saying_where(
    tmp_path: Path, content: object, problem: str
) -> None:
    path = write(tmp_path, content)
    with pytest.raises(TrustedDocumentsError) as refused:
        load_trusted_documents(path)
    assert str(refused.value) == f"invalid trusted documents file {path}: {problem}"


def test_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(TrustedDocumentsError) as refused:
        load_trusted_documents(path)
    assert str(refused.value) == (
        f"cannot read trusted documents file {path}: No such file or directory"
    )


# --- APQ -----------------------------------------------------------------------------


def test_a_plain_query_runs_as_sent() -> None:
    assert Documents().resolve("a", COUNT, None) == Resolved(COUNT)
    assert Documents().resolve("a", None, None) == Resolved(None)


def test_apq_registers_a_verified_query_and_then_finds_it_by_hash() -> None:
    documents = Documents()
    assert refusal(documents, None, apq(COUNT_SHA)) == (
        "PERSISTED_QUERY_NOT_FOUND",
        "PersistedQueryNotFound",
    )
    resolved = documents.resolve("a", COUNT, apq(COUNT_SHA))
    assert resolved == Resolved(COUNT, register=COUNT_SHA)
    documents.register("a", COUNT_SHA, COUNT)
    assert documents.resolve("a", None, apq(COUNT_SHA)) == Resolved(COUNT)
    assert documents.resolve("a", None, apq(COUNT_SHA.upper())) == Resolved(COUNT)


def test_apq_registrations_are_per_tenant() -> None:
    documents = Documents()
    documents.register("a", COUNT_SHA, COUNT)
    assert refusal(documents, None, apq(COUNT_SHA), tenant="b")[0] == "PERSISTED_QUERY_NOT_FOUND"


def test_a_hash_that_does_not_match_the_query_is_refused() -> None:
    assert refusal(Documents(), NAMES, apq(COUNT_SHA)) == (
        "BAD_USER_INPUT",
        "provided sha does not match query",
    )


@pytest.mark.parametrize(
    "extensions", [apq(COUNT_SHA, 2), apq(COUNT_SHA, True), {"persistedQuery": "x"}]
)
def test_only_version_1_is_supported(extensions: dict[str, Any]) -> None:
    assert refusal(Documents(), None, extensions) == (
        "BAD_USER_INPUT",
        "Unsupported persisted query version.",
    )


def test_a_hash_must_be_a_string() -> None:
    assert refusal(Documents(), None, {"persistedQuery": {"version": 1, "sha256Hash": 5}}) == (
        "BAD_USER_INPUT",
        "persistedQuery.sha256Hash must be a string.",
    )


def kept(tenant: str, sha: str, text: str) -> int:
    """What keeping a document costs the store (its text, key and hash, and the entry)."""
    return weight(text, (tenant, sha), sha)


def test_the_store_forgets_the_least_recently_used_beyond_its_size() -> None:
    size = kept("a", COUNT_SHA, COUNT) + kept("a", NAMES_SHA, NAMES)
    documents = Documents(apq_bytes=size, apq_tenant_bytes=size)
    documents.register("a", COUNT_SHA, COUNT)
    documents.register("a", NAMES_SHA, NAMES)
    assert documents.resolve("a", None, apq(COUNT_SHA)) == Resolved(COUNT)  # now most recent
    third = "{ shortCodes { totalCount } }"
    documents.register("a", document_hash(third), third)
    assert documents.resolve("a", None, apq(COUNT_SHA)) == Resolved(COUNT)
    assert refusal(documents, None, apq(NAMES_SHA))[0] == "PERSISTED_QUERY_NOT_FOUND"


def test_a_document_larger_than_the_store_is_not_kept() -> None:
    documents = Documents(apq_bytes=kept("a", COUNT_SHA, COUNT) - 1)
    documents.register("a", COUNT_SHA, COUNT)
    assert refusal(documents, None, apq(COUNT_SHA))[0] == "PERSISTED_QUERY_NOT_FOUND"


def test_apq_off_says_not_supported() -> None:
    documents = Documents(apq_bytes=0)
    assert refusal(documents, None, apq(COUNT_SHA)) == (
        "PERSISTED_QUERY_NOT_SUPPORTED",
        "PersistedQueryNotSupported",
    )
    assert documents.resolve("a", COUNT, apq(COUNT_SHA)) == Resolved(COUNT)


# --- trusted documents -----------------------------------------------------------------

NOT_REGISTERED = (
    "BAD_USER_INPUT",
    "Only registered documents run on this gateway, and this one is not registered.",
)


def test_trusted_documents_run_by_hash_for_every_tenant_and_are_not_re_registered() -> None:
    documents = Documents({COUNT_SHA: COUNT})
    assert documents.resolve("a", None, apq(COUNT_SHA)) == Resolved(COUNT)
    assert documents.resolve("b", None, apq(COUNT_SHA)) == Resolved(COUNT)
    assert documents.resolve("a", COUNT, apq(COUNT_SHA)) == Resolved(COUNT)


def test_trusted_only_runs_registered_documents_by_hash_or_by_text() -> None:
    documents = Documents({COUNT_SHA: COUNT}, trusted_only=True)
    assert documents.resolve("a", None, apq(COUNT_SHA)) == Resolved(COUNT)
    assert documents.resolve("a", COUNT, None) == Resolved(COUNT)
    assert documents.resolve("a", COUNT, apq(COUNT_SHA)) == Resolved(COUNT)


def test_trusted_only_refuses_everything_else_and_registers_nothing() -> None:
    documents = Documents({COUNT_SHA: COUNT}, trusted_only=True)
    assert refusal(documents, NAMES, None) == NOT_REGISTERED
    assert refusal(documents, None, apq(NAMES_SHA)) == NOT_REGISTERED
    assert refusal(documents, NAMES, apq(NAMES_SHA)) == NOT_REGISTERED
    documents.register("a", NAMES_SHA, NAMES)
    assert refusal(documents, None, apq(NAMES_SHA)) == NOT_REGISTERED
