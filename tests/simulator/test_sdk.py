"""The official Telnyx Python SDK, pointed at the simulator on a real socket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import telnyx

from gateway.simulator import (
    SEED_PHONE_NUMBERS_PER_PROFILE,
    SEED_PROFILE_NAMES,
    SEED_PROFILES,
    SEED_TOLL_FREE,
    SEED_UNASSIGNED_SHORT_CODES,
    Simulator,
)
from tests.server import serve
from tests.simulator.conftest import KEY

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Simulator, str]]:
    sim = Simulator()
    with serve(sim.app) as url:
        yield sim, f"{url}/v2"


@pytest.fixture
def sim(served: tuple[Simulator, str]) -> Simulator:
    served[0].reset()
    return served[0]


@pytest.fixture
def sdk(served: tuple[Simulator, str], sim: Simulator) -> Iterator[telnyx.Telnyx]:
    with telnyx.Telnyx(api_key=KEY, base_url=served[1], max_retries=0) as client:
        yield client


def test_auto_pagination_returns_every_profile_once(sdk: telnyx.Telnyx, sim: Simulator) -> None:
    added = sim.account(KEY).add_profiles(8)

    ids = [profile.id for profile in sdk.messaging_profiles.list(page_size=3)]

    assert len(ids) == SEED_PROFILES + 8
    assert ids[SEED_PROFILES:] == [profile["id"] for profile in added]
    assert len(set(ids)) == len(ids)
    pages = [r for r in sim.requests if r.path == "/v2/messaging_profiles"]
    assert [r.query for r in pages] == [
        "page%5Bsize%5D=3",
        *(f"page%5Bsize%5D=3&page%5Bnumber%5D={n}" for n in (2, 3, 4)),
    ]


def test_list_filters(sdk: telnyx.Telnyx) -> None:
    support = list(sdk.messaging_profiles.list(filter={"name": "Support"}))
    exact = list(sdk.messaging_profiles.list(filter_name_eq="Marketing"))
    contains = list(sdk.messaging_profiles.list(filter_name_contains="ER"))

    assert [p.name for p in support] == ["Support"]
    assert [p.name for p in exact] == ["Marketing"]
    assert [p.name for p in contains] == ["Alerts"]
    unassigned = list(sdk.short_codes.list(filter={"messaging_profile_id": "null"}))
    assert [code.messaging_profile_id for code in unassigned] == [
        None
    ] * SEED_UNASSIGNED_SHORT_CODES
    tollfree = list(
        sdk.phone_numbers.messaging.list(filter_type="tollfree", sort_phone_number="desc")
    )
    assert len(tollfree) == SEED_TOLL_FREE
    assert [n.phone_number for n in tollfree] == sorted(
        (n.phone_number or "" for n in tollfree), reverse=True
    )
    first = tollfree[0].phone_number or ""
    assert [n.id for n in sdk.phone_numbers.messaging.list(filter_phone_number=first)] == [
        tollfree[0].id
    ]


def test_profile_lifecycle(sdk: telnyx.Telnyx) -> None:
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

    retrieved = sdk.messaging_profiles.retrieve(created.id).data
    assert retrieved == created

    updated = sdk.messaging_profiles.update(created.id, name="Renamed", mobile_only=True).data
    assert updated is not None
    assert (updated.name, updated.mobile_only, updated.whitelisted_destinations) == (
        "Renamed",
        True,
        ["US", "GB"],
    )

    rotated = sdk.messaging_profiles.actions.regenerate_secret(created.id).data
    assert rotated is not None
    assert rotated.v1_secret != created.v1_secret

    metrics = sdk.messaging_profiles.retrieve_metrics(created.id, time_frame="1h")
    assert metrics.data is not None
    summary = sdk.messaging_profile_metrics.list()
    assert summary.meta is not None
    assert summary.meta.total_results == SEED_PROFILES + 1
    senders = sdk.messaging_profiles.list_alphanumeric_sender_ids(created.id)
    assert list(senders) == []

    deleted = sdk.messaging_profiles.delete(created.id).data
    assert deleted is not None
    assert deleted.name == "Renamed"
    with pytest.raises(telnyx.NotFoundError) as missing:
        sdk.messaging_profiles.retrieve(created.id)
    assert missing.value.status_code == 404
    assert isinstance(missing.value.body, dict)
    assert missing.value.body["errors"][0]["code"] == "10005"


def test_refused_creates(sdk: telnyx.Telnyx) -> None:
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
    assert isinstance(no_destinations.value.body, dict)
    assert no_destinations.value.body["errors"][0]["code"] == "40331"


def test_short_code_assign_and_unbind(sdk: telnyx.Telnyx) -> None:
    profile = next(iter(sdk.messaging_profiles.list(filter_name_eq="Alerts")))
    assert profile.id is not None
    code = next(iter(sdk.short_codes.list(filter={"messaging_profile_id": "null"})))
    assert code.id is not None

    bound = sdk.short_codes.update(code.id, messaging_profile_id=profile.id, tags=["sdk"]).data
    assert bound is not None
    assert (bound.messaging_profile_id, bound.tags) == (profile.id, ["sdk"])
    listed = [c.id for c in sdk.messaging_profiles.list_short_codes(profile.id)]
    assert code.id in listed
    retrieved = sdk.short_codes.retrieve(code.id).data
    assert retrieved is not None
    assert retrieved.messaging_profile_id == profile.id

    unbound = sdk.short_codes.update(code.id, messaging_profile_id="").data
    assert unbound is not None
    assert unbound.messaging_profile_id is None


def test_phone_number_assign_and_unassign(sdk: telnyx.Telnyx) -> None:
    profile = next(iter(sdk.messaging_profiles.list(filter_name_eq="Support")))
    assert profile.id is not None
    number = next(iter(sdk.phone_numbers.messaging.list(filter_messaging_profile_id="null")))
    assert number.id is not None

    assigned = sdk.phone_numbers.messaging.update(number.id, messaging_profile_id=profile.id).data
    assert assigned is not None
    assert assigned.messaging_profile_id == profile.id
    on_profile = [n.id for n in sdk.messaging_profiles.list_phone_numbers(profile.id)]
    assert len(on_profile) == SEED_PHONE_NUMBERS_PER_PROFILE + 1
    assert number.id in on_profile
    retrieved = sdk.phone_numbers.messaging.retrieve(number.id).data
    assert retrieved is not None
    assert retrieved.messaging_profile_id == profile.id

    unassigned = sdk.phone_numbers.messaging.update(number.id, messaging_profile_id="").data
    assert unassigned is not None
    assert unassigned.messaging_profile_id is None


def test_errors_map_to_the_sdk_classes(served: tuple[Simulator, str], sim: Simulator) -> None:
    with (
        telnyx.Telnyx(api_key="not-a-key", base_url=served[1], max_retries=0) as stranger,
        pytest.raises(telnyx.AuthenticationError) as refused,
    ):
        stranger.messaging_profiles.list()
    assert isinstance(refused.value.body, dict)
    assert refused.value.body["errors"][0]["code"] == "10009"

    sim.faults.rate_limit()
    with telnyx.Telnyx(api_key=KEY, base_url=served[1], max_retries=0) as client:
        with pytest.raises(telnyx.RateLimitError):
            client.short_codes.list()
        sim.faults.drop()
        with pytest.raises(telnyx.APIConnectionError):
            client.short_codes.list()


def test_sdk_retries_follow_the_simulators_hints(
    served: tuple[Simulator, str], sim: Simulator
) -> None:
    # retry-after-ms keeps the SDK's backoff short (it honours 0 < delay <= 60 s).
    sim.faults.fail(503, times=2, headers={"retry-after-ms": "10"}, path="/v2/messaging_profiles")

    with telnyx.Telnyx(api_key=KEY, base_url=served[1], max_retries=2) as client:
        names = [p.name for p in client.messaging_profiles.list()]

    assert names == list(SEED_PROFILE_NAMES)
    assert [r.status for r in sim.requests] == [503, 503, 200]
