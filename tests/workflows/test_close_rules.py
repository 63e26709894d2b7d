"""Closing a journey, as pure rules without a server: what the close request takes, what a close
records, and the validator's refusal of a journey that has ended."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from workflows.events import OnboardingEvent
from workflows.human_tasks import TaskReason, TaskState
from workflows.journey_changes import apply_event, finish, open_task
from workflows.journey_controls import MAX_CLOSE_REASON, CloseJourney, CloseRefused, check_close
from workflows.journey_records import record_close
from workflows.journey_state import DecisionAction, JourneyState, JourneyStatus, OutcomeKind, new_journey, status_of
from workflows.playbook import TaskKind, load_playbook
from workflows.state_bounds import StateBounds

PLAYBOOK = load_playbook()
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def verified() -> JourneyState:
    first = OnboardingEvent(event_id="e-1", customer_id="c-7", type="onboarding.phone_verified", occurred_at=T0)
    state = new_journey(first, PLAYBOOK, T0, holdout_share=0.0, bounds=StateBounds())
    apply_event(state, first, PLAYBOOK, T0)
    return state


def test_a_close_ends_the_journey_closed_with_who_and_why_and_closes_its_task() -> None:
    state = verified()
    open_task(state, PLAYBOOK, TaskKind.HELP_REQUEST, TaskReason.HELP_REQUESTED, T0)
    check_close(state)
    record_close(state, CloseJourney(reason="  duplicate\naccount ", by="ops-ana"), T0 + timedelta(hours=1))
    assert state.outcome is not None
    assert (state.outcome.kind, state.outcome.reason, state.outcome.closed_by) == (
        OutcomeKind.CLOSED,
        "duplicate account",
        "ops-ana",
    )
    assert status_of(state) is JourneyStatus.CLOSED
    assert [t.state for t in state.tasks] == [TaskState.CLOSED]
    ended = state.decisions[-1]
    assert (ended.action, ended.reason, ended.detail) == (
        DecisionAction.ENDED,
        "closed",
        "by ops-ana: duplicate account",
    )


def test_an_ended_journey_is_not_closed_again() -> None:
    state = verified()
    finish(state, OutcomeKind.ABANDONED, T0 + timedelta(hours=48), "no progress")
    with pytest.raises(CloseRefused, match="already ended: abandoned"):
        check_close(state)


@pytest.mark.parametrize(
    ("reason", "by", "field"),
    [
        ("", "ops-ana", "reason"),
        ("   ", "ops-ana", "reason"),
        ("x" * (MAX_CLOSE_REASON + 1), "ops", "reason"),
        ("why", "", "by"),
        ("why", "two words", "by"),
        ("why", "x" * 65, "by"),
    ],
)
def test_a_close_needs_a_reason_and_an_operator_id(reason: str, by: str, field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        CloseJourney(reason=reason, by=by)
    assert [e["loc"][0] for e in refused.value.errors()] == [field]
