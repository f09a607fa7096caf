"""How one Telnyx operation is described, once, for every part of the gateway.

An operation is a class: its fields are the operation's typed and validated parameters
(path and query), its class attributes say how it goes on the wire (`http`), how its
answer is cached (`Read.family`, `Read.scope`) and what a write changes (`Write.evicts`).
An instance is one call, ready to send:

    class RetrieveMessagingProfile(Read[Data[MessagingProfile]]):
        http = Http("GET", "/messaging_profiles/{id}", "RetrieveMessagingProfile", "...")
        family = Family.PROFILES
        scope = "id"

        id: ProfileId

    fetched = await service.read(caller, RetrieveMessagingProfile(id=profile_id))

The client sends any operation (`url_path`, `query`), the service caches and invalidates
any operation, the REST face routes and validates any operation, and `/v2/openapi.json`
documents them, all from these classes (`gateway.telnyx.operations` lists them).

Path values are checked against the formats Telnyx uses and percent-encoded with RFC 3986's
segment rules (as the official SDKs' `path_template` does), so no input can change which
endpoint is called: `.`, `..`, `/` and their encodings stay inside their segment.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, ClassVar, Generic, Literal, ParamSpec, TypeVar, get_origin
from urllib.parse import quote

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from gateway.errors import BadInputError, FieldProblem, UpstreamError
from gateway.telnyx.models import Data, Page, Request

R = TypeVar("R")
B = TypeVar("B", bound="Request | None")
T = TypeVar("T")
P = ParamSpec("P")

# Telnyx's pages: `page[size]` defaults to 20 and may be at most 250. Telnyx states no
# maximum page number; past a 32-bit integer no account has such a page, and upstream
# serialisers overflow, so the gateway refuses it.
PAGE_SIZE_DEFAULT = 20
PAGE_SIZE_MAX = 250
PAGE_NUMBER_MAX = 2**31 - 1
# The longest filter value accepted: longer is nobody's name or number.
TEXT_MAX = 256

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Telnyx's numeric id of a number ('1293384261075731499'), or the number in E.164 with or
# without its '+'.
_NUMBER = re.compile(r"\+?[0-9]{1,24}")
_SEGMENT_SAFE = "!$&'()*+,;=:@"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


# Functions marked `no mutate block` run while this module is imported (building the
# operations' validators and tables), before a mutant can be switched on: `make mutate` makes
# none of their mutants, since no test could kill them (docs/mutation.md). A slip there fails
# every test that imports the operations. The id check itself runs per request.
def _fullmatch(pattern: re.Pattern[str], message: str, value: str) -> str:
    if not pattern.fullmatch(value):
        raise ValueError(message)
    return value


def _matching(pattern: re.Pattern[str], message: str) -> AfterValidator:  # pragma: no mutate block
    return AfterValidator(partial(_fullmatch, pattern, message))


ProfileId = Annotated[
    str,
    Field(
        max_length=36,
        description="A messaging profile's id (a UUID).",
        json_schema_extra={"format": "uuid"},
    ),
    _matching(UUID, "must be a messaging profile id (a UUID)"),
]
ShortCodeId = Annotated[
    str,
    Field(
        max_length=36,
        description="A short code's id (a UUID).",
        json_schema_extra={"format": "uuid"},
    ),
    _matching(UUID, "must be a short code id (a UUID)"),
]
PhoneNumberId = Annotated[
    str,
    Field(
        max_length=25,
        description="A phone number's id, or the phone number in +E.164.",
        json_schema_extra={"pattern": "^" + _NUMBER.pattern + "$"},
    ),
    _matching(_NUMBER, "must be a phone number's numeric id or the number in +E.164"),
]
Text = Annotated[str, Field(max_length=TEXT_MAX)]


@dataclass(frozen=True, slots=True)
class Query:
    """Marks a field as a query parameter, under its name on the wire."""

    wire: str


PageNumber = Annotated[int, Query("page[number]"), Field(ge=1, le=PAGE_NUMBER_MAX)]
PageSize = Annotated[int, Query("page[size]"), Field(ge=1, le=PAGE_SIZE_MAX)]


class Family(enum.StrEnum):
    """Resource families; each has its own cache TTL."""

    PROFILES = "profiles"
    SHORT_CODES = "short_codes"
    PHONE_NUMBERS = "phone_numbers"


@dataclass(frozen=True, slots=True)
class Http:
    """How an operation goes on the wire, and how the REST face documents it."""

    method: Literal["GET", "POST", "PATCH", "DELETE"]
    path: str  # relative to the base URL, with `{field}` placeholders
    operation_id: str  # Telnyx's operationId
    summary: str
    # The status of the gateway's own refusal of a query parameter (Telnyx's, per operation).
    refusal_status: int = 422


class Fetched(Generic[R]):
    """An upstream answer: its exact bytes, which the REST face returns unchanged, and its
    value, parsed from them when asked for (a read served to REST is never parsed).

    It keeps no parsed value: the cache keeps these, and bytes cost a fifth of the objects
    parsed from them. Each `value` parses again, so a reader keeps what it got.
    """

    __slots__ = ("_parse", "body", "operation", "status")

    def __init__(
        self, operation: str, body: bytes, status: int, parse: Callable[[bytes], R]
    ) -> None:
        self.operation = operation
        self.body = body
        self.status = status
        self._parse = parse

    @property
    def value(self) -> R:
        try:
            return self._parse(self.body)
        except (orjson.JSONDecodeError, TypeError):
            raise UpstreamError(
                self.operation, status=self.status, reason="unexpected response body"
            ) from None


def _snake(name: str) -> str:  # pragma: no mutate block
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _parse_data(body: bytes) -> Any:
    parsed = orjson.loads(body)
    if not isinstance(parsed, dict) or not isinstance(parsed.get("data"), dict):
        raise TypeError  # `Fetched.value` says what went wrong
    return parsed


def _parse_page(body: bytes) -> Any:
    parsed = orjson.loads(body)
    data = parsed.get("data") if isinstance(parsed, dict) else None
    if (
        not isinstance(data, list)
        or not all(isinstance(item, dict) for item in data)
        or not isinstance(parsed.get("meta") or {}, dict)
    ):
        raise TypeError  # as above
    return parsed


def _parser(result: Any) -> Callable[[bytes], Any]:  # pragma: no mutate block
    origin = get_origin(result) or result
    if origin is Page:
        return _parse_page
    if origin is Data:
        return _parse_data
    raise TypeError(f"an operation answers Data[...] or Page[...], not {result!r}")


def _query_name(annotation: Any, metadata: list[Any]) -> str | None:  # pragma: no mutate block
    for item in (*metadata, *getattr(annotation, "__metadata__", ())):
        if isinstance(item, Query):
            return item.wire
    return None


def checked(make: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """`make(...)` (an operation, usually), or `BadInputError` naming each bad field: how
    the faces build calls from a caller's values, refusing bad input before any is sent."""
    try:
        return make(*args, **kwargs)
    except ValidationError as exc:
        raise BadInputError(problems_of(exc)) from None


