"""The Telnyx upstream, as the faces use it: the service and the operations it serves.

The client (`gateway.telnyx.client`) and the HTTP machinery under it are the service's
business; the faces never import them (an import contract enforces it).
"""

from gateway.telnyx import models, operations
from gateway.telnyx.operation import Fetched, checked
from gateway.telnyx.service import Caller, TelnyxService, Ttl, bypasses_cache, forbids_storing

__all__ = [
    "Caller",
    "Fetched",
    "TelnyxService",
    "Ttl",
    "bypasses_cache",
    "checked",
    "forbids_storing",
    "models",
    "operations",
]
