"""Delivery rate per channel: what became of the messages the journeys sent, by the vendors' receipts.

`sent` counts the messages the journeys' decisions in the journal say went out (every provider): their
`sent` decisions less those the vendor never took (a channel lost, or the retries spent). SMS
receipts are the journal's `sms_messages` (Twilio's status callbacks: a message the vendor took
and what it said of it since): delivered, undelivered, failed, or pending (taken, no final word
yet). Push has no receipts (FCM says whether it took a message, not whether the device showed it),
nor do SMS sent through the outbox or a generic webhook: the figures say so instead of a rate.

Scope: the journeys of the report (started in [since, until), of the playbook when one is named);
an SMS counts for them when its customer has such a journey that started before it was sent.
"""

from pydantic import BaseModel, Field
from sqlalchemy import Engine, and_, case, func, select
from sqlalchemy.sql.elements import ColumnElement

from journal.schema import journal_entries, journeys, sms_messages

CHANNELS = ("push", "sms")
NO_RECEIPTS = "no receipts"
UNDELIVERED = ("undelivered",)
FAILED = ("failed", "canceled")
DELIVERED = ("delivered", "read")


class ChannelDelivery(BaseModel):
    channel: str
    sent: int = Field(description="messages the journeys sent on this channel (their `sent` decisions)")
    with_receipts: int = Field(description="of which a vendor sends receipts for (Twilio's SMS)")
    delivered: int | None
    undelivered: int | None
    failed: int | None
    pending: int | None = Field(description="taken by the vendor, no final word yet")
    delivery_rate: float | None = Field(description="delivered among those with a final word; None: no receipts")
    by_provider: dict[str, int] = Field(default_factory=dict, description="messages with receipts, per provider")
    note: str = ""


def delivery_by_channel(engine: Engine, in_scope: ColumnElement[bool]) -> list[ChannelDelivery]:
    """One row per channel; `in_scope` selects the report's journeys (a condition on `journeys`)."""
    e, s = journal_entries.c, sms_messages.c
    # A `sent` decision names its channel in its reason (push, fallback_to_sms...). A message the vendor
    # never took is a `failed` decision after it: the channel lost (push_unreachable, sms_opted_out) or
    # the retries spent (delivery_failed, "sms: ..."); it is no message sent.
    sent = case((e.reason.like("%push"), 1), (e.reason.like("%sms"), 2), else_=0)
    lost = case(
        (e.reason.in_(("push_unreachable", "push_opted_out")), -1),
        (e.reason.in_(("sms_unreachable", "sms_opted_out")), -2),
        (and_(e.reason == "delivery_failed", e.detail.like("push:%")), -1),
        (and_(e.reason == "delivery_failed", e.detail.like("sms:%")), -2),
        else_=0,
    )
    channel = case((e.name == "sent", sent), else_=lost)
    sent_rows = (
        select(channel.label("channel"), func.count().label("n"))
        .select_from(journal_entries.join(journeys, e.journey_id == journeys.c.journey_id))
        .where(in_scope, e.kind == "decision", e.name.in_(("sent", "failed")))
        .group_by(channel)
    )
    of_journeys_in_scope = (
        select(journeys.c.journey_id)
        .where(in_scope, journeys.c.customer_id == s.customer_id, journeys.c.started_at <= s.sent_at)
        .exists()
    )
    receipts = (
        select(s.provider, s.status, func.count().label("n")).where(of_journeys_in_scope).group_by(s.provider, s.status)
    )
    with engine.connect() as connection:
        counts = {int(r.channel): int(r.n) for r in connection.execute(sent_rows)}
        sms = [(r.provider, r.status, int(r.n)) for r in connection.execute(receipts)]
    push_sent, sms_sent = (max(counts.get(n, 0) - counts.get(-n, 0), 0) for n in (1, 2))
    return [_push(push_sent), _sms(sms_sent, sms)]


def _without_receipts(channel: str, sent: int) -> ChannelDelivery:
    """A channel none of whose messages has a receipt (push never does): what was sent, and no rate."""
    return ChannelDelivery(
        channel=channel,
        sent=sent,
        with_receipts=0,
        delivered=None,
        undelivered=None,
        failed=None,
        pending=None,
        delivery_rate=None,
        note=NO_RECEIPTS,
    )


def _push(sent: int) -> ChannelDelivery:
    return _without_receipts("push", sent)


def _sms(sent: int, rows: list[tuple[str, str, int]]) -> ChannelDelivery:
    if not rows:
        return _without_receipts("sms", sent)
    delivered = sum(n for _, status, n in rows if status in DELIVERED)
    undelivered = sum(n for _, status, n in rows if status in UNDELIVERED)
    failed = sum(n for _, status, n in rows if status in FAILED)
    with_receipts = sum(n for _, _, n in rows)
    by_provider: dict[str, int] = {}
    for provider, _, n in rows:
        by_provider[provider] = by_provider.get(provider, 0) + n
    final = delivered + undelivered + failed
    without = max(sent - with_receipts, 0)
    return ChannelDelivery(
        channel="sms",
        sent=sent,
        with_receipts=with_receipts,
        delivered=delivered,
        undelivered=undelivered,
        failed=failed,
        pending=with_receipts - final,
        delivery_rate=delivered / final if final else None,
        by_provider=dict(sorted(by_provider.items())),
        note=f"{without} sent through a provider without receipts" if without else "",
    )
