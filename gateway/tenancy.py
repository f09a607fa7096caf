"""Tenants: who may call the gateway, and with which Telnyx key."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import SecretStr


@dataclass(frozen=True, slots=True)
class Tenant:
    """A caller of the gateway and the Telnyx account it maps to.

    The key is a `SecretStr`, so it prints as ``**********`` in reprs and tracebacks.
    """

    id: str
    telnyx_api_key: SecretStr = field(repr=False)
