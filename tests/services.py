"""Where the tests find the machine's services. They never skip for a missing service:
CI's machine runs them, and a failure that says so beats a silent skip."""

from __future__ import annotations

import os

REDIS_URL = os.environ.get(  # noqa: TID251  -- a test-only knob, not a gateway setting
    "GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"
)
