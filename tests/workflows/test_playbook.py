"""Playbooks are data edited without a deploy: the shipped ones load, a broken one fails naming its field."""

from collections.abc import Callable
from datetime import time, timedelta
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter

from workflows.durations import format_duration, parse_duration
from workflows.funnel import Stage
from workflows.playbook import DEFAULT_PLAYBOOK, PLAYBOOKS_DIR, Playbook, PlaybookError, TaskKind, load_playbook

DEFAULT_TEXT = DEFAULT_PLAYBOOK.read_text(encoding="utf-8")


def through_journey_input(playbook: Playbook) -> Playbook:
    """What a journey gets: the playbook pinned into its input is serialised by Temporal's pydantic converter."""
    converter = pydantic_data_converter.payload_converter
    pinned: Playbook = converter.from_payloads(converter.to_payloads([playbook]), [Playbook])[0]
    return pinned


# -- durations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("1d12h", timedelta(hours=36)),
        ("1.5h", timedelta(minutes=90)),
        (" 2 H ", timedelta(hours=2)),
        ("1h30m15s", timedelta(hours=1, minutes=30, seconds=15)),
        ("PT2H", timedelta(hours=2)),  # ISO 8601, as a serialised journey input may carry it
        (90, timedelta(seconds=90)),
        (timedelta(minutes=5), timedelta(minutes=5)),
    ],
)
def test_parse_duration(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "2", "h", "2x", "2 hours", "-2h", "2h-", "1h 30", None, True, [1]])
def test_parse_duration_rejects_what_it_cannot_read(text: object) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(seconds=90), "1m30s"),
        (timedelta(hours=36), "1d12h"),
        (timedelta(days=7), "7d"),
        (timedelta(hours=1, seconds=1), "1h1s"),
        (timedelta(0), "0s"),
    ],
)
def test_format_duration_and_back(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    assert parse_duration(text) == value


def test_sub_second_duration_survives_serialisation(tmp_path: Path) -> None:
    path = write(tmp_path, DEFAULT_TEXT.replace('service_recheck = "30m"', 'service_recheck = "1.5s"'))
    playbook = load_playbook(path)
    assert playbook.guardrails.service_recheck == timedelta(seconds=1.5)
    assert through_journey_input(playbook).guardrails.service_recheck == timedelta(seconds=1.5)


# -- the shipped playbooks ----------------------------------------------------------------------


def test_default_playbook_loads_with_the_seed_defaults() -> None:
    playbook = load_playbook()
    g = playbook.guardrails
    assert (g.recovery_window, g.max_lifetime) == (timedelta(hours=48), timedelta(days=7))
    assert g.quiet_hours is not None and (g.quiet_hours.start, g.quiet_hours.end) == (time(21), time(9))
    assert (g.frequency_cap.max_messages, g.frequency_cap.window, g.frequency_cap.min_gap) == (
        2,
        timedelta(hours=24),
        timedelta(hours=3),
    )
    stage_a = playbook.for_stage(Stage.PHONE_VERIFIED)
    assert (stage_a.drop_off_after, stage_a.nudges, stage_a.nudge_spacing) == (
        timedelta(hours=1),
        3,
        [timedelta(hours=4), timedelta(hours=8)],
    )
    assert stage_a.escalation is not None and stage_a.escalation.kind == "sms_store_offer"
    stage_b = playbook.for_stage(Stage.DOCUMENT_REJECTED)
    assert stage_b.escalation is not None and stage_b.escalation.task_kind is TaskKind.VIDEO_CALL
    assert playbook.for_stage(Stage.DOCUMENT_UPLOADED).waiting_on == "us"
    assert set(playbook.stages) == set(Stage) - {Stage.COMPLETED}


def test_nudge_gap_is_the_threshold_then_the_spacing() -> None:
    stage_a = load_playbook().for_stage(Stage.PHONE_VERIFIED)
    assert [stage_a.nudge_gap(n) for n in (1, 2, 3)] == [timedelta(hours=1), timedelta(hours=4), timedelta(hours=8)]


def test_demo_playbook_loads_with_waits_in_seconds_and_no_quiet_hours() -> None:
    demo = load_playbook(PLAYBOOKS_DIR / "demo.toml")
    assert demo.guardrails.recovery_window == timedelta(seconds=48)
    assert demo.guardrails.quiet_hours is None
    assert demo.for_stage(Stage.PHONE_VERIFIED).nudge_spacing == [timedelta(seconds=4), timedelta(seconds=8)]


def test_each_playbook_gets_a_version_that_changes_with_its_content(tmp_path: Path) -> None:
    default = load_playbook()
    assert default.version.startswith("default@")
    assert load_playbook().version == default.version
    edited = load_playbook(write(tmp_path, DEFAULT_TEXT.replace('sla = "2h"', 'sla = "3h"')))
    assert edited.version != default.version
    assert load_playbook(PLAYBOOKS_DIR / "demo.toml").version.startswith("demo@")


@pytest.mark.parametrize("name", ["default.toml", "demo.toml"])
def test_playbook_survives_the_json_round_trip_of_the_journey_input(name: str) -> None:
    playbook = load_playbook(PLAYBOOKS_DIR / name)
    assert through_journey_input(playbook) == playbook


# -- broken playbooks ---------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "playbook.toml"
    path.write_text(text, encoding="utf-8")
    return path


def replace_once(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, f"test setup: {old!r} not in the default playbook"
        return text.replace(old, new, 1)

    return edit


def drop_section(header: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        start = text.index(header)
        end = text.find("\n[", start + 1)
        return text[:start] + (text[end + 1 :] if end != -1 else "")

    return edit


BROKEN = {
    "stage missing": (drop_section("[stages.biometric_passed]"), ["stages missing a playbook: biometric_passed"]),
    "nudge_spacing length": (
        replace_once('nudge_spacing = ["4h", "8h"]', 'nudge_spacing = ["4h"]'),
        ["stages.phone_verified", "nudge_spacing needs 2 entries for 3 nudges"],
    ),
    "bad duration": (
        replace_once('recovery_window = "48h"', 'recovery_window = "48 hours"'),
        ["guardrails.recovery_window", "expected a duration"],
    ),
    "bad spacing duration": (
        replace_once('nudge_spacing = ["4h", "8h"]', 'nudge_spacing = ["4h", "eight hours"]'),
        ["stages.phone_verified.nudge_spacing.1"],
    ),
    "unknown rejection reason in copy": (
        replace_once("[stages.document_rejected.copy.en]\n", '[stages.document_rejected.copy.en]\ntorn = "Torn?"\n'),
        ["stages.document_rejected.copy.en has unknown reasons: torn"],
    ),
    "lifetime shorter than window": (
        replace_once('max_lifetime = "7d"', 'max_lifetime = "1d"'),
        ["guardrails", "max_lifetime must be at least the recovery_window"],
    ),
    "misspelt field": (
        replace_once('drop_off_after = "1h"', 'drop_of_after = "1h"'),
        ["stages.started.drop_of_after", "stages.started.drop_off_after"],
    ),
    "unknown stage": (
        lambda text: text + '\n[stages.kyc]\nlabel = "K"\nstep = "kyc"\ndrop_off_after = "1h"\n',
        ["stages.kyc"],
    ),
    "completed takes no playbook": (
        lambda text: text + '\n[stages.completed]\nlabel = "done"\nstep = "none"\ndrop_off_after = "1h"\n',
        ["stage 'completed' ends the journey"],
    ),
    "waiting on us but nudging": (
        replace_once('waiting_on = "us"\n', 'waiting_on = "us"\nnudges = 1\n'),
        ["stages.document_uploaded", "a stage waiting on us sends no nudges"],
    ),
    "nudging without deep link": (
        replace_once('deep_link = "app://onboarding/selfie"\n', ""),
        ["stages.document_approved", "needs a deep_link"],
    ),
    "nudging without default copy": (
        replace_once('copy.en.default = "Just the selfie left: it takes 30 seconds."\n', ""),
        ["stages.document_approved.copy.en.default is missing"],
    ),
    "unknown error kind in error copy": (
        replace_once("[error_copy.en]\n", '[error_copy.en]\ndisk_full = "Disk full."\n'),
        ["error_copy.en has unknown error kinds: disk_full"],
    ),
    "no store offer copy in default locale": (
        replace_once('[store_offer_copy]\nen = "', '[store_offer_copy]\nfr = "'),
        ["store_offer_copy.en is missing"],
    ),
    "human task kind missing": (drop_section("[human_tasks.help_request]"), ["human_tasks.help_request is missing"]),
    "invalid TOML": (replace_once('name = "default"', 'name = "default'), ["is not valid TOML"]),
}


@pytest.mark.parametrize(("edit", "expected"), BROKEN.values(), ids=BROKEN.keys())
def test_broken_playbook_fails_naming_what_is_wrong(
    tmp_path: Path, edit: Callable[[str], str], expected: list[str]
) -> None:
    path = write(tmp_path, edit(DEFAULT_TEXT))
    with pytest.raises(PlaybookError) as info:
        load_playbook(path)
    message = str(info.value)
    assert str(path) in message
    for part in expected:
        assert part in message


def test_missing_playbook_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(PlaybookError, match="does not exist"):
        load_playbook(tmp_path / "nope.toml")


def test_stage_copy_without_a_default_in_the_default_locale_is_rejected(tmp_path: Path) -> None:
    text = replace_once(
        'copy.en.default = "One more step: a photo of your passport. Tips inside."',
        'copy.fr.default = "Encore une étape : une photo de votre passeport."',
    )(DEFAULT_TEXT)
    with pytest.raises(PlaybookError, match="phone_verified"):
        load_playbook(write(tmp_path, text))
