"""Typed custom search attributes: what ops filter journeys by in the Temporal UI.

Stored in plain text by Temporal, so only funnel facts go here: never names, phone numbers or places.
"""

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributePair, SearchAttributeUpdate, TypedSearchAttributes

from workflows.journey_state import JourneyState, status_of

ONBOARDING_STAGE = SearchAttributeKey.for_keyword("OnboardingStage")
JOURNEY_STATUS = SearchAttributeKey.for_keyword("JourneyStatus")
NUDGE_COUNT = SearchAttributeKey.for_int("NudgeCount")
DROP_OFF_STAGE = SearchAttributeKey.for_keyword("DropOffStage")
HUMAN_TASK_STATE = SearchAttributeKey.for_keyword("HumanTaskState")
ONBOARDING_ERROR = SearchAttributeKey.for_keyword("OnboardingError")
PLAYBOOK_VERSION = SearchAttributeKey.for_keyword("PlaybookVersion")
RECOVERY_GROUP = SearchAttributeKey.for_keyword("RecoveryGroup")

ALL_KEYS: list[SearchAttributeKey[Any]] = [
    ONBOARDING_STAGE,
    JOURNEY_STATUS,
    NUDGE_COUNT,
    DROP_OFF_STAGE,
    HUMAN_TASK_STATE,
    ONBOARDING_ERROR,
    PLAYBOOK_VERSION,
    RECOVERY_GROUP,
]


def search_attribute_values(state: JourneyState) -> dict[str, Any]:
    task = state.live_task
    values: dict[str, Any] = {
        ONBOARDING_STAGE.name: state.stage.value,
        JOURNEY_STATUS.name: status_of(state).value,
        NUDGE_COUNT.name: state.nudges_sent,
        HUMAN_TASK_STATE.name: task.state.value if task else "none",
        PLAYBOOK_VERSION.name: state.playbook_version,
        RECOVERY_GROUP.name: state.group.value,
        DROP_OFF_STAGE.name: state.drop_off_stage.value if state.drop_off_stage else None,
        ONBOARDING_ERROR.name: state.last_error.kind.value if state.last_error else None,
    }
    return values


def updates_for(values: dict[str, Any], published: dict[str, Any]) -> list[SearchAttributeUpdate[Any]]:
    """Only what changed since the last upsert: each upsert is a billed action and a history event."""
    updates: list[SearchAttributeUpdate[Any]] = []
    for key in ALL_KEYS:
        value = values.get(key.name)
        if key.name in published and published[key.name] == value:
            continue
        updates.append(key.value_unset() if value is None else key.value_set(value))
    return updates


def publish(values: dict[str, Any], published: dict[str, Any]) -> dict[str, Any]:
    """Upserts what changed since `published` (either journey type's values); returns what is published now."""
    updates = updates_for(values, published)
    if not updates:
        return published
    workflow.upsert_search_attributes(updates)
    return values


def initial_search_attributes(playbook_version: str) -> TypedSearchAttributes:
    """Set at start, so a journey is filterable before its worker has run it once."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(JOURNEY_STATUS, "active"),
            SearchAttributePair(NUDGE_COUNT, 0),
            SearchAttributePair(HUMAN_TASK_STATE, "none"),
            SearchAttributePair(PLAYBOOK_VERSION, playbook_version),
        ]
    )


def dev_server_flags() -> list[str]:
    """`--search-attribute Name=Type` pairs for `temporal server start-dev`."""
    flags: list[str] = []
    for key in ALL_KEYS:
        flags += [
            "--search-attribute",
            f"{key.name}={key.indexed_value_type.name.removeprefix('INDEXED_VALUE_TYPE_').title()}",
        ]
    return flags
