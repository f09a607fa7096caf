"""Accounts and their resources, held as JSON-ready dicts keyed by id.

Each resource is stored exactly as the wire shows it, so a response is one serialisation
away. Dicts keep insertion order, which is creation order: lists come out oldest first.
"""

from __future__ import annotations

import hashlib
import random
import string
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

JSON = dict[str, Any]

_SECRET_ALPHABET = string.ascii_letters + string.digits


def timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, as in the spec's examples."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Clock:
    """Wall-clock timestamps that never repeat, so an update always moves `updated_at`."""

    def __init__(self) -> None:
        self._last = datetime(1970, 1, 1, tzinfo=UTC)

    def now(self) -> str:
        moment = datetime.now(UTC)
        moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        if moment <= self._last:
            moment = self._last + timedelta(milliseconds=1)
        self._last = moment
        return timestamp(moment)


class Account:
    """One Telnyx account: what a single API key sees."""

    def __init__(self, api_key: str, clock: Clock) -> None:
        # Seeded from the key, so the same key always gets the same ids and numbers.
        digest = hashlib.sha256(api_key.encode()).digest()
        self.rng = random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311 -- ids of fake data
        self.clock = clock
        self.organization_id = self.new_uuid()
        self.profiles: dict[str, JSON] = {}
        self.phone_numbers: dict[str, JSON] = {}
        self.short_codes: dict[str, JSON] = {}
        # Phone numbers are also reachable by their E.164 string in the path.
        self._by_e164: dict[str, str] = {}
        self._next_line = 0
        self._next_short_code = 0

    # --- ids and secrets ------------------------------------------------------------

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def new_secret(self) -> str:
        return "".join(self.rng.choice(_SECRET_ALPHABET) for _ in range(24))

    def _new_number_id(self) -> str:
        # Telnyx number ids are long numeric strings, e.g. '1293384261075731499'.
        return str(self.rng.randrange(10**18, 10**19))

    # --- profiles ---------------------------------------------------------------------

    def new_profile(self, fields: JSON, *, created_at: str | None = None) -> JSON:
        """Store a profile from validated create fields, filling the spec's defaults."""
        stamp = created_at or self.clock.now()
        profile: JSON = {
            "id": self.new_uuid(),
            "record_type": "messaging_profile",
            "name": fields["name"],
            "enabled": True,
            "webhook_url": "",
            "webhook_failover_url": "",
            "webhook_api_version": "2",
            "whitelisted_destinations": fields["whitelisted_destinations"],
            "created_at": stamp,
            "updated_at": stamp,
            "number_pool_settings": None,
            "url_shortener_settings": None,
            "alpha_sender": None,
            # The spec gives no default; a string keeps the field's declared type.
            "daily_spend_limit": "0.00",
            "daily_spend_limit_enabled": False,
            "mms_fall_back_to_sms": False,
            "mms_transcoding": False,
            "mobile_only": False,
            "smart_encoding": False,
            "redaction_enabled": False,
            "redaction_level": 2,
            "v1_secret": self.new_secret(),
            "health_webhook_url": None,
            "organization_id": self.organization_id,
            "ai_assistant_id": None,
            "resource_group_id": None,
        }
        profile.update({k: v for k, v in fields.items() if k in profile})
        self.profiles[profile["id"]] = profile
        return profile

    def update_profile(self, profile: JSON, fields: JSON) -> JSON:
        profile.update({k: v for k, v in fields.items() if k in profile})
        profile["updated_at"] = self.clock.now()
        return profile

    def regenerate_secret(self, profile: JSON) -> JSON:
        profile["v1_secret"] = self.new_secret()
        profile["updated_at"] = self.clock.now()
        return profile

    def alphanumeric_sender_ids(self, profile: JSON) -> list[JSON]:
        """The profile's alphanumeric sender ids: here, the one its `alpha_sender` names,
        falling back to its first US long code for US destinations."""
        sender = profile.get("alpha_sender")
        if not sender:
            return []
        fallback = next(
            (
                n["phone_number"]
                for n in self._assigned_to(profile["id"])
                if n.get("record_type") == "messaging_settings"
                and n.get("country_code") == "US"
                and n.get("type") == "longcode"
            ),
            None,
        )
        entry: JSON = {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{profile['id']}/{sender}")),
            "record_type": "alphanumeric_sender_id",
            "alphanumeric_sender_id": sender,
            "messaging_profile_id": profile["id"],
            "organization_id": self.organization_id,
        }
        if fallback is not None:
            # A string when present: the spec does not allow null.
            entry["us_long_code_fallback"] = fallback
        return [entry]

    def delete_profile(self, profile: JSON) -> JSON:
        """Remove a profile; its numbers and short codes stay, unassigned."""
        del self.profiles[profile["id"]]
        stamp = self.clock.now()
        for item in self._assigned_to(profile["id"]):
            item["messaging_profile_id"] = None
            item["updated_at"] = stamp
        return profile

    def _assigned_to(self, profile_id: str) -> Iterator[JSON]:
        for item in (*self.phone_numbers.values(), *self.short_codes.values()):
            if item["messaging_profile_id"] == profile_id:
                yield item

    # --- phone numbers and short codes ----------------------------------------------

    def new_phone_number(
        self,
        *,
        number_type: str = "longcode",
        messaging_profile_id: str | None = None,
        created_at: str | None = None,
        health: JSON | None = None,
    ) -> JSON:
        stamp = created_at or self.clock.now()
        self._next_line += 1
        prefix = "+1800555" if number_type == "tollfree" else "+1312555"
        e164 = f"{prefix}{self._next_line:04d}"
        number: JSON = {
            "id": self._new_number_id(),
            "record_type": "messaging_settings",
            "phone_number": e164,
            "country_code": "US",
            "messaging_profile_id": messaging_profile_id,
            "messaging_product": "A2P" if number_type == "tollfree" else "P2P",
            "eligible_messaging_products": ["A2P"] if number_type == "tollfree" else ["A2P", "P2P"],
            "traffic_type": "A2P" if number_type == "tollfree" else "P2P",
            "type": number_type,
            "features": {
                "sms": {
                    "domestic_two_way": True,
                    "international_inbound": True,
                    "international_outbound": number_type == "longcode",
                },
                "mms": None
                if number_type == "tollfree"
                else {
                    "domestic_two_way": True,
                    "international_inbound": False,
                    "international_outbound": False,
                },
            },
            "health": health
            or {
                "message_count": 0,
                "inbound_outbound_ratio": 0.0,
                "success_ratio": 1.0,
                "spam_ratio": 0.0,
            },
            "tags": [],
            "organization_id": self.organization_id,
            "created_at": stamp,
            "updated_at": stamp,
        }
        self.phone_numbers[number["id"]] = number
        self._by_e164[e164] = number["id"]
        return number

    def phone_number(self, key: str) -> JSON | None:
        """A number by its id or by its E.164 string (with or without the +)."""
        found = self.phone_numbers.get(key)
        if found is None:
            number_id = self._by_e164.get(key) or self._by_e164.get("+" + key.lstrip(" +"))
            found = self.phone_numbers.get(number_id) if number_id else None
        return found

    def new_short_code(
        self, *, messaging_profile_id: str | None = None, created_at: str | None = None
    ) -> JSON:
        stamp = created_at or self.clock.now()
        self._next_short_code += 1
        short_code: JSON = {
            "id": self.new_uuid(),
            "record_type": "short_code",
            "short_code": f"{20000 + self._next_short_code}",
            "country_code": "US",
            "messaging_profile_id": messaging_profile_id,
            "tags": [],
            "created_at": stamp,
            "updated_at": stamp,
        }
        self.short_codes[short_code["id"]] = short_code
        return short_code

    def assign(self, item: JSON, messaging_profile_id: str | None) -> JSON:
        item["messaging_profile_id"] = messaging_profile_id
        item["updated_at"] = self.clock.now()
        return item

    # --- bulk helpers for tests and benchmarks ----------------------------------------

    def add_profiles(self, count: int, *, name: str = "Bulk profile") -> list[JSON]:
        """Create `count` profiles named "<name> 1", "<name> 2", ..."""
        start = len(self.profiles) + 1
        return [
            self.new_profile({"name": f"{name} {start + i}", "whitelisted_destinations": ["US"]})
            for i in range(count)
        ]

    def add_phone_numbers(
        self, count: int, *, messaging_profile_id: str | None = None, number_type: str = "longcode"
    ) -> list[JSON]:
        return [
            self.new_phone_number(
                number_type=number_type, messaging_profile_id=messaging_profile_id
            )
            for _ in range(count)
        ]

    def add_short_codes(self, count: int, *, messaging_profile_id: str | None = None) -> list[JSON]:
        return [
            self.new_short_code(messaging_profile_id=messaging_profile_id) for _ in range(count)
        ]


class Store:
    """Accounts by API key, each seeded on first use."""

    def __init__(self, seeder: Callable[[Account], None]) -> None:
        self._seeder = seeder
        self._accounts: dict[str, Account] = {}
        self.clock = Clock()

    def account(self, api_key: str) -> Account:
        found = self._accounts.get(api_key)
        if found is None:
            found = self._accounts[api_key] = Account(api_key, self.clock)
            self._seeder(found)
        return found

    def accounts(self) -> Iterable[Account]:
        return self._accounts.values()

    def clear(self) -> None:
        self._accounts.clear()
