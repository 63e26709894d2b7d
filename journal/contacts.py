"""The contact directory's table: a customer's phone number and push token, outside Temporal.

Written by the API (`PUT /v1/customers/{customer_id}/contact`), read by the delivery activities at
send time and by the inbound-SMS webhook (a sender's number to a customer). Nothing here logs a value.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, desc, select

from journal.schema import customer_contacts
from journal.store import insert_into, utc_naive

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


@dataclass(frozen=True)
class Contact:
    """How to reach one customer. `repr` hides the values: a stray log line shows no number or token."""

    phone: str | None = None
    push_token: str | None = None

    def __repr__(self) -> str:
        return f"Contact(channels={self.channels})"

    @property
    def channels(self) -> list[str]:
        """The channels this contact reaches, by name, in a fixed order."""
        return [name for name, value in (("push", self.push_token), ("sms", self.phone)) if value]


def save_contact(engine: Engine, customer_id: str, now: datetime, changes: Mapping[str, str | None]) -> Contact:
    """Sets the values in `changes` (`phone`, `push_token`; None clears one; one left out stays as it
    was). Returns the contact as saved."""
    with engine.begin() as connection:
        row = connection.execute(
            select(customer_contacts).where(customer_contacts.c.customer_id == customer_id)
        ).first()
        current = Contact(row.phone, row.push_token) if row is not None else Contact()
        saved = Contact(
            phone=changes.get("phone", current.phone),
            push_token=changes.get("push_token", current.push_token),
        )
        values = {"phone": saved.phone, "push_token": saved.push_token, "updated_at": utc_naive(now)}
        upsert = insert_into(engine, customer_contacts).values(customer_id=customer_id, **values)
        connection.execute(upsert.on_conflict_do_update(index_elements=["customer_id"], set_=values))
    return saved


def contact_of(engine: Engine, customer_id: str) -> Contact | None:
    """The customer's contact, or None when the directory has never heard of them."""
    with engine.connect() as connection:
        row = connection.execute(
            select(customer_contacts.c.phone, customer_contacts.c.push_token).where(
                customer_contacts.c.customer_id == customer_id
            )
        ).first()
    return Contact(row.phone, row.push_token) if row is not None else None


def customer_with_phone(engine: Engine, phone: str) -> str | None:
    """The customer this number belongs to (the one who registered it last), or None."""
    with engine.connect() as connection:
        return connection.execute(
            select(customer_contacts.c.customer_id)
            .where(customer_contacts.c.phone == phone)
            .order_by(desc(customer_contacts.c.updated_at))
            .limit(1)
        ).scalar()