def problems_of(exc: ValidationError, *, where: tuple[str | int, ...] = ()) -> list[FieldProblem]:
    """One problem per invalid field, at its path under `where`; never the value."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        message = error["msg"].removeprefix("Value error, ")
        problems.append(FieldProblem((*where, *error["loc"]), message))
    return problems


class Operation(BaseModel, Generic[R]):
    """One Telnyx operation (the class) and one call of it (an instance): see the module."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    http: ClassVar[Http]
    # Derived from the class when it is made:
    operation: ClassVar[str]  # snake_case name: spans, metrics and cache kinds
    parse: ClassVar[Callable[[bytes], Any]]
    path_fields: ClassVar[tuple[str, ...]]
    query_fields: ClassVar[tuple[tuple[str, str], ...]]  # (field, wire name)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:  # pragma: no mutate block
        super().__pydantic_init_subclass__(**kwargs)
        if "http" not in cls.__dict__:
            return  # an abstract kind of operation (Read, Write), not an operation
        cls.operation = _snake(cls.__name__)
        cls.parse = _parser(result_type(cls))
        cls.path_fields = tuple(_PLACEHOLDER.findall(cls.http.path))
        cls.query_fields = tuple(
            (name, wire)
            for name, info in cls.model_fields.items()
            if (wire := _query_name(info.annotation, info.metadata)) is not None
        )
        described = set(cls.path_fields) | {name for name, _ in cls.query_fields}
        if described != set(cls.model_fields):
            raise TypeError(f"{cls.__name__}: every field is a path or a query parameter")

    def url_path(self) -> str:
        """The path, each value encoded as one segment (`.` and `..` escaped too)."""
        path = self.http.path
        for name in self.path_fields:
            path = path.replace("{" + name + "}", _segment(str(getattr(self, name))))
        return path

    def query(self) -> list[tuple[str, str | int]]:
        """The query parameters that are set, by wire name."""
        return [
            (wire, value)
            for name, wire in self.query_fields
            if (value := getattr(self, name)) is not None
        ]

    def params(self) -> tuple[Any, ...]:
        """Every field's value: with the operation, what a cached read is keyed by."""
        return tuple(getattr(self, name) for name in type(self).model_fields)


def result_type(cls: type[Operation[Any]]) -> Any:  # pragma: no mutate block
    for base in cls.__mro__:
        metadata = getattr(base, "__pydantic_generic_metadata__", None)
        if metadata and metadata["origin"] is not None and metadata["args"]:
            return metadata["args"][0]
    raise TypeError(f"{cls.__name__} does not say what it answers")


def _segment(value: str) -> str:
    """A path value encoded as the SDKs do; `.` and `..` are escaped so they stay one id."""
    encoded = quote(value, safe=_SEGMENT_SAFE)
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


class Read(Operation[R]):
    """An operation that reads: cached per tenant, for its family's TTL."""

    family: ClassVar[Family]
    # The field whose value an entry belongs to, so a write can evict just that id's reads.
    scope: ClassVar[str | None] = None

    def scope_value(self) -> str | None:
        return None if self.scope is None else str(getattr(self, self.scope))

    def page_window(self) -> tuple[int, int] | None:
        """(page number, page size) of a list read; None for others."""
        # Asked of the class first: a missing attribute costs pydantic an exception.
        fields = type(self).model_fields
        if "page" not in fields or "size" not in fields:
            return None
        # Both are PageNumber and PageSize fields, validated ints.
        page: int = getattr(self, "page")  # noqa: B009
        size: int = getattr(self, "size")  # noqa: B009
        return page, size


@dataclass(frozen=True, slots=True)
class Evict:
    """What a write changes: the entries of one read, all or those of one id (the write's
    field named by `scope`)."""

    read: type[Read[Any]]
    scope: str | None = None


class Write(Operation[R], Generic[R, B]):
    """An operation that changes something; `B` is its request body model (None: none)."""

    body: ClassVar[type[Request] | None] = None
    # Also after a failure: a write that timed out may still have been applied.
    evicts: ClassVar[tuple[Evict, ...]] = ()

    def evictions(self) -> tuple[tuple[str, str | None], ...]:
        """(cache kind, scope) of everything this write may have changed."""
        return tuple(
            (evict.read.operation, None if evict.scope is None else str(getattr(self, evict.scope)))
            for evict in self.evicts
        )
