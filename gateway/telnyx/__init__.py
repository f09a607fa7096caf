"""The Telnyx upstream: models, the HTTP client and the service over it."""

from gateway.telnyx import models
from gateway.telnyx.client import Fetched, TelnyxClient, build_http_client

__all__ = ["Fetched", "TelnyxClient", "build_http_client", "models"]
