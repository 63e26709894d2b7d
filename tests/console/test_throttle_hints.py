"""A right API token costs no database read while its address has no failure on record, in this process
or (within HINTS_FRESH_S) in any other process sharing the journal."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine
from sqlalchemy.pool import StaticPool

from console.throttle import MAX_DELAY_S, Key, Scope, SignInThrottle
from journal.schema import sign_in_throttle

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LOCKOUT = timedelta(minutes=15)


def test_an_address_with_failures_anywhere_is_checked_and_one_without_is_not() -> None:
    journal = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    sign_in_throttle.create(journal)
    clock = [NOW]
    here, there = (SignInThrottle(10, LOCKOUT, clock=lambda: clock[0]) for _ in range(2))
    guesser, backend = Key(Scope.TOKEN, "203.0.113.50"), Key(Scope.TOKEN, "198.51.100.50")

    assert here.hints.stale()
    here.read_hints(journal, Scope.TOKEN)
    assert not here.hints.stale() and not here.may_wait(guesser) and not here.may_wait(backend)

    there.fail(journal, [guesser])  # another API process counts a wrong token
    assert there.may_wait(guesser) and not there.may_wait(backend)
    assert not here.may_wait(guesser)  # not seen here until the copy is read again (at most a second later)
    here.read_hints(journal, Scope.TOKEN)
    assert here.may_wait(guesser) and not here.may_wait(backend)

    clock[0] += LOCKOUT + timedelta(seconds=MAX_DELAY_S + 1)  # the count is forgotten: no read again
    assert not there.may_wait(guesser) and not here.may_wait(guesser)
    here.read_hints(journal, Scope.TOKEN)
    assert not here.may_wait(guesser)
