"""The official Telnyx Python SDK against the gateway on a real socket: base URL = the
gateway's /v2, API key = the tenant token. Nothing else changes for the caller."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qsl

import httpx
import pytest
import telnyx
from starlette.applications import Starlette

from gateway.simulator import (
    SEED_PHONE_NUMBERS_PER_PROFILE,
    SEED_PROFILES,
    SEED_TOLL_FREE,
    SEED_UNASSIGNED_SHORT_CODES,
    Account,
    Simulator,
)
from tests.conftest import ALPHA_TOKEN
from tests.server import serve

pytestmark = pytest.mark.slow

DOCS = "https://developers.telnyx.com/docs/overview/errors/"
QUICK = {"retry-after-ms": "10"}  # keeps the gateway's own retries quick


class Attempts:
    """The statuses of every HTTP attempt the SDK made, retries included."""

    def __init__(self) -> None:
        self.statuses: list[int] = []

    def __call__(self, response: httpx.Response) -> None:
        self.statuses.append(response.status_code)


@pytest.fixture
def gateway(app: Starlette) -> Iterator[str]:
    with serve(app) as url:
        yield f"{url}/v2"


@pytest.fixture
def attempts() -> Attempts:
    return Attempts()


@pytest.fixture
def sdk(gateway: str, attempts: Attempts) -> Iterator[telnyx.Telnyx]:
    # The SDK's defaults (2 retries, its backoff): the point is how it behaves unchanged.
    http = telnyx.DefaultHttpxClient(event_hooks={"response": [attempts]})
    with telnyx.Telnyx(api_key=ALPHA_TOKEN, base_url=gateway, http_client=http) as client:
        yield client


def upstream(simulator: Simulator) -> list[tuple[str, str, dict[str, str], int | None]]:
    return [(r.method, r.path, dict(parse_qsl(r.query)), r.status) for r in simulator.requests]


def named(alpha: Account, name: str) -> str:
    found: str = next(p["id"] for p in alpha.profiles.values() if p["name"] == name)
    return found


# --- reads -------------------------------------------------------------------------------------


def test_auto_pagination_walks_every_page(
    sdk: telnyx.Telnyx, simulator: Simulator, alpha: Account
) -> None:
    alpha.add_profiles(45)

    ids = [profile.id for profile in sdk.messaging_profiles.list(page_size=10)]

    assert ids == list(alpha.profiles)
    assert len(ids) == SEED_PROFILES + 45
    assert upstream(simulator) == [
        ("GET", "/v2/messaging_profiles", {"page[number]": str(n), "page[size]": "10"}, 200)
        for n in range(1, 6)
    ]


def test_auto_pagination_of_a_profiles_numbers(
    sdk: telnyx.Telnyx, simulator: Simulator, alpha: Account
) -> None:
    profile = named(alpha, "Marketing")
    added = alpha.add_phone_numbers(7, messaging_profile_id=profile)

    numbers = list(sdk.messaging_profiles.list_phone_numbers(profile, page_size=4))

    assert len(numbers) == SEED_PHONE_NUMBERS_PER_PROFILE + 7
    assert [n.id for n in numbers][-7:] == [n["id"] for n in added]
    assert [q["page[number]"] for _, _, q, _ in upstream(simulator)] == ["1", "2", "3"]


def test_filters(sdk: telnyx.Telnyx, alpha: Account) -> None:
    support = list(sdk.messaging_profiles.list(filter={"name": "Support"}))
    exact = list(sdk.messaging_profiles.list(filter_name_eq="Marketing"))
    contains = list(sdk.messaging_profiles.list(filter_name_contains="ER"))
    unassigned = list(sdk.short_codes.list(filter={"messaging_profile_id": "null"}))
    profile = named(alpha, "Alerts")
    on_profile = list(sdk.short_codes.list(filter={"messaging_profile_id": profile}))
    tollfree = list(
        sdk.phone_numbers.messaging.list(filter_type="tollfree", sort_phone_number="desc")
    )
    first = tollfree[0].phone_number or ""
    by_number = list(sdk.phone_numbers.messaging.list(filter_phone_number=first))
    by_profile = list(sdk.phone_numbers.messaging.list(filter_messaging_profile_id=profile))

    assert [p.name for p in support] == ["Support"]
    assert [p.name for p in exact] == ["Marketing"]
    assert [p.name for p in contains] == ["Alerts"]
    assert [c.messaging_profile_id for c in unassigned] == [None] * SEED_UNASSIGNED_SHORT_CODES
    assert [c.messaging_profile_id for c in on_profile] == [profile]
    assert len(tollfree) == SEED_TOLL_FREE
    assert [n.phone_number for n in tollfree] == sorted(
        (n.phone_number or "" for n in tollfree), reverse=True
    )
    assert [n.id for n in by_number] == [tollfree[0].id]
    assert {n.messaging_profile_id for n in by_profile} == {profile}
    assert len(by_profile) == SEED_PHONE_NUMBERS_PER_PROFILE


# --- writes -------------------------------------------------------------------------------------


def test_profile_lifecycle(sdk: telnyx.Telnyx, simulator: Simulator) -> None:
    created = sdk.messaging_profiles.create(
        name="SDK profile",
        whitelisted_destinations=["US", "GB"],
        number_pool_settings={"long_code_weight": 1, "toll_free_weight": 2, "skip_unhealthy": True},
    ).data
    assert created is not None
    assert created.id is not None
    assert (created.name, created.enabled, created.webhook_api_version) == (
        "SDK profile",
        True,
        "2",
    )
    assert created.number_pool_settings is not None
    assert created.number_pool_settings.toll_free_weight == 2

    assert sdk.messaging_profiles.retrieve(created.id).data == created

    updated = sdk.messaging_profiles.update(created.id, name="Renamed", mobile_only=True).data
    assert updated is not None
    assert (updated.name, updated.mobile_only, updated.whitelisted_destinations) == (
        "Renamed",
        True,
        ["US", "GB"],
    )
    # The write invalidated the cached profile: the SDK reads its own write.
    assert sdk.messaging_profiles.retrieve(created.id).data == updated

    deleted = sdk.messaging_profiles.delete(created.id).data
    assert deleted is not None
    assert deleted.name == "Renamed"
    with pytest.raises(telnyx.NotFoundError) as missing:
        sdk.messaging_profiles.retrieve(created.id)
    assert missing.value.status_code == 404
    assert missing.value.body == {
        "errors": [
            {
                "code": "10005",
                "title": "Resource not found",
                "detail": "The requested resource or URL could not be found.",
                "meta": {"url": DOCS + "10005"},
            }
        ]
    }
    assert [m for m, *_ in upstream(simulator)] == ["POST", "GET", "PATCH", "GET", "DELETE", "GET"]


def test_refused_creates_raise_the_sdks_error_classes(
    sdk: telnyx.Telnyx, simulator: Simulator, attempts: Attempts
) -> None:
    with pytest.raises(telnyx.UnprocessableEntityError) as invalid:
        sdk.messaging_profiles.create(
            name="Bad", whitelisted_destinations=["USA"], alpha_sender="Far too long a name"
        )
    with pytest.raises(telnyx.BadRequestError) as no_destinations:
        sdk.messaging_profiles.create(name="Nowhere", whitelisted_destinations=[])

    assert invalid.value.status_code == 422
    assert isinstance(invalid.value.body, dict)
    assert [(e["code"], e["source"]["pointer"]) for e in invalid.value.body["errors"]] == [
        ("10015", "/whitelisted_destinations/0"),
        ("10015", "/alpha_sender"),
    ]
    assert no_destinations.value.status_code == 400
    assert no_destinations.value.body == {
        "errors": [
            {
                "code": "40331",
                "title": "Missing whitelisted destinations",
                "detail": "Messaging profile is missing whitelisted destinations",
                "source": {"pointer": "/whitelisted_destinations"},
                "meta": {"url": DOCS + "40331"},
            }
        ]
    }
    assert attempts.statuses == [422, 400]
    assert [s for *_, s in upstream(simulator)] == [422, 400]


def test_metrics_sender_ids_and_a_new_secret(
    sdk: telnyx.Telnyx, simulator: Simulator, alpha: Account
) -> None:
    support = named(alpha, "Support")
    numbers = [n for n in alpha.phone_numbers.values() if n["messaging_profile_id"] == support]

    metrics = sdk.messaging_profiles.retrieve_metrics(support, time_frame="7d").data
    summary = sdk.messaging_profile_metrics.list(time_frame="1h")
    senders = list(sdk.messaging_profiles.list_alphanumeric_sender_ids(support))
    secret = sdk.messaging_profiles.retrieve(support).data
    rotated = sdk.messaging_profiles.actions.regenerate_secret(support).data
    reread = sdk.messaging_profiles.retrieve(support).data

    assert metrics is not None
    assert metrics == {
        "messaging_profile_id": support,
        "name": "Support",
        "time_frame": "7d",
        "phone_numbers": len(numbers),
        "message_count": sum(n["health"]["message_count"] for n in numbers),
    }
    assert summary.data is not None
    assert [(item["name"], item["time_frame"]) for item in summary.data] == [
        ("Alerts", "1h"),
        ("Marketing", "1h"),
        ("Support", "1h"),
    ]
    assert [(s.alphanumeric_sender_id, s.messaging_profile_id) for s in senders] == [
        ("Support", support)
    ]
    assert secret is not None
    assert rotated is not None
    assert reread is not None
    assert rotated.v1_secret == alpha.profiles[support]["v1_secret"]
    assert rotated.v1_secret != secret.v1_secret
    # The write evicted the cached profile: the SDK reads the new secret back.
    assert reread == rotated
    assert [(m, p) for m, p, *_ in upstream(simulator)] == [
        ("GET", f"/v2/messaging_profiles/{support}/metrics"),
        ("GET", "/v2/messaging_profile_metrics"),
        ("GET", f"/v2/messaging_profiles/{support}/alphanumeric_sender_ids"),
        ("GET", f"/v2/messaging_profiles/{support}"),
        ("POST", f"/v2/messaging_profiles/{support}/actions/regenerate_secret"),
        ("GET", f"/v2/messaging_profiles/{support}"),
    ]


def test_short_code_assign_and_unbind(sdk: telnyx.Telnyx, alpha: Account) -> None:
    profile = named(alpha, "Alerts")
    code = next(iter(sdk.short_codes.list(filter={"messaging_profile_id": "null"})))
    assert code.id is not None
    before = [c.id for c in sdk.messaging_profiles.list_short_codes(profile)]

    bound = sdk.short_codes.update(code.id, messaging_profile_id=profile, tags=["sdk"]).data
    assert bound is not None
    assert (bound.messaging_profile_id, bound.tags) == (profile, ["sdk"])
    assert [c.id for c in sdk.messaging_profiles.list_short_codes(profile)] == [*before, code.id]
    retrieved = sdk.short_codes.retrieve(code.id).data
    assert retrieved is not None
    assert retrieved.messaging_profile_id == profile

    unbound = sdk.short_codes.update(code.id, messaging_profile_id="").data
    assert unbound is not None
    assert unbound.messaging_profile_id is None
    assert [c.id for c in sdk.messaging_profiles.list_short_codes(profile)] == before
    again = sdk.short_codes.retrieve(code.id).data
    assert again is not None
    assert again.messaging_profile_id is None


def test_phone_number_assign_and_unassign(sdk: telnyx.Telnyx, alpha: Account) -> None:
    profile = named(alpha, "Support")
    number = next(iter(sdk.phone_numbers.messaging.list(filter_messaging_profile_id="null")))
    assert number.id is not None
    assert number.phone_number is not None

    assigned = sdk.phone_numbers.messaging.update(number.id, messaging_profile_id=profile).data
    assert assigned is not None
    assert assigned.messaging_profile_id == profile
    on_profile = [n.id for n in sdk.messaging_profiles.list_phone_numbers(profile)]
    assert len(on_profile) == SEED_PHONE_NUMBERS_PER_PROFILE + 1
    assert number.id in on_profile
    # The SDK sends an E.164 id with a literal "+"; the gateway passes it on as such.
    by_number = sdk.phone_numbers.messaging.retrieve(number.phone_number).data
    assert by_number is not None
    assert (by_number.id, by_number.messaging_profile_id) == (number.id, profile)

    unassigned = sdk.phone_numbers.messaging.update(number.id, messaging_profile_id="").data
    assert unassigned is not None
    assert unassigned.messaging_profile_id is None
    assert number.id not in [n.id for n in sdk.messaging_profiles.list_phone_numbers(profile)]


# --- errors and retries ---------------------------------------------------------------------------


def test_a_bad_token_is_the_sdks_authentication_error(
    gateway: str, simulator: Simulator, attempts: Attempts
) -> None:
    http = telnyx.DefaultHttpxClient(event_hooks={"response": [attempts]})
    with (
        telnyx.Telnyx(api_key="not-a-tenant", base_url=gateway, http_client=http) as stranger,
        pytest.raises(telnyx.AuthenticationError) as refused,
    ):
        stranger.messaging_profiles.list()

    assert refused.value.status_code == 401
    assert isinstance(refused.value.body, dict)
    assert refused.value.body["errors"][0]["code"] == "10009"
    assert attempts.statuses == [401]
    assert list(simulator.requests) == []


def test_operations_outside_the_face_are_the_sdks_not_found(
    sdk: telnyx.Telnyx, simulator: Simulator, alpha: Account
) -> None:
    with pytest.raises(telnyx.NotFoundError):
        sdk.messaging_profiles.autoresp_configs.list(named(alpha, "Alerts"))
    with pytest.raises(telnyx.NotFoundError):
        sdk.alphanumeric_sender_ids.list()

    assert list(simulator.requests) == []


def test_a_passing_outage_never_reaches_the_sdk(
    sdk: telnyx.Telnyx, simulator: Simulator, attempts: Attempts
) -> None:
    simulator.faults.fail(503, times=1, headers=QUICK)

    codes = list(sdk.short_codes.list())

    assert len(codes) > 0
    assert attempts.statuses == [200]
    assert [s for *_, s in upstream(simulator)] == [503, 200]


def test_a_lasting_outage_is_one_503_for_three_upstream_attempts(
    sdk: telnyx.Telnyx, simulator: Simulator, attempts: Attempts
) -> None:
    simulator.faults.fail(503, times=10, headers=QUICK)

    with pytest.raises(telnyx.InternalServerError) as failed:
        sdk.short_codes.list()

    assert failed.value.status_code == 503
    assert failed.value.response.headers["x-should-retry"] == "false"
    assert failed.value.body == {
        "errors": [
            {
                "code": "10007",
                "title": "Unexpected error",
                "detail": "Telnyx could not be reached; try again later.",
                "meta": {"url": DOCS + "10007"},
            }
        ]
    }
    # Against Telnyx the SDK would make 3 attempts; through the gateway Telnyx sees the
    # same 3 (the gateway's), and the SDK does not multiply them into 9.
    assert attempts.statuses == [503]
    assert [s for *_, s in upstream(simulator)] == [503, 503, 503]


def test_a_create_that_meets_an_outage_is_sent_once(
    sdk: telnyx.Telnyx, simulator: Simulator, attempts: Attempts
) -> None:
    simulator.faults.fail(503, times=10, headers=QUICK)

    with pytest.raises(telnyx.InternalServerError):
        sdk.messaging_profiles.create(name="Once", whitelisted_destinations=["US"])

    assert attempts.statuses == [503]
    assert [(m, s) for m, _, _, s in upstream(simulator)] == [("POST", 503)]


def test_a_lasting_rate_limit_is_the_sdks_rate_limit_error_with_retry_after(
    sdk: telnyx.Telnyx, simulator: Simulator, attempts: Attempts
) -> None:
    simulator.faults.rate_limit(times=10, retry_after=0.01)

    with pytest.raises(telnyx.RateLimitError) as limited:
        sdk.messaging_profiles.list()

    assert limited.value.status_code == 429
    assert limited.value.response.headers["retry-after"] == "1"
    assert limited.value.body == {
        "errors": [
            {
                "code": "10011",
                "title": "Too many requests",
                "detail": "You have exceeded the maximum number of allowed requests.",
            }
        ]
    }
    assert attempts.statuses == [429]
    assert [s for *_, s in upstream(simulator)] == [429, 429, 429]


def test_a_brief_rate_limit_is_absorbed(
    sdk: telnyx.Telnyx, simulator: Simulator, attempts: Attempts
) -> None:
    simulator.faults.rate_limit(times=2, retry_after=0.01)

    names = [p.name for p in sdk.messaging_profiles.list()]

    assert names == ["Alerts", "Marketing", "Support"]
    assert attempts.statuses == [200]
    assert [s for *_, s in upstream(simulator)] == [429, 429, 200]
