"""Product metrics, counted from the journey's own decisions so that metrics and audit never disagree.

Names and labels hold funnel facts only (stage, channel, reason, outcome), never a customer id:
per-customer labels would explode the metric store and leak identities into it.
"""

from temporalio.common import MetricMeter

from workflows.journey_state import Decision, DecisionAction

_MESSAGE_ACTIONS = {DecisionAction.SENT, DecisionAction.DEFERRED, DecisionAction.SUPPRESSED, DecisionAction.FAILED}
_TASK_ACTIONS = {
    DecisionAction.TASK_OPENED: "opened",
    DecisionAction.TASK_CLAIMED: "claimed",
    DecisionAction.TASK_RELEASED: "released",
    DecisionAction.TASK_COMPLETED: "completed",
    DecisionAction.TASK_CLOSED: "closed",
    DecisionAction.TASK_OVERDUE: "overdue",
}


def count_journey_started(meter: MetricMeter, group: str) -> None:
    meter.create_counter("onboarding_journeys_started", "journeys started").add(1, {"group": group})


def count_decision(meter: MetricMeter, decision: Decision, group: str) -> None:
    stage = decision.stage.value
    if decision.action in _MESSAGE_ACTIONS:
        meter.create_counter("onboarding_messages", "nudges and SMS offers: sent, deferred, suppressed, failed").add(
            1, {"action": decision.action.value, "reason": decision.reason, "stage": stage, "group": group}
        )
    elif decision.action in _TASK_ACTIONS:
        meter.create_counter("onboarding_human_tasks", "human tasks opened, claimed, completed, overdue").add(
            1, {"event": _TASK_ACTIONS[decision.action], "stage": stage}
        )
    elif decision.action is DecisionAction.ESCALATED:
        meter.create_counter("onboarding_escalations", "escalations after unanswered nudges").add(
            1, {"to": decision.reason, "stage": stage}
        )
    elif decision.action is DecisionAction.ENDED:
        meter.create_counter("onboarding_journeys_ended", "journeys ended, by outcome").add(
            1, {"outcome": decision.reason, "stage": stage, "group": group}
        )
