"""What a journey carries stays bounded, whatever the app sends (pure rules, no server)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from workflows.events import OnboardingEvent
from workflows.funnel import Stage
from workflows.journal_entries import furthest_stage, journal_position, mark_journaled, unjournaled_batch
from workflows.journey_changes import apply_event
from workflows.journey_state import EventEffect, JourneyState, adopt_bounds, new_journey
from workflows.playbook import load_playbook
from workflows.state_bounds import StateBounds

PLAYBOOK = load_playbook().model_copy(update={"holdout_share": 0.0})
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
CARRIED_LIMIT = 256 * 1024


def event(
    event_id: str, event_type: str = "onboarding.error", seconds: float = 0, **attributes: Any
) -> OnboardingEvent:
    if event_type == "onboarding.error" and not attributes:
        attributes = {"error": "high_latency", "service": "ocr"}
    return OnboardingEvent(
        event_id=event_id,
        customer_id="c-flood",
        type=event_type,
        occurred_at=T0 + timedelta(seconds=seconds),
        attributes=attributes,
    )


def started(bounds: StateBounds | None) -> JourneyState:
    first = event("first", "onboarding.phone_verified")
    state = new_journey(first, PLAYBOOK, T0, holdout_share=0.0, bounds=bounds)
    apply_event(state, first, PLAYBOOK, T0)
    return state


def carried_bytes(state: JourneyState) -> int:
    return len(state.model_dump_json().encode("utf-8"))


def test_a_hundred_thousand_distinct_events_leave_the_carried_state_small() -> None:
    state = started(StateBounds())
    for n in range(100_000):
        apply_event(
            state, event(f"retry-loop-{n:06d}-" + "x" * 150, seconds=n / 100), PLAYBOOK, T0 + timedelta(seconds=n / 100)
        )
        if n % 40 == 0:  # the journal keeps up, as the workflow flushes it on every wake-up
            mark_journaled(state, journal_position(state))
    size = carried_bytes(state)
    print(f"carried state after 100,000 distinct events: {size / 1024:.1f} KB")
    assert size < CARRIED_LIMIT
    assert state.events_recorded == 100_001
    assert len(state.events) <= StateBounds().unjournaled


def test_an_unbounded_journey_still_keeps_everything_it_kept_before() -> None:
    state = started(None)
    for n in range(300):
        apply_event(state, event(f"e-{n}", seconds=n), PLAYBOOK, T0 + timedelta(seconds=n))
    assert len(state.events) == 301 and len(state.seen_event_ids) == 301 and state.events_dropped == 0


def test_a_recent_duplicate_is_still_recognised_and_leaves_no_trace() -> None:
    bounds = StateBounds(event_ids=100)
    state = started(bounds)
    for n in range(150):
        apply_event(state, event(f"e-{n}", seconds=n), PLAYBOOK, T0 + timedelta(seconds=n))
    recorded = state.events_recorded
    assert apply_event(state, event("e-149", seconds=149), PLAYBOOK, T0 + timedelta(seconds=200)) is None
    assert (state.events_recorded, state.duplicates_ignored) == (recorded, 1)
    # Past the documented horizon the journey takes the id as new (the intake ledger still knows it).
    assert apply_event(state, event("e-0", seconds=0), PLAYBOOK, T0 + timedelta(seconds=201)) is not None


def test_records_not_yet_journaled_are_kept_up_to_their_window_and_get_journaled_once() -> None:
    bounds = StateBounds(events=5, decisions=5, unjournaled=30)
    state = started(bounds)
    mark_journaled(state, journal_position(state))
    for n in range(20):
        apply_event(state, event(f"e-{n}", seconds=n), PLAYBOOK, T0 + timedelta(seconds=n))
    batch = unjournaled_batch(state, "onboarding-c-flood", "run1")
    assert batch is not None
    ids = [entry.entry_id for entry in batch.entries if entry.kind == "event"]
    assert ids == [f"onboarding-c-flood:run1:e{n}" for n in range(1, 21)], "absolute positions, none lost"
    mark_journaled(state, journal_position(state))
    apply_event(state, event("e-20", seconds=20), PLAYBOOK, T0 + timedelta(seconds=20))
    assert len(state.events) == 5
    batch = unjournaled_batch(state, "onboarding-c-flood", "run1")
    assert batch is not None and [e.entry_id for e in batch.entries if e.kind == "event"] == [
        "onboarding-c-flood:run1:e21"
    ]


def test_the_furthest_stage_survives_the_events_that_showed_it() -> None:
    state = started(StateBounds(events=3, decisions=3, unjournaled=3))
    apply_event(state, event("up", "onboarding.document_uploaded", seconds=1), PLAYBOOK, T0 + timedelta(seconds=1))
    apply_event(
        state,
        event("rej", "onboarding.document_rejected", seconds=2, reason="blur"),
        PLAYBOOK,
        T0 + timedelta(seconds=2),
    )
    for n in range(10):
        apply_event(state, event(f"e-{n}", seconds=3 + n), PLAYBOOK, T0 + timedelta(seconds=3 + n))
    assert all(e.effect is not EventEffect.ADVANCED for e in state.events)
    assert furthest_stage(state) is Stage.DOCUMENT_UPLOADED


def test_a_flood_of_rejections_keeps_one_task_with_a_short_detail() -> None:
    state = started(StateBounds())
    for n in range(2000):
        at = T0 + timedelta(seconds=1 + 2 * n)
        apply_event(state, event(f"u-{n}", "onboarding.document_uploaded", seconds=1 + 2 * n), PLAYBOOK, at)
        apply_event(
            state, event(f"r-{n}", "onboarding.document_rejected", seconds=2 + 2 * n, reason="glare"), PLAYBOOK, at
        )
        mark_journaled(state, journal_position(state))
    assert len(state.tasks) <= StateBounds().tasks + 1
    assert all(len(task.detail) <= StateBounds().detail_chars for task in state.tasks)
    assert len(state.rejection_reasons) <= StateBounds().rejection_reasons and state.rejections == 2000
    assert carried_bytes(state) < CARRIED_LIMIT


def test_a_journey_carried_over_from_before_the_patch_adopts_the_windows() -> None:
    state = started(None)
    for n in range(3000):
        apply_event(state, event(f"e-{n}", seconds=n), PLAYBOOK, T0 + timedelta(seconds=n))
    mark_journaled(state, journal_position(state))
    adopt_bounds(state, StateBounds())
    assert not state.seen_event_ids and len(state.recent_event_digests) == 1000
    assert len(state.events) == 50 and state.events_recorded == 3001
    assert carried_bytes(state) < CARRIED_LIMIT
