"""strawberry's extension runner, without its per-operation search for the hooks.

For each of an operation's four steps (the operation, parsing, validation, execution)
strawberry makes a context manager that looks up the step's hook on every extension, tests
it three ways with `inspect`, wraps it in a new `contextlib` manager and enters it
through an `ExitStack`: about 40 us of a cold `messagingProfile(id)`, to find what is the
same for every operation. `Stages` finds an extension class's hooks once, and makes each
step's manager straight from `contextlib`'s own (so a hook sees exceptions, and may
suppress one, exactly as under strawberry's runner). It runs operations with one extension
whose hooks are generators or async generators, as the gateway's (`schema.extensions`);
any other operation gets strawberry's runner.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from types import TracebackType
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext

_STEPS = ("on_operation", "on_parse", "on_validate", "on_execute")

# A hook as a maker of its context manager, and whether that manager is asynchronous.
Hook = tuple[Callable[[SchemaExtension], Any], bool]


# By extension class: a few classes, found once each.
_FOUND: dict[type[SchemaExtension], dict[str, Hook | None] | None] = {}


def _hooks(cls: type[SchemaExtension]) -> dict[str, Hook | None] | None:
    """The class's hook for each step (None where it keeps strawberry's default); None when
    a hook is neither a generator nor an async generator."""
    if cls not in _FOUND:
        _FOUND[cls] = _find(cls)
    return _FOUND[cls]


def _find(cls: type[SchemaExtension]) -> dict[str, Hook | None] | None:
    found: dict[str, Hook | None] = {}
    for step in _STEPS:
        hook = getattr(cls, step)
        if hook is getattr(SchemaExtension, step):
            found[step] = None
        elif inspect.isgeneratorfunction(hook):
            found[step] = (contextlib.contextmanager(hook), False)
        elif inspect.isasyncgenfunction(hook):
            found[step] = (contextlib.asynccontextmanager(hook), True)
        else:
            return None
    return found


class _Nothing:
    """A step the extension has no hook for."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NOTHING = _Nothing()


class _Synchronous:
    """A generator hook's manager, entered with `async with` as strawberry's runner does."""

    __slots__ = ("_manager",)

    def __init__(self, manager: contextlib.AbstractContextManager[None]) -> None:
        self._manager = manager

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        return self.__exit__(kind, error, traceback)

    def __enter__(self) -> None:
        self._manager.__enter__()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        return self._manager.__exit__(kind, error, traceback)


class Stages(SchemaExtensionsRunner):
    """The runner of an operation with one extension of generator hooks."""

    def __init__(
        self,
        execution_context: ExecutionContext,
        extension: SchemaExtension,
        hooks: dict[str, Hook | None],
    ) -> None:
        super().__init__(execution_context, [extension])
        self._extension = extension
        self._hooks = hooks

    def _step(self, step: str) -> Any:
        hook = self._hooks[step]
        if hook is None:
            return _NOTHING
        make, asynchronous = hook
        manager = make(self._extension)
        return manager if asynchronous else _Synchronous(manager)

    def operation(self) -> Any:
        return self._step("on_operation")

    def parsing(self) -> Any:
        return self._step("on_parse")

    def validation(self) -> Any:
        return self._step("on_validate")

    def executing(self) -> Any:
        return self._step("on_execute")


def runner(
    execution_context: ExecutionContext, extensions: list[SchemaExtension]
) -> SchemaExtensionsRunner:
    """`Stages` where it applies, strawberry's runner otherwise."""
    if len(extensions) == 1:
        hooks = _hooks(type(extensions[0]))
        if hooks is not None:
            return Stages(execution_context, extensions[0], hooks)
    return SchemaExtensionsRunner(execution_context=execution_context, extensions=extensions)
