"""Which of the journey's rules apply: one value per journey, decided by the patches it took.

Journeys live for days and replay through today's code, so a rule that changed ships behind
`workflow.patched(...)` (README: "Versioning journeys in flight"). Each patch is asked where it
was asked when it shipped: a patch marker must stay where the histories recorded it.
"""

from dataclasses import dataclass

# The patch ids, as recorded in histories: never rename one.
JOURNAL_AND_HOLDOUT_PATCH = "journal-and-holdout"
BOUNDED_STATE_PATCH = "bounded-state"
TASK_OVERDUE_PATCH = "task-overdue"
PROGRESS_GUARDS_PATCH = "progress-guards"
UNREACHABLE_WINDOW_PATCH = "unreachable-window"
JOURNAL_BATCHING_PATCH = "journal-batching"
# High intent, all of it: the second failed selfie goes to a person at once, as the second rejection
# does, and our own error as a customer's first event starts a journey that nudges (stage `started`).
HIGH_INTENT_PATCH = "high-intent"
# A cancel request (the Temporal UI's Cancel) closes the journey, recorded and journaled, instead of
# ending it as Temporal's Canceled with the journal still saying `active`.
OPERATOR_CLOSE_PATCH = "operator-close"
# A completed journey starts the customer's early-life journey (workflows/early_life_start.py) as an
# abandoned child workflow before it closes.
EARLY_LIFE_PATCH = "early-life"
# A customer no vendor can reach (push unregistered, SMS undelivered) who opted out of nothing is not
# `opted_out`: the journey stays nudging, suppresses as `unreachable` and ends abandoned at the cutoff
# (`JourneyState.unreachable_apart`, asked at the top of the journey's loop).
UNREACHABLE_APART_PATCH = "unreachable-not-opted-out"
# A delivery called off because the customer moved on waits for the attempt under way, so a nudge the vendor
# took meanwhile is recorded as sent (it was: the customer has it) instead of as cancelled. Asked only where
# a delivery is called off, so most journeys record no marker.
DELIVERY_OUTCOME_PATCH = "delivery-outcome-kept"


@dataclass(frozen=True)
class JourneyRules:
    """The rules that changed under a running journey, as the pure rules (`next_step` and friends) take them.

    The workflow builds it from its patches where it first decides a step, keeps it for the `view`
    query, and passes it on; the journal and holdout patches (`journal-and-holdout`,
    `journal-batching`) and `bounded-state` govern the workflow's own plumbing and its state.
    """

    escalate_overdue_tasks: bool
    """An unclaimed task escalates at its due time; without it the journey waits for the agent."""
    progress_guards: bool
    """No nudge before the first funnel step, a live task holds the recovery window, no call to a
    customer opted out of everything, no send after the customer progressed while it was prepared."""
    offer_ends_nudging: bool
    """An agent's "unreachable" restarts the recovery window, and the store offer it triggers is the
    stage's last message."""
    high_intent: bool
    """The second failed selfie opens a video call task at once (as the second document rejection always
    did), and a journey whose only news is our own error nudges with the error copy (no funnel step needed)."""


# What a journey started today runs: every rule. Tests of the pure rules use it.
CURRENT_RULES = JourneyRules(
    escalate_overdue_tasks=True, progress_guards=True, offer_ends_nudging=True, high_intent=True
)
