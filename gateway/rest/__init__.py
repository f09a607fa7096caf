"""The Telnyx-compatible REST face, mounted at `/v2`."""

from gateway.rest.routes import create_rest_app
from gateway.rest.wire import error_response

__all__ = ["create_rest_app", "error_response"]
