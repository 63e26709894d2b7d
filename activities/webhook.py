"""The generic HTTP delivery provider: one JSON POST per message to the operator's vendor gateway.

One pooled HTTP client per provider (connections kept alive between messages), closed by `aclose`
when the worker stops."""

from typing import Any

import httpx
from temporalio.exceptions import ApplicationError

# Statuses a retry can fix; any other 4xx means the request itself is wrong and never will succeed.
_RETRYABLE_4XX = {408, 425, 429}


class WebhookProvider:
    name = "webhook"

    def __init__(self, url: str, token: str | None = None, timeout_seconds: float = 10.0) -> None:
        self.url = url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_seconds))

    async def deliver(self, idempotency_key: str, payload: dict[str, Any]) -> bool:
        """Delivers once per key. Returns True when the gateway says it had the key already."""
        headers = {**self._headers, "Idempotency-Key": idempotency_key}
        try:
            response = await self._client.post(self.url, json=payload, headers=headers)
        except httpx.TimeoutException as exc:
            raise ApplicationError(f"webhook timed out: {type(exc).__name__}", type="DeliveryTimeout") from None
        except httpx.TransportError as exc:
            raise ApplicationError(f"webhook unreachable: {type(exc).__name__}", type="DeliveryUnreachable") from None
        if response.status_code == 409:
            return True
        if 200 <= response.status_code < 300:
            return False
        message = f"webhook answered {response.status_code}"
        if 400 <= response.status_code < 500 and response.status_code not in _RETRYABLE_4XX:
            raise ApplicationError(message, type="DeliveryRejected", non_retryable=True)
        raise ApplicationError(message, type="DeliveryFailed")

    async def aclose(self) -> None:
        await self._client.aclose()
