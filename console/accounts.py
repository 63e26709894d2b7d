"""Agent accounts in the journal database, with argon2 password hashes.

Usernames double as the agent id the journey records, so they follow the same pattern.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from journal.schema import agent_sessions, agents
from journal.store import utc, utc_naive
from workflows.human_tasks import AGENT_ID_PATTERN

MIN_PASSWORD_LENGTH = 12
# OWASP's argon2id baseline (19 MiB, 2 passes): tens of milliseconds a sign-in, not the library's ~0.4 s
# on a small API host.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


@cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so a wrong username costs as long as a wrong password."""
    return _hasher.hash("not-a-real-password")


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"


@dataclass(frozen=True)
class Agent:
    username: str
    role: Role
    created_at: datetime

    @property
    def is_supervisor(self) -> bool:
        return self.role is Role.SUPERVISOR


class AccountError(ValueError):
    """An account request that cannot be done; the message says why."""


def check_username(username: str) -> str:
    if not re.fullmatch(AGENT_ID_PATTERN, username):
        raise AccountError(
            "a username is 1-64 characters: letters, digits, '_', '.', '@', '-', starting with a letter or digit"
        )
    return username


def check_password(password: str) -> str:
    if not password:
        raise AccountError("the password is empty")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters")
    return password


def _agent(row: object) -> Agent:
    mapping = row._mapping  # type: ignore[attr-defined]
    return Agent(mapping["username"], Role(mapping["role"]), utc(mapping["created_at"]))


def add_agent(engine: Engine, username: str, password: str, role: Role) -> Agent:
    check_username(username)
    password_hash = _hasher.hash(check_password(password))
    created_at = datetime.now(UTC)
    try:
        with engine.begin() as connection:
            connection.execute(
                insert(agents).values(
                    username=username,
                    password_hash=password_hash,
                    role=role.value,
                    created_at=utc_naive(created_at),
                )
            )
    except IntegrityError:
        raise AccountError(f"agent {username} already exists") from None
    return Agent(username, role, created_at)


def remove_agent(engine: Engine, username: str) -> None:
    """Removes the account and signs it out everywhere; what the agent did stays in the audit log."""
    with engine.begin() as connection:
        if connection.execute(delete(agents).where(agents.c.username == username)).rowcount == 0:
            raise AccountError(f"no agent {username}")
        connection.execute(delete(agent_sessions).where(agent_sessions.c.username == username))


def list_agents(engine: Engine) -> list[Agent]:
    with engine.connect() as connection:
        return [_agent(row) for row in connection.execute(select(agents).order_by(agents.c.username))]


def get_agent(engine: Engine, username: str) -> Agent | None:
    with engine.connect() as connection:
        row = connection.execute(select(agents).where(agents.c.username == username)).first()
    return _agent(row) if row else None


def authenticate(engine: Engine, username: str, password: str) -> Agent | None:
    """The agent when the password matches; None otherwise, taking as long whether or not the user exists."""
    with engine.connect() as connection:
        row = connection.execute(select(agents).where(agents.c.username == username)).first()
    stored = row._mapping["password_hash"] if row else _dummy_hash()
    try:
        _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    if _hasher.check_needs_rehash(stored):
        with engine.begin() as connection:
            connection.execute(
                update(agents).where(agents.c.username == username).values(password_hash=_hasher.hash(password))
            )
    return _agent(row)
