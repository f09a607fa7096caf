"""The Telnyx-compatible REST face, mounted at `/v2`."""

from gateway.rest.routes import create_rest_app

__all__ = ["create_rest_app"]
