"""Sign-in throttling: growing delays, then a temporary lockout, per account and per client address.

The counts live in the journal database (`sign_in_throttle`), so every API process behind a load
balancer sees the same ones: a guesser gains nothing by spreading attempts over processes. After a
key's n-th failure, with L = its lockout threshold: below L/2 nothing happens; from L/2 the next
attempt must wait 1, 2, 4, ... seconds (at most a minute); at L the key is locked for the lockout
time. An attempt made while a key waits is not checked (the right password is refused too, so the
answer tells nothing) and counts as a failure, so a script that keeps going reaches the lockout at
once; attempts during the lockout do not extend it. A lockout ends on time and the key starts over.

Keys are a sha256 of scope and value: what was typed as a username is never stored.
"""

import hashlib
import ipaddress
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Engine, create_engine, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.pool import StaticPool

from core.settings import Settings
from journal.schema import sign_in_throttle
from journal.store import utc_naive

MAX_DELAY_S = 60
ADDRESS_FACTOR = (
    3  # a client address may be shared (an office behind NAT): it gets this many times an account's allowance
)


class Scope(StrEnum):
    ACCOUNT = "account"  # console sign-ins of one account, from anywhere
    ADDRESS = "address"  # console sign-ins from one client address, to any account
    TOKEN = "token"  # wrong API bearer tokens from one client address


@dataclass(frozen=True)
class Key:
    scope: Scope
    value: str

    @property
    def hash(self) -> str:
        return hashlib.sha256(f"{self.scope}\0{self.value}".encode()).hexdigest()


@dataclass(frozen=True)
class Wait:
    """An attempt that must wait: how long, and whether it is a lockout rather than a short delay."""

    seconds: int
    locked: bool
    scope: Scope

    def plain_words(self) -> str:
        """What the person at the sign-in page is told."""
        if self.locked:
            whom = "this account" if self.scope is Scope.ACCOUNT else "your network address"
            return (
                f"Too many failed sign-ins: sign-in for {whom} is locked for {_duration(self.seconds)}. "
                "Try again after that, or ask a supervisor if you have forgotten your password."
            )
        return f"Too many failed sign-ins: wait {_duration(self.seconds)} before trying again."


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"


def client_address(host: str | None) -> str:
    """The address a client is counted by: IPv6 by its /64 (one host usually holds the whole block)."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address.ipv4_mapped or address) if isinstance(address, ipaddress.IPv6Address) else str(address)


def _memory_engine() -> Engine:
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    sign_in_throttle.create(engine)
    return engine


@dataclass
class SignInThrottle:
    """The policy, from settings; `clock` is injectable so tests move time instead of sleeping."""

    lockout_after: int
    lockout: timedelta
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _fallback: Engine | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "SignInThrottle":
        return cls(settings.sign_in_lockout_after, timedelta(seconds=settings.sign_in_lockout_seconds))

    def engine(self, journal: Engine | None) -> Engine:
        """The journal; without one (an app built with a journal-less client), this process's own memory."""
        if journal is not None:
            return journal
        if self._fallback is None:
            self._fallback = _memory_engine()
        return self._fallback

    def threshold(self, scope: Scope) -> int:
        return self.lockout_after * (1 if scope is Scope.ACCOUNT else ADDRESS_FACTOR)

    def waiting(self, engine: Engine, keys: Sequence[Key]) -> Wait | None:
        """The longest wait any of `keys` is under now; None: the attempt may be checked."""
        now = utc_naive(self.clock())
        with engine.connect() as connection:
            rows = connection.execute(
                select(sign_in_throttle.c.scope, sign_in_throttle.c.not_before, sign_in_throttle.c.locked).where(
                    sign_in_throttle.c.key_hash.in_([k.hash for k in keys]),
                    sign_in_throttle.c.forget_at > now,
                    sign_in_throttle.c.not_before > now,
                )
            ).all()
        if not rows:
            return None
        row = max(rows, key=lambda r: (r.locked, r.not_before))
        return Wait(max(1, math.ceil((row.not_before - now).total_seconds())), bool(row.locked), Scope(row.scope))

    def fail(self, engine: Engine, keys: Sequence[Key]) -> Wait | None:
        """Counts a failure for each key not locked; returns the wait the next attempt is under."""
        now = utc_naive(self.clock())
        insert = (postgresql if engine.dialect.name == "postgresql" else sqlite).insert
        with engine.begin() as connection:
            # A write first, so the transaction holds the write lock before it reads (SQLite) and the
            # rows it counts cannot change under it (PostgreSQL takes row locks in the upsert).
            connection.execute(delete(sign_in_throttle).where(sign_in_throttle.c.forget_at <= now))
            for key in keys:
                upsert = insert(sign_in_throttle).values(
                    key_hash=key.hash,
                    scope=key.scope.value,
                    failures=1,
                    last_failure_at=now,
                    not_before=now,
                    locked=False,
                    forget_at=now + self.lockout,
                )
                connection.execute(
                    upsert.on_conflict_do_update(
                        index_elements=["key_hash"],
                        set_={"failures": sign_in_throttle.c.failures + 1, "last_failure_at": now},
                        where=sign_in_throttle.c.locked.is_(False),
                    )
                )
                failures = connection.execute(
                    select(sign_in_throttle.c.failures).where(sign_in_throttle.c.key_hash == key.hash)
                ).scalar_one()
                changes = self._after(failures, self.threshold(key.scope), now)
                if changes is not None:
                    connection.execute(
                        update(sign_in_throttle)
                        .where(sign_in_throttle.c.key_hash == key.hash, sign_in_throttle.c.locked.is_(False))
                        .values(**changes)
                    )
        return self.waiting(engine, keys)

    def _after(self, failures: int, threshold: int, now: datetime) -> dict[str, object] | None:
        """The row's new wait after its `failures`-th failure: a lockout, a delay, or none yet."""
        if failures >= threshold:
            return {"locked": True, "not_before": now + self.lockout, "forget_at": now + self.lockout}
        free = max(1, threshold // 2)
        if failures < free:
            return {"forget_at": now + self.lockout}
        delay = timedelta(seconds=min(MAX_DELAY_S, 2 ** (failures - free)))
        return {"not_before": now + delay, "forget_at": now + max(self.lockout, delay)}

    def succeed(self, engine: Engine, key: Key) -> None:
        """A right password clears its account's count (not its address's: one known account must not
        buy a guesser fresh attempts at the others)."""
        with engine.begin() as connection:
            connection.execute(
                delete(sign_in_throttle).where(
                    sign_in_throttle.c.key_hash == key.hash, sign_in_throttle.c.locked.is_(False)
                )
            )
