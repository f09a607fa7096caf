"""Checks of a request body's shape, before strawberry reads its members.

strawberry reads members of whatever JSON it is given: a bare `true` or a batch item that
is not an object would fail as a 500. These refuse such bodies with a 400 that says what
is wrong, and hold batches to the gateway's own limit.
"""

from __future__ import annotations

from cross_web import HTTPException

# The members of one operation in a request body, and the types each may have.
_MEMBERS: tuple[tuple[str, type | tuple[type, ...], str], ...] = (
    ("query", str, "a string"),
    ("operationName", str, "a string"),
    ("variables", dict, "an object"),
    ("extensions", dict, "an object"),
)


def check_operation(data: object, where: str) -> None:
    """Refuse an operation whose members have the wrong JSON types (400)."""
    if not isinstance(data, dict):
        raise HTTPException(400, f"{where} must be a JSON object.")
    for name, kind, described in _MEMBERS:
        value = data.get(name)
        if value is not None and not isinstance(value, kind):
            raise HTTPException(400, f"{where}: `{name}` must be {described} or null.")


def check_body(body: object, *, max_batch_size: int) -> None:
    """Refuse a body that is neither one operation nor a batch the gateway runs (400)."""
    if isinstance(body, dict):
        return
    if not isinstance(body, list):
        raise HTTPException(400, "The request body must be a JSON object, or an array of them.")
    if not max_batch_size:
        raise HTTPException(400, "Batching is off: send one operation per request.")
    if not body:
        raise HTTPException(400, "A batch must hold at least one operation.")
    if len(body) > max_batch_size:
        raise HTTPException(
            400,
            f"A batch may hold at most {max_batch_size} operations; this one holds {len(body)}.",
        )
    for index, item in enumerate(body):
        check_operation(item, f"Operation {index} of the batch")
