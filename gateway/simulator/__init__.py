"""The embedded Telnyx simulator: the demo upstream and the upstream of every test.

It serves the messaging-profile operations of Telnyx API v2 under ``/v2`` from memory,
scripts faults (latency, statuses, dropped connections), logs requests, and has a control
API under ``/_simulator`` for out-of-process drivers.
"""

from gateway.simulator.app import ConnectionDropped, RequestRecord, Simulator
from gateway.simulator.faults import RATE_LIMITED_BODY, Fault, Faults
from gateway.simulator.seed import (
    SEED_LONG_CODES,
    SEED_LONG_CODES_PER_PROFILE,
    SEED_PHONE_NUMBERS,
    SEED_PHONE_NUMBERS_PER_PROFILE,
    SEED_PROFILE_NAMES,
    SEED_PROFILES,
    SEED_SHORT_CODES,
    SEED_SHORT_CODES_PER_PROFILE,
    SEED_TOLL_FREE,
    SEED_TOLL_FREE_PER_PROFILE,
    SEED_UNASSIGNED_PHONE_NUMBERS,
    SEED_UNASSIGNED_SHORT_CODES,
)
from gateway.simulator.serve import run
from gateway.simulator.store import Account
from gateway.simulator.wire import PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX

__all__ = [
    "PAGE_SIZE_DEFAULT",
    "PAGE_SIZE_MAX",
    "RATE_LIMITED_BODY",
    "SEED_LONG_CODES",
    "SEED_LONG_CODES_PER_PROFILE",
    "SEED_PHONE_NUMBERS",
    "SEED_PHONE_NUMBERS_PER_PROFILE",
    "SEED_PROFILES",
    "SEED_PROFILE_NAMES",
    "SEED_SHORT_CODES",
    "SEED_SHORT_CODES_PER_PROFILE",
    "SEED_TOLL_FREE",
    "SEED_TOLL_FREE_PER_PROFILE",
    "SEED_UNASSIGNED_PHONE_NUMBERS",
    "SEED_UNASSIGNED_SHORT_CODES",
    "Account",
    "ConnectionDropped",
    "Fault",
    "Faults",
    "RequestRecord",
    "Simulator",
    "run",
]
