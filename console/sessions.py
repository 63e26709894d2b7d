"""Agents' sessions: a random id in a signed cookie, and a row per live session in the journal.

The row is what makes sign-out real: once it is deleted, a copy of the cookie no longer works,
even though its signature is still valid.
"""

import hashlib
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import Engine, delete, insert, select

from console.accounts import Agent, get_agent
from core.private_files import PRIVATE
from core.settings import Settings
from journal.schema import agent_sessions
from journal.store import utc_naive

COOKIE_NAME = "console_session"
SESSION_LIFETIME = timedelta(hours=12)  # one shift; then the agent signs in again
SECRET_FILE = "console-secret"


def console_secret(settings: Settings) -> str:
    """`RECOVERY_CONSOLE_SECRET`, or one made on first use and kept in the data folder, so that
    sessions survive a restart and every API process on the machine shares it."""
    if settings.console_secret:
        return settings.console_secret
    path = settings.data_dir / SECRET_FILE
    if not path.exists():
        _create_secret_file(path)
    else:
        path.chmod(PRIVATE)  # one made by an older version may be world-readable
    return path.read_text(encoding="utf-8").strip()


def _create_secret_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(secrets.token_urlsafe(48))
    try:
        os.link(draft, path)  # atomic and never overwrites: the first process to get here wins
    except FileExistsError:
        pass
    finally:
        draft.unlink()


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="console-session")


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(engine: Engine, secret: str, agent: Agent) -> tuple[str, str]:
    """A new session for a signed-in agent: (session id, cookie value)."""
    session_id = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(delete(agent_sessions).where(agent_sessions.c.expires_at < utc_naive(now)))
        connection.execute(
            insert(agent_sessions).values(
                session_hash=_hash(session_id),
                username=agent.username,
                created_at=utc_naive(now),
                expires_at=utc_naive(now + SESSION_LIFETIME),
            )
        )
    return session_id, _serializer(secret).dumps(session_id)


def session_id_of(secret: str, cookie: str | None) -> str | None:
    """The session id a cookie carries, if its signature holds and it is not older than a session lives."""
    if not cookie:
        return None
    try:
        session_id = _serializer(secret).loads(cookie, max_age=int(SESSION_LIFETIME.total_seconds()))
    except BadSignature:
        return None
    return session_id if isinstance(session_id, str) else None


def agent_of_session(engine: Engine, session_id: str) -> Agent | None:
    """The agent of a live session; None once it ended, expired, or its account was removed."""
    with engine.connect() as connection:
        row = connection.execute(
            select(agent_sessions.c.username).where(
                agent_sessions.c.session_hash == _hash(session_id),
                agent_sessions.c.expires_at > utc_naive(datetime.now(UTC)),
            )
        ).first()
    return get_agent(engine, row.username) if row else None


def end_session(engine: Engine, session_id: str) -> None:
    with engine.begin() as connection:
        connection.execute(delete(agent_sessions).where(agent_sessions.c.session_hash == _hash(session_id)))
