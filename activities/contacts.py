"""Where the delivery activities find a customer's phone number or push token, at send time.

A message names a customer, never a number or a token: the value is looked up here, inside the
activity, and never returned, logged or handed back to the journey. Two directories:

- embedded default: the journal's `customer_contacts` table, filled by `PUT /v1/customers/{id}/contact`;
- production (`RECOVERY_CONTACT_LOOKUP_URL`): the operator's customer API, `GET {url}/{customer_id}`
  answering `{"phone": ..., "push_token": ...}` (404: unknown), and `GET {url}?phone=<E.164>`
  answering `{"customer_id": ...}` (404: nobody) for inbound SMS.
"""

import asyncio
from typing import Protocol
from urllib.parse import quote

import httpx
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from journal.contacts import E164, Contact, contact_of, customer_with_phone

__all__ = ["Contact", "ContactDirectory", "HttpContactDirectory", "JournalContactDirectory", "contact_directory"]


class ContactDirectory(Protocol):
    async def contact(self, customer_id: str) -> Contact | None:
        """The customer's contact; None when the directory does not know the customer."""
        ...

    async def customer_with_phone(self, phone: str) -> str | None:
        """The customer a phone number (E.164) belongs to; None when nobody has it."""
        ...


class JournalContactDirectory:
    """The embedded default: the journal's table."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def contact(self, customer_id: str) -> Contact | None:
        return await asyncio.to_thread(contact_of, self._engine, customer_id)

    async def customer_with_phone(self, phone: str) -> str | None:
        return await asyncio.to_thread(customer_with_phone, self._engine, phone)


class HttpContactDirectory:
    """The operator's customer API; one pooled client for every lookup."""

    def __init__(self, url: str, token: str | None = None, timeout_seconds: float = 5.0) -> None:
        self._url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(timeout_seconds))

    async def contact(self, customer_id: str) -> Contact | None:
        body = await self._get(f"{self._url}/{quote(customer_id, safe='')}", {})
        if body is None:
            return None
        phone, token = body.get("phone"), body.get("push_token")
        return Contact(
            phone=phone if isinstance(phone, str) and E164.match(phone) else None,
            push_token=token if isinstance(token, str) and token else None,
        )

    async def customer_with_phone(self, phone: str) -> str | None:
        body = await self._get(self._url, {"phone": phone})
        customer_id = body.get("customer_id") if body is not None else None
        return customer_id if isinstance(customer_id, str) and customer_id else None

    async def _get(self, url: str, params: dict[str, str]) -> dict[str, object] | None:
        try:
            response = await self._client.get(url, params=params)
        except httpx.HTTPError as exc:  # never the URL: it may hold a number
            raise ApplicationError(
                f"contact lookup unreachable: {type(exc).__name__}", type="ContactLookupFailed"
            ) from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ApplicationError(f"contact lookup answered {response.status_code}", type="ContactLookupFailed")
        body = response.json()
        return body if isinstance(body, dict) else None

    async def aclose(self) -> None:
        await self._client.aclose()


def contact_directory(engine: Engine, lookup_url: str | None, token: str | None = None) -> ContactDirectory:
    """The operator's customer API when a lookup URL is set; the journal's table otherwise."""
    return HttpContactDirectory(lookup_url, token) if lookup_url else JournalContactDirectory(engine)
