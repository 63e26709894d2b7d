"""A second SMS provider for when the first keeps failing (`RECOVERY_SMS_FAILOVER_PROVIDER`).

Which provider an SMS goes out through, per attempt of the delivery activity:

- a message whose first `after` attempts failed at the first provider goes to the second for the
  rest of its retries (its retries at the first are used up);
- when the first has failed `after` times in a row, across messages, every message goes to the second
  for `cooldown`; then the first is tried again (one more failure and it is set aside again).

Only the vendor's own failures count: 5xx and 429 (`DeliveryFailed`), timeouts (`DeliveryTimeout`), a
connection refused (`DeliveryUnreachable`). An opt-out or an unreachable number is the customer's
answer, the same at any vendor, and a refused request (`DeliveryRejected`) is final: neither moves
a message to the second provider.

Before the second sends, the first is asked whether it took the message after all (Twilio: its
journal of messages taken, written when Twilio answered): then it is not sent twice. A timeout at the
first provider may still hide a message it sent without our knowing: then the second may send it
again (two vendors cannot know of each other's idempotency keys). One instance per worker: its memory
of failures is the worker's.
"""

import time
from collections.abc import Callable
from datetime import timedelta

import structlog
from temporalio.exceptions import ApplicationError

from activities.delivery import Delivery

log = structlog.get_logger(__name__)

VENDOR_FAILURES = frozenset({"DeliveryFailed", "DeliveryTimeout", "DeliveryUnreachable"})


def is_vendor_failure(error: BaseException) -> bool:
    return isinstance(error, ApplicationError) and error.type in VENDOR_FAILURES


class SmsFailover:
    def __init__(
        self,
        first: Delivery,
        second: Delivery,
        *,
        after: int = 3,
        cooldown: timedelta = timedelta(minutes=5),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if after < 1:
            raise ValueError("after: at least one failure before the failover")
        self.first, self.second = first, second
        self._after = after
        self._cooldown = cooldown.total_seconds()
        self._clock = clock
        self._failures_in_a_row = 0
        self._set_aside_until: float | None = None

    def provider_for(self, attempt: int) -> Delivery:
        """The provider for this attempt (1 for a message's first) of a message's delivery."""
        if attempt > self._after or self._set_aside():
            return self.second
        return self.first

    async def first_took(self, idempotency_key: str) -> bool:
        """Whether the first provider says it took the message (Twilio's journal of messages taken); a
        provider that cannot tell (a webhook, the outbox) is taken at its word: no."""
        took = getattr(self.first, "took", None)
        return bool(await took(idempotency_key)) if took is not None else False

    def failed(self, provider: Delivery, error: BaseException) -> None:
        if provider is not self.first or not is_vendor_failure(error):
            return
        self._failures_in_a_row += 1
        if self._failures_in_a_row >= self._after and self._set_aside_until is None:
            self._set_aside_until = self._clock() + self._cooldown
            log.warning(
                "sms_provider_set_aside",
                provider=self.first.name,
                failover=self.second.name,
                failures_in_a_row=self._failures_in_a_row,
                seconds=self._cooldown,
            )

    def succeeded(self, provider: Delivery) -> None:
        if provider is self.first:
            self._failures_in_a_row = 0
            self._set_aside_until = None

    def _set_aside(self) -> bool:
        if self._set_aside_until is None:
            return False
        if self._clock() < self._set_aside_until:
            return True
        # The cool-down is over: the first provider gets one more chance; a failure sets it aside again.
        self._set_aside_until = None
        self._failures_in_a_row = self._after - 1
        return False

    async def aclose(self) -> None:
        for provider in (self.first, self.second):
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()
