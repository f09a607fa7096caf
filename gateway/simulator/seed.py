"""The sample data every new account starts with; the counts are exported for tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.simulator.store import JSON, Account, timestamp

SEED_PROFILE_NAMES = ("Alerts", "Marketing", "Support")
SEED_PROFILES = len(SEED_PROFILE_NAMES)
SEED_LONG_CODES_PER_PROFILE = 2
SEED_TOLL_FREE_PER_PROFILE = 1
SEED_SHORT_CODES_PER_PROFILE = 1
SEED_UNASSIGNED_PHONE_NUMBERS = 2
SEED_UNASSIGNED_SHORT_CODES = 2
SEED_PHONE_NUMBERS_PER_PROFILE = SEED_LONG_CODES_PER_PROFILE + SEED_TOLL_FREE_PER_PROFILE
SEED_PHONE_NUMBERS = SEED_PROFILES * SEED_PHONE_NUMBERS_PER_PROFILE + SEED_UNASSIGNED_PHONE_NUMBERS
SEED_LONG_CODES = (
    SEED_PROFILES * SEED_LONG_CODES_PER_PROFILE + (SEED_UNASSIGNED_PHONE_NUMBERS + 1) // 2
)
SEED_TOLL_FREE = SEED_PHONE_NUMBERS - SEED_LONG_CODES
SEED_SHORT_CODES = SEED_PROFILES * SEED_SHORT_CODES_PER_PROFILE + SEED_UNASSIGNED_SHORT_CODES

_EPOCH = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)

# Each seeded profile shows off a different part of the schema.
_PROFILE_EXTRAS: tuple[JSON, ...] = (
    {
        "webhook_url": "https://hooks.example.com/alerts",
        "number_pool_settings": {
            "toll_free_weight": 10,
            "long_code_weight": 1,
            "skip_unhealthy": True,
            "sticky_sender": False,
            "geomatch": False,
        },
    },
    {
        "whitelisted_destinations": ["US", "CA"],
        "url_shortener_settings": {
            "domain": "acct.fyi",
            "prefix": "mkt",
            "replace_blacklist_only": True,
            "send_webhooks": False,
        },
        "daily_spend_limit": "100.00",
        "daily_spend_limit_enabled": True,
    },
    {
        "webhook_url": "https://hooks.example.com/support",
        "webhook_failover_url": "https://backup.example.com/support",
        "alpha_sender": "Support",
        "mms_fall_back_to_sms": True,
    },
)


def seed(account: Account) -> None:
    """Fill a new account; ids and numbers depend only on the account's key."""
    moments = (timestamp(_EPOCH + timedelta(minutes=i)) for i in range(1000))
    for name, extras in zip(SEED_PROFILE_NAMES, _PROFILE_EXTRAS, strict=True):
        profile = account.new_profile(
            {"name": name, "whitelisted_destinations": ["US"], **extras}, created_at=next(moments)
        )
        for index in range(SEED_PHONE_NUMBERS_PER_PROFILE):
            account.new_phone_number(
                number_type="longcode" if index < SEED_LONG_CODES_PER_PROFILE else "tollfree",
                messaging_profile_id=profile["id"],
                created_at=next(moments),
                health={
                    "message_count": 100 * (index + 1),
                    "inbound_outbound_ratio": 0.43,
                    "success_ratio": 0.94,
                    "spam_ratio": 0.06,
                },
            )
        for _ in range(SEED_SHORT_CODES_PER_PROFILE):
            account.new_short_code(messaging_profile_id=profile["id"], created_at=next(moments))
    for index in range(SEED_UNASSIGNED_PHONE_NUMBERS):
        account.new_phone_number(
            number_type="tollfree" if index % 2 else "longcode", created_at=next(moments)
        )
    for _ in range(SEED_UNASSIGNED_SHORT_CODES):
        account.new_short_code(created_at=next(moments))
