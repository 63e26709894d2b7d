"""SMS the vendor took, their delivery statuses, and the customers' consent records.

Ids, statuses and the words of an opt-out only: never a phone number.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, desc, select, update

from journal.schema import consent_records, sms_messages
from journal.store import insert_into, read_rows, utc, utc_naive

# A status never goes back: Twilio's callbacks may arrive out of order (sent after delivered).
STATUS_RANK = {"accepted": 0, "scheduled": 0, "queued": 1, "sending": 2, "sent": 3}
FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "canceled", "read"})


def _rank(status: str) -> int:
    return 9 if status in FINAL_STATUSES else STATUS_RANK.get(status, 0)


@dataclass(frozen=True)
class SmsMessage:
    message_id: str
    message_sid: str
    customer_id: str
    status: str
    error_code: str | None
    provider: str = ""


def sms_taken(engine: Engine, message_id: str) -> bool:
    """Did the vendor take this message already (a retried activity must not send it twice)?"""
    with engine.connect() as connection:
        found = connection.execute(
            select(sms_messages.c.message_id).where(sms_messages.c.message_id == message_id)
        ).first()
    return found is not None


def record_sms_taken(
    engine: Engine, message_id: str, message_sid: str, customer_id: str, provider: str, status: str, now: datetime
) -> None:
    at = utc_naive(now)
    row = {
        "message_id": message_id,
        "message_sid": message_sid,
        "customer_id": customer_id,
        "provider": provider,
        "status": status,
        "sent_at": at,
        "updated_at": at,
    }
    with engine.begin() as connection:
        connection.execute(insert_into(engine, sms_messages).values(**row).on_conflict_do_nothing())


def record_sms_status(
    engine: Engine, message_sid: str, status: str, error_code: str | None, now: datetime
) -> SmsMessage | None:
    """Takes a delivery status (unless a later one is known). Returns the message, None when unknown."""
    with engine.begin() as connection:
        row = connection.execute(select(sms_messages).where(sms_messages.c.message_sid == message_sid)).first()
        if row is None:
            return None
        if _rank(status) >= _rank(row.status) and row.status not in FINAL_STATUSES:
            connection.execute(
                update(sms_messages)
                .where(sms_messages.c.message_sid == message_sid)
                .values(status=status, error_code=error_code, updated_at=utc_naive(now))
            )
            return SmsMessage(row.message_id, message_sid, row.customer_id, status, error_code, row.provider)
    return SmsMessage(row.message_id, message_sid, row.customer_id, row.status, row.error_code, row.provider)


def sms_messages_of(engine: Engine, customer_id: str) -> list[SmsMessage]:
    rows = read_rows(engine, sms_messages, [sms_messages.c.customer_id == customer_id])
    return [
        SmsMessage(r["message_id"], r["message_sid"], r["customer_id"], r["status"], r["error_code"], r["provider"])
        for r in rows
    ]


@dataclass(frozen=True)
class Consent:
    channel: str
    opted_out: bool
    at: datetime
    how: str
    words: str


def record_consent(
    engine: Engine, customer_id: str, channel: str, opted_out: bool, at: datetime, how: str, words: str = ""
) -> None:
    with engine.begin() as connection:
        connection.execute(
            consent_records.insert().values(
                customer_id=customer_id,
                channel=channel,
                opted_out=opted_out,
                at=utc_naive(at),
                how=how[:40],
                words=words[:160],
            )
        )


def consents_of(engine: Engine, customer_id: str) -> list[Consent]:
    """The customer's consent records, oldest first."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(consent_records)
            .where(consent_records.c.customer_id == customer_id)
            .order_by(consent_records.c.at, consent_records.c.id)
        ).all()
    return [Consent(r.channel, r.opted_out, utc(r.at) or r.at, r.how, r.words) for r in rows]


def opted_out_of(engine: Engine, customer_id: str, channel: str) -> bool:
    """The latest consent record of the channel says opted out."""
    with engine.connect() as connection:
        latest = connection.execute(
            select(consent_records.c.opted_out)
            .where(consent_records.c.customer_id == customer_id, consent_records.c.channel == channel)
            .order_by(desc(consent_records.c.at), desc(consent_records.c.id))
            .limit(1)
        ).scalar()
    return bool(latest)
