"""Tenants file loading and bearer-token authentication."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from gateway.errors import AuthenticationError
from gateway.tenancy import (
    MAX_KEY_FILE_BYTES,
    Rotation,
    Tenant,
    TenantRegistry,
    TenantsFileError,
    dump_example,
    key_files,
    new_token,
)

TOKEN = "s3cret-token-acme"
KEY = "KEYacme-telnyx-key"
KEY_SECRET = SecretStr(KEY)


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "tenants.json"
    path.write_text(json.dumps(document))
    return path


def test_a_valid_file_maps_each_token_to_its_tenant_and_key(tmp_path: Path) -> None:
    (tmp_path / "globex.key").write_text("KEYglobex-from-file\n")
    path = write(
        tmp_path,
        {
            "tenants": [
                {"id": "acme", "token_sha256": sha(TOKEN), "telnyx_api_key": KEY},
                {
                    "id": "globex",
                    "token_sha256": sha("other"),
                    "telnyx_api_key_file": "globex.key",
                },
            ]
        },
    )
    registry = TenantRegistry.from_file(path)
    acme = registry.authenticate(f"Bearer {TOKEN}")
    globex = registry.authenticate("bearer other")
    assert (acme.id, acme.telnyx_api_key.get_secret_value()) == ("acme", KEY)
    assert (globex.id, globex.telnyx_api_key.get_secret_value()) == (
        "globex",
        "KEYglobex-from-file",
    )
    assert KEY not in repr(acme)


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer ", "Basic abc", f"Token {TOKEN}", "Bearer wrong"]
)
def test_missing_malformed_or_unknown_tokens_are_refused(header: str | None) -> None:
    registry = TenantRegistry.from_tokens([(Tenant("acme", KEY_SECRET), TOKEN)])
    with pytest.raises(AuthenticationError) as caught:
        registry.authenticate(header)
    assert str(caught.value) == "A valid bearer token is required."


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"tenants": []}, "tenants: List should have at least 1 item after validation"),
        (
            {"tenants": [{"id": "acme", "token_sha256": "abc", "telnyx_api_key": KEY}]},
            "tenants.0.token_sha256: String should match pattern '^[0-9a-fA-F]{64}$'",
        ),
        (
            {"tenants": [{"id": "acme", "token_sha256": sha(TOKEN)}]},
            "tenants.0: Value error, give exactly one of telnyx_api_key and telnyx_api_key_file",
        ),
        (
            {
                "tenants": [
                    {"id": "acme", "token_sha256": sha(TOKEN), "telnyx_api_key": KEY},
                    {"id": "acme", "token_sha256": sha("x"), "telnyx_api_key": "KEYx"},
                ]
            },
            "tenant id 'acme' appears twice",
        ),
        (
            {
                "tenants": [
                    {"id": "acme", "token_sha256": sha(TOKEN), "telnyx_api_key": KEY},
                    {"id": "globex", "token_sha256": sha(TOKEN), "telnyx_api_key": "KEYx"},
                ]
            },
            "tenant 'globex' shares its token hash with another",
        ),
        (
            {"tenants": [{"id": "acme", "token_sha256": sha(TOKEN), "telnyx_api_key": ""}]},
            "tenants.0: the Telnyx key is empty",
        ),
        (
            {"tenants": [{"id": "acme", "token_sha256": sha(TOKEN), "telnyx_api_key": " \t\n"}]},
            "tenants.0: the Telnyx key is empty",
        ),
        (
            {"tenants": [{"id": "acme", "token_sha256": sha(TOKEN), "telnyx_api_key": f"{KEY} x"}]},
            "tenants.0: the Telnyx key holds characters an HTTP header cannot carry",
        ),
        (
            {"tenants": [{"id": "acme", "token_sha256": sha(TOKEN), "telnyx_api_key_file": ""}]},
            "tenants.0.telnyx_api_key_file: Value error, is empty: give the key file's path",
        ),
    ],
)
def test_invalid_files_name_the_problem_and_never_a_secret(
    tmp_path: Path, document: object, problem: str
) -> None:
    path = write(tmp_path, document)
    with pytest.raises(TenantsFileError) as caught:
        TenantRegistry.from_file(path)
    assert problem in str(caught.value)
    assert KEY not in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_an_unreadable_key_file_or_tenants_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TenantsFileError, match=r"cannot read tenants file .*missing\.json"):
        TenantRegistry.from_file(tmp_path / "missing.json")
    path = write(
        tmp_path,
        {"tenants": [{"id": "a", "token_sha256": sha(TOKEN), "telnyx_api_key_file": "nope"}]},
    )
    with pytest.raises(TenantsFileError, match=r"tenants\.0\.telnyx_api_key_file: cannot read"):
        TenantRegistry.from_file(path)


def test_keys_lose_surrounding_whitespace_wherever_they_come_from(tmp_path: Path) -> None:
    (tmp_path / "globex.key").write_text(f"  {KEY}\n\n")
    path = write(
        tmp_path,
        {
            "tenants": [
                {"id": "acme", "token_sha256": sha(TOKEN), "telnyx_api_key": f" {KEY}\n"},
                {"id": "globex", "token_sha256": sha("b"), "telnyx_api_key_file": "globex.key"},
            ]
        },
    )
    registry = TenantRegistry.from_file(path)
    for token in (TOKEN, "b"):
        assert registry.authenticate(f"Bearer {token}").telnyx_api_key.get_secret_value() == KEY


def test_a_key_file_that_is_too_large_is_refused_unread(tmp_path: Path) -> None:
    (tmp_path / "huge.key").write_bytes(b"K" * (64 * 1024 + 1))
    path = write(
        tmp_path,
        {"tenants": [{"id": "a", "token_sha256": sha(TOKEN), "telnyx_api_key_file": "huge.key"}]},
    )
    with pytest.raises(TenantsFileError) as caught:
        TenantRegistry.from_file(path)
    assert str(caught.value) == (
        f"invalid tenants file {path}: tenants.0.telnyx_api_key_file: "
        f"key file {tmp_path / 'huge.key'} is larger than 65536 bytes"
    )


def test_replace_swaps_every_tenant_at_once_and_says_what_changed() -> None:
    registry = TenantRegistry.from_tokens(
        [
            (Tenant("acme", KEY_SECRET), TOKEN),
            (Tenant("globex", SecretStr("KEYglobex")), "globex-token"),
            (Tenant("initech", SecretStr("KEYinitech")), "initech-token"),
        ]
    )
    held = registry.authenticate("Bearer globex-token")
    rotation = registry.replace(
        TenantRegistry.from_tokens(
            [
                (Tenant("acme", KEY_SECRET), "acme-new-token"),
                (Tenant("globex", SecretStr("KEYglobex2")), "globex-token"),
                (Tenant("umbrella", SecretStr("KEYumbrella")), "umbrella-token"),
            ]
        )
    )
    assert rotation == Rotation(
        tenants=3, added=("umbrella",), removed=("initech",), rekeyed=("globex",)
    )
    assert registry.version == 1
    assert len(registry) == 3
    for gone in (TOKEN, "initech-token"):
        with pytest.raises(AuthenticationError):
            registry.authenticate(f"Bearer {gone}")
    assert registry.authenticate("Bearer acme-new-token").id == "acme"
    assert registry.authenticate("Bearer globex-token").telnyx_api_key.get_secret_value() == (
        "KEYglobex2"
    )
    # Who authenticated before keeps what it found.
    assert held.telnyx_api_key.get_secret_value() == "KEYglobex"


def test_a_file_that_is_not_json_says_so_without_echoing_it(tmp_path: Path) -> None:
    path = tmp_path / "tenants.json"
    path.write_text(f'{{"tenants": [{{"telnyx_api_key": "{KEY}"')
    with pytest.raises(TenantsFileError) as caught:
        TenantRegistry.from_file(path)
    assert "Invalid JSON" in str(caught.value)
    assert KEY not in str(caught.value)


def test_new_token_returns_a_token_and_its_sha256() -> None:
    token, digest = new_token()
    assert len(token) == 43  # 32 random bytes, URL-safe base64 without padding
    assert digest == sha(token)
    registry = TenantRegistry(
        [(Tenant("acme", KEY_SECRET), bytes.fromhex(digest))],
    )
    assert registry.authenticate(f"Bearer {token}").id == "acme"


def test_a_request_is_authenticated_once_and_each_caller_gets_the_same_answer() -> None:
    acme = Tenant("acme", SecretStr("KEYacme"))
    registry = TenantRegistry.from_tokens([(acme, "token-a")])
    good: dict[str, Any] = {"headers": [(b"authorization", b"Bearer token-a")]}
    bad: dict[str, Any] = {"headers": [(b"authorization", b"Bearer nope")]}

    assert registry.authenticate_scope(good) is acme
    good["headers"] = []  # kept from the first call: the token is not read again
    assert registry.authenticate_scope(good) is acme
    for _ in range(2):
        with pytest.raises(AuthenticationError):
            registry.authenticate_scope(bad)
    # Another registry does not trust what this one kept.
    other = TenantRegistry.from_tokens([(Tenant("other", SecretStr("KEYo")), "token-o")])
    with pytest.raises(AuthenticationError):
        other.authenticate_scope(good)


@pytest.mark.parametrize("flipped", [0, 8, 31], ids=["first byte", "ninth byte", "last byte"])
def test_a_token_whose_digest_differs_from_a_tenants_in_any_one_byte_is_refused(
    flipped: int,
) -> None:
    near = bytearray(hashlib.sha256(TOKEN.encode()).digest())
    near[flipped] ^= 0x01
    registry = TenantRegistry([(Tenant("acme", KEY_SECRET), bytes(near))])
    with pytest.raises(AuthenticationError) as caught:
        registry.authenticate(f"Bearer {TOKEN}")
    assert str(caught.value) == "A valid bearer token is required."


def test_tokens_are_compared_by_whole_digest_in_constant_time_against_every_tenant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    registry = TenantRegistry.from_tokens(
        [(Tenant("acme", KEY_SECRET), TOKEN), (Tenant("globex", SecretStr("KEYg")), "other")]
    )
    assert registry.authenticate(f"Bearer {TOKEN}").id == "acme"
    digest = hashlib.sha256(TOKEN.encode()).digest()
    # The matching tenant comes first and the other is compared all the same.
    assert compared == [(digest, digest), (hashlib.sha256(b"other").digest(), digest)]


def test_every_problem_of_a_file_is_named_in_one_message(tmp_path: Path) -> None:
    path = write(tmp_path, {"tenants": [{"id": "", "token_sha256": "abc", "telnyx_api_key": KEY}]})
    with pytest.raises(TenantsFileError) as caught:
        TenantRegistry.from_file(path)
    assert str(caught.value) == (
        f"invalid tenants file {path}: "
        "tenants.0.id: String should have at least 1 character; "
        "tenants.0.token_sha256: String should match pattern '^[0-9a-fA-F]{64}$'"
    )


def test_a_file_that_is_not_an_object_says_the_file_is_the_problem(tmp_path: Path) -> None:
    path = write(tmp_path, [])
    with pytest.raises(TenantsFileError) as caught:
        TenantRegistry.from_file(path)
    assert str(caught.value) == (f"invalid tenants file {path}: file: Input should be an object")


def test_a_key_file_that_is_not_text_is_named(tmp_path: Path) -> None:
    (tmp_path / "acme.key").write_bytes(b"KEY\xff\xfe")
    path = write(
        tmp_path,
        {
            "tenants": [
                {"id": "acme", "token_sha256": sha(TOKEN), "telnyx_api_key_file": "acme.key"}
            ]
        },
    )
    with pytest.raises(TenantsFileError) as caught:
        TenantRegistry.from_file(path)
    assert str(caught.value) == (
        f"invalid tenants file {path}: tenants.0.telnyx_api_key_file: "
        f"{tmp_path / 'acme.key'} is not UTF-8 text"
    )


def test_an_absolute_key_file_path_is_used_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "acme.key").write_text(KEY)
    (tmp_path / "config").mkdir()
    path = write(
        tmp_path / "config",
        {
            "tenants": [
                {
                    "id": "acme",
                    "token_sha256": sha(TOKEN),
                    "telnyx_api_key_file": str(tmp_path / "secrets" / "acme.key"),
                }
            ]
        },
    )
    tenant = TenantRegistry.from_file(path).authenticate(f"Bearer {TOKEN}")
    assert tenant.telnyx_api_key.get_secret_value() == KEY


def test_spaces_between_the_scheme_and_the_token_are_not_part_of_the_token() -> None:
    registry = TenantRegistry.from_tokens([(Tenant("acme", KEY_SECRET), TOKEN)])
    assert registry.authenticate(f"Bearer   {TOKEN} ").id == "acme"


def test_each_replace_counts_one_version_more() -> None:
    registry = TenantRegistry.from_tokens([(Tenant("acme", KEY_SECRET), TOKEN)])
    for _ in range(2):
        registry.replace(TenantRegistry.from_tokens([(Tenant("acme", KEY_SECRET), TOKEN)]))
    assert registry.version == 2


def test_the_key_files_a_tenants_file_names_are_found_where_loading_reads_them(
    tmp_path: Path,
) -> None:
    document = {
        "tenants": [
            {"id": "a", "token_sha256": sha("a"), "telnyx_api_key_file": "keys/a.key"},
            {"id": "b", "token_sha256": sha("b"), "telnyx_api_key": KEY},
            {"id": "c", "token_sha256": sha("c"), "telnyx_api_key_file": "/run/c.key"},
        ]
    }
    raw = json.dumps(document).encode()
    assert key_files(tmp_path / "tenants.json", raw) == [
        tmp_path / "keys" / "a.key",
        Path("/run/c.key"),
    ]
    assert key_files(tmp_path / "tenants.json", b"{not json") == []


def test_the_example_entry_is_a_valid_tenant_but_for_its_key() -> None:
    assert json.loads(dump_example(sha(TOKEN))) == {
        "id": "my-tenant",
        "token_sha256": sha(TOKEN),
        "telnyx_api_key": "KEY...",
    }
    assert dump_example("ab").startswith('{\n  "id": "my-tenant",\n')


def test_a_key_file_of_exactly_the_bound_is_read_and_an_endless_one_is_refused(
    tmp_path: Path,
) -> None:
    (tmp_path / "full.key").write_bytes(b"K" * MAX_KEY_FILE_BYTES)
    entries = [
        {"id": "full", "token_sha256": sha("full"), "telnyx_api_key_file": "full.key"},
        {"id": "endless", "token_sha256": sha("endless"), "telnyx_api_key_file": "/dev/zero"},
    ]
    full = TenantRegistry.from_file(write(tmp_path, {"tenants": entries[:1]}))
    assert len(full.authenticate("Bearer full").telnyx_api_key.get_secret_value()) == (
        MAX_KEY_FILE_BYTES
    )
    path = write(tmp_path, {"tenants": entries[1:]})
    with pytest.raises(TenantsFileError) as caught:
        TenantRegistry.from_file(path)
    assert str(caught.value) == (
        f"invalid tenants file {path}: tenants.0.telnyx_api_key_file: "
        f"key file /dev/zero is larger than {MAX_KEY_FILE_BYTES} bytes"
    )
