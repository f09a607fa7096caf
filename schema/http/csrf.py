"""Cross-site request forgery prevention, as Apollo Server 4 does it.

A browser sends a cross-site request without a CORS preflight only when it is "simple":
GET, or POST with one of three content types, and no custom header. Such a request
could carry a victim's credentials, so the gateway runs only requests a browser would
have preflighted: a content type that is not a simple one, or a non-empty
`X-Apollo-Operation-Name` or `Apollo-Require-Preflight` header.
"""

from __future__ import annotations

from collections.abc import Mapping

SIMPLE_CONTENT_TYPES = (
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "text/plain",
)
PREFLIGHT_HEADERS = ("x-apollo-operation-name", "apollo-require-preflight")
MESSAGE = (
    "This operation has been blocked as a potential Cross-Site Request Forgery (CSRF). "
    "Please either specify a 'content-type' header (with a type that is not one of "
    f"{', '.join(SIMPLE_CONTENT_TYPES)}) or provide a non-empty value for one of the "
    f"following headers: {', '.join(PREFLIGHT_HEADERS)}"
)


def preflighted(headers: Mapping[str, str]) -> bool:
    """Whether a browser would have preflighted a request with these (lower-case) headers."""
    content_type = headers.get("content-type")
    if content_type is not None:
        essence = content_type.split(";", 1)[0].strip().lower()
        # An unparsable type is preflighted by browsers too.
        if essence not in SIMPLE_CONTENT_TYPES:
            return True
    return any(headers.get(name) for name in PREFLIGHT_HEADERS)
