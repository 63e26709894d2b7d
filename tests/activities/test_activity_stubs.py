"""Every activity the workflow asks for (workflows/activity_stubs.py) is one a worker runs, by name and types."""

import inspect
import typing
from collections.abc import Callable
from typing import Any

import pytest
from temporalio import activity

from activities.early_life_start import start_early_life
from activities.journal_activities import JournalActivities
from activities.messaging import MessagingActivities
from activities.service_health import ServiceHealthActivities
from activities.stores import StoreActivities
from workflows.activity_stubs import ALL_STUBS

IMPLEMENTATIONS: list[Callable[..., Any]] = [
    MessagingActivities.send_push,
    MessagingActivities.send_sms,
    MessagingActivities.notify_staff,
    StoreActivities.find_nearest_store,
    ServiceHealthActivities.check_service_health,
    JournalActivities.record_journal,
    JournalActivities.record_early_life,
    start_early_life,
]


def _name(fn: Callable[..., Any]) -> str:
    definition = activity._Definition.from_callable(fn)
    assert definition is not None and definition.name is not None
    return definition.name


def _types(fn: Callable[..., Any]) -> tuple[list[Any], Any]:
    hints = typing.get_type_hints(fn)
    params = [hints[name] for name in inspect.signature(fn).parameters if name != "self"]
    return params, hints["return"]


@pytest.mark.parametrize("stub", ALL_STUBS, ids=lambda s: s.__name__)
def test_the_stub_matches_the_activity_a_worker_runs(stub: Callable[..., Any]) -> None:
    implementation = next((fn for fn in IMPLEMENTATIONS if _name(fn) == _name(stub)), None)
    assert implementation is not None, f"no worker activity named {_name(stub)}"
    assert _types(implementation) == _types(stub)


def test_every_activity_a_worker_runs_has_a_stub() -> None:
    assert sorted(_name(fn) for fn in IMPLEMENTATIONS) == sorted(_name(stub) for stub in ALL_STUBS)
