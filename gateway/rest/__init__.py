"""The Telnyx-compatible REST face, mounted at `/v2`."""

from gateway.rest.routes import ANY_METHOD, create_rest_app, not_found
from gateway.rest.wire import error_response

__all__ = ["ANY_METHOD", "create_rest_app", "error_response", "not_found"]
