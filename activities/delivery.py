"""The one small interface every message provider implements."""

from typing import Any, Protocol


class Delivery(Protocol):
    name: str

    async def deliver(self, idempotency_key: str, payload: dict[str, Any]) -> bool:
        """Delivers the payload once per key; True when the key had been delivered before."""
        ...
