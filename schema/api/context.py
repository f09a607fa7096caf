"""What every resolver gets: the caller, its DataLoaders and the request's limits and budget."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import strawberry

from schema.api.loaders import Loaders
from schema.limits.cost import CostBudget
from schema.limits.turns import Turns

if TYPE_CHECKING:
    from strawberry.types import ExecutionResult
    from strawberry.types.graphql import OperationType

    from gateway.telnyx import Caller, TelnyxService


@dataclass(slots=True)
class Context:
    """One request's context; built after authentication, so a tenant is always known."""

    service: TelnyxService
    caller: Caller
    loaders: Loaders
    max_page_size: int
    cost: CostBudget
    # This request's share of the event loop: long work gives it back in slices.
    turns: Turns = field(default_factory=Turns)
    # Loads, with a page of profiles, the nested pages its selection will ask for
    # (`schema.speedups.lookahead`); None leaves them to the nested resolvers.
    read_ahead: Callable[[Info, Sequence[str]], Awaitable[None]] | None = None
    # What an operation ran as and gave, for the response cache (the last one's, in a batch).
    operation_type: OperationType | None = None
    result: ExecutionResult | None = None


Info = strawberry.Info[Context, None]
