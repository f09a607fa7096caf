"""What every resolver gets: the caller, its DataLoaders and the request's limits and budget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import strawberry

from schema.cost import CostBudget
from schema.loaders import Loaders

if TYPE_CHECKING:
    from strawberry.types import ExecutionResult
    from strawberry.types.graphql import OperationType

    from gateway.telnyx.service import Caller, TelnyxService


@dataclass(slots=True)
class Context:
    """One request's context; built after authentication, so a tenant is always known."""

    service: TelnyxService
    caller: Caller
    loaders: Loaders
    max_page_size: int
    cost: CostBudget
    # What an operation ran as and gave, for the response cache (the last one's, in a batch).
    operation_type: OperationType | None = None
    result: ExecutionResult | None = None


Info = strawberry.Info[Context, None]
