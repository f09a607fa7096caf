"""The Telnyx client: one typed method per operation, and pagination over the list ones."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from pydantic import TypeAdapter, ValidationError

from gateway.errors import BadInputError, FieldProblem, UpstreamError
from gateway.telnyx import models
from gateway.telnyx.caller import Params, UpstreamCaller
from gateway.telnyx.models import (
    CreateMessagingProfileRequest,
    Data,
    MessagingProfile,
    Page,
    PhoneNumberWithMessagingSettings,
    RawBody,
    ShortCode,
    UpdateMessagingProfileRequest,
    UpdatePhoneNumberMessagingRequest,
    UpdateShortCodeRequest,
)
from gateway.telnyx.transport import build_http_client
from gateway.tenancy import Tenant

__all__ = ["Fetched", "TelnyxClient", "build_http_client"]

T = TypeVar("T")
# The SDKs leave these literal in path values, so an E.164 id passes as `+1555...`.
PATH_SAFE = "+:@!$&'()*,;="


@dataclass(frozen=True, slots=True)
class Fetched(Generic[T]):
    """A parsed upstream answer and its exact bytes, which the REST face returns unchanged."""

    value: T
    body: bytes
    status: int


class TelnyxClient(UpstreamCaller):
    """Telnyx's messaging-profile operations for any tenant, parsed into `models`.

    Constructed like `UpstreamCaller`; `request` stays public for raw forwarding.
    """

    # --- messaging profiles -----------------------------------------------------------

    async def list_messaging_profiles(
        self,
        tenant: Tenant,
        *,
        page: int = 1,
        size: int = 20,
        name: str | None = None,
        name_eq: str | None = None,
        name_contains: str | None = None,
    ) -> Fetched[Page[MessagingProfile]]:
        params = {
            **_page(page, size),
            "filter[name]": name,
            "filter[name][eq]": name_eq,
            "filter[name][contains]": name_contains,
        }
        return await self._fetch(
            models.PROFILE_PAGE,
            tenant,
            "list_messaging_profiles",
            "GET",
            "/messaging_profiles",
            params=params,
        )

    async def retrieve_messaging_profile(
        self, tenant: Tenant, profile_id: str
    ) -> Fetched[Data[MessagingProfile]]:
        return await self._fetch_one(
            models.PROFILE,
            tenant,
            "retrieve_messaging_profile",
            "GET",
            "/messaging_profiles/{id}",
            profile_id,
        )

    async def create_messaging_profile(
        self, tenant: Tenant, body: CreateMessagingProfileRequest | RawBody
    ) -> Fetched[Data[MessagingProfile]]:
        return await self._fetch(
            models.PROFILE,
            tenant,
            "create_messaging_profile",
            "POST",
            "/messaging_profiles",
            json=_json(body),
        )

    async def update_messaging_profile(
        self, tenant: Tenant, profile_id: str, body: UpdateMessagingProfileRequest | RawBody
    ) -> Fetched[Data[MessagingProfile]]:
        return await self._fetch_one(
            models.PROFILE,
            tenant,
            "update_messaging_profile",
            "PATCH",
            "/messaging_profiles/{id}",
            profile_id,
            json=_json(body),
        )

    async def delete_messaging_profile(
        self, tenant: Tenant, profile_id: str
    ) -> Fetched[Data[MessagingProfile]]:
        return await self._fetch_one(
            models.PROFILE,
            tenant,
            "delete_messaging_profile",
            "DELETE",
            "/messaging_profiles/{id}",
            profile_id,
        )

    async def list_profile_phone_numbers(
        self, tenant: Tenant, profile_id: str, *, page: int = 1, size: int = 20
    ) -> Fetched[Page[PhoneNumberWithMessagingSettings]]:
        return await self._fetch(
            models.PHONE_NUMBER_PAGE,
            tenant,
            "list_profile_phone_numbers",
            "GET",
            f"/messaging_profiles/{_segment(profile_id)}/phone_numbers",
            route="/messaging_profiles/{id}/phone_numbers",
            params=_page(page, size),
        )

    async def list_profile_short_codes(
        self, tenant: Tenant, profile_id: str, *, page: int = 1, size: int = 20
    ) -> Fetched[Page[ShortCode]]:
        return await self._fetch(
            models.SHORT_CODE_PAGE,
            tenant,
            "list_profile_short_codes",
            "GET",
            f"/messaging_profiles/{_segment(profile_id)}/short_codes",
            route="/messaging_profiles/{id}/short_codes",
            params=_page(page, size),
        )

    # --- short codes ------------------------------------------------------------------

    async def list_short_codes(
        self,
        tenant: Tenant,
        *,
        page: int = 1,
        size: int = 20,
        messaging_profile_id: str | None = None,
    ) -> Fetched[Page[ShortCode]]:
        """`messaging_profile_id="null"` selects the short codes with no profile."""
        params = {**_page(page, size), "filter[messaging_profile_id]": messaging_profile_id}
        return await self._fetch(
            models.SHORT_CODE_PAGE, tenant, "list_short_codes", "GET", "/short_codes", params=params
        )

    async def retrieve_short_code(
        self, tenant: Tenant, short_code_id: str
    ) -> Fetched[Data[ShortCode]]:
        return await self._fetch_one(
            models.SHORT_CODE,
            tenant,
            "retrieve_short_code",
            "GET",
            "/short_codes/{id}",
            short_code_id,
        )

    async def update_short_code(
        self, tenant: Tenant, short_code_id: str, body: UpdateShortCodeRequest | RawBody
    ) -> Fetched[Data[ShortCode]]:
        return await self._fetch_one(
            models.SHORT_CODE,
            tenant,
            "update_short_code",
            "PATCH",
            "/short_codes/{id}",
            short_code_id,
            json=_json(body),
        )

    # --- phone numbers ----------------------------------------------------------------

    async def list_phone_numbers(
        self,
        tenant: Tenant,
        *,
        page: int = 1,
        size: int = 20,
        messaging_profile_id: str | None = None,
        phone_number: str | None = None,
        phone_number_contains: str | None = None,
        type: str | None = None,
        sort: str | None = None,
    ) -> Fetched[Page[PhoneNumberWithMessagingSettings]]:
        """GET /phone_numbers/messaging; `phone_number` may be a comma-separated list,
        `type` is tollfree, longcode or shortcode and `sort` asc or desc."""
        params = {
            **_page(page, size),
            "filter[messaging_profile_id]": messaging_profile_id,
            "filter[phone_number]": phone_number,
            "filter[phone_number][contains]": phone_number_contains,
            "filter[type]": type,
            "sort[phone_number]": sort,
        }
        return await self._fetch(
            models.PHONE_NUMBER_PAGE,
            tenant,
            "list_phone_numbers",
            "GET",
            "/phone_numbers/messaging",
            params=params,
        )

    async def retrieve_phone_number_messaging(
        self, tenant: Tenant, phone_number_id: str
    ) -> Fetched[Data[PhoneNumberWithMessagingSettings]]:
        return await self._fetch_one(
            models.PHONE_NUMBER,
            tenant,
            "retrieve_phone_number_messaging",
            "GET",
            "/phone_numbers/{id}/messaging",
            phone_number_id,
        )

    async def update_phone_number_messaging(
        self,
        tenant: Tenant,
        phone_number_id: str,
        body: UpdatePhoneNumberMessagingRequest | RawBody,
    ) -> Fetched[Data[PhoneNumberWithMessagingSettings]]:
        return await self._fetch_one(
            models.PHONE_NUMBER,
            tenant,
            "update_phone_number_messaging",
            "PATCH",
            "/phone_numbers/{id}/messaging",
            phone_number_id,
            json=_json(body),
        )

    # --- pagination -------------------------------------------------------------------

    async def pages(
        self,
        method: Callable[..., Awaitable[Fetched[Page[T]]]],
        tenant: Tenant,
        *args: Any,
        page: int = 1,
        **kwargs: Any,
    ) -> AsyncIterator[Page[T]]:
        """Every page of a list method, from `page` on, stopping as the official SDKs do.

        Unlike the SDKs, a page without `meta.page_number` counts as the page asked for, and
        the next request always moves forward, so a server ignoring `page[number]` cannot
        make this loop for ever.
        """
        while True:
            current = (await method(tenant, *args, page=page, **kwargs)).value
            yield current
            if current.is_last():
                return
            meta = current.meta or models.PaginationMeta()
            page = max(meta.page_number or page, page)
            if meta.total_pages is not None and page >= meta.total_pages:
                return
            page += 1

    async def iterate(
        self,
        method: Callable[..., Awaitable[Fetched[Page[T]]]],
        tenant: Tenant,
        *args: Any,
        **kwargs: Any,
    ) -> AsyncIterator[T]:
        """Every item of every page of a list method."""
        async for current in self.pages(method, tenant, *args, **kwargs):
            for item in current.data:
                yield item

    async def _fetch(
        self,
        parser: TypeAdapter[T],
        tenant: Tenant,
        operation: str,
        method: str,
        path: str,
        *,
        route: str | None = None,
        params: Params | None = None,
        json: Mapping[str, Any] | None = None,
    ) -> Fetched[T]:
        response = await self.request(
            tenant, operation, method, path, params=params, json=json, route=route or path
        )
        try:
            value = parser.validate_json(response.content)
        except ValidationError:
            # The pydantic error quotes the body; chaining it would put upstream data in logs.
            raise UpstreamError(
                operation, status=response.status_code, reason="unexpected response body"
            ) from None
        return Fetched(value, response.content, response.status_code)

    async def _fetch_one(
        self,
        parser: TypeAdapter[Data[T]],
        tenant: Tenant,
        operation: str,
        method: str,
        route: str,
        resource_id: str,
        *,
        json: Mapping[str, Any] | None = None,
    ) -> Fetched[Data[T]]:
        path = route.replace("{id}", _segment(resource_id))
        return await self._fetch(parser, tenant, operation, method, path, route=route, json=json)


def _page(page: int, size: int) -> dict[str, str | int | None]:
    return {"page[number]": page, "page[size]": size}


def _segment(value: str) -> str:
    """A path value encoded as the SDKs do; `.` and `..` are escaped so they stay one id."""
    if not value:
        raise BadInputError([FieldProblem(("id",), "must not be empty")])
    encoded = quote(value, safe=PATH_SAFE)
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


def _json(body: models.Request | RawBody) -> Mapping[str, Any]:
    # A validated request sends only the fields the caller set; a raw body (the REST face's)
    # goes as the caller wrote it, for Telnyx to judge.
    return body.to_json() if isinstance(body, models.Request) else body
