"""Copy in the customer's language: the shipped playbooks speak English, Russian and Uzbek (Latin) at
every stage, reason, error and offer; a playbook missing a language it declares is refused, saying where."""

import re
import string
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from workflows.copy import nudge_text, store_offer_text
from workflows.copy_locales import copy_fields, missing_locales
from workflows.events import OnboardingEvent
from workflows.funnel import RejectionReason, Stage
from workflows.journey_changes import apply_event
from workflows.journey_state import JourneyState, new_journey
from workflows.playbook import PLAYBOOKS_DIR, Playbook, PlaybookError, load_playbook
from workflows.state_bounds import StateBounds

SHIPPED = {name: load_playbook(PLAYBOOKS_DIR / f"{name}.toml") for name in ("default", "demo")}
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
CYRILLIC = re.compile("[\u0400-\u04ff]")
STAGE_EVENTS: dict[Stage, list[tuple[str, dict[str, Any]]]] = {
    Stage.STARTED: [("onboarding.started", {})],
    Stage.PHONE_VERIFIED: [("onboarding.phone_verified", {})],
    Stage.DOCUMENT_APPROVED: [("onboarding.phone_verified", {}), ("onboarding.document_approved", {})],
    Stage.BIOMETRIC_FAILED: [("onboarding.phone_verified", {}), ("onboarding.biometric_failed", {})],
    Stage.BIOMETRIC_PASSED: [("onboarding.phone_verified", {}), ("onboarding.biometric_passed", {})],
}


def journey(playbook: Playbook, locale: str | None, *steps: tuple[str, dict[str, Any]]) -> JourneyState:
    events = [
        OnboardingEvent(
            event_id=f"e-{i}",
            customer_id="c-43",
            type=event_type,
            occurred_at=T0 + timedelta(minutes=i),
            attributes=attributes,
            profile={"locale": locale} if locale else None,
        )
        for i, (event_type, attributes) in enumerate(steps)
    ]
    state = new_journey(events[0], playbook, T0, holdout_share=0.0, bounds=StateBounds())
    for event in events:
        apply_event(state, event, playbook, event.occurred_at)
    return state


def speaks(text: str, locale: str) -> bool:
    """Russian is written in Cyrillic; Uzbek here in Latin script; English in neither Cyrillic nor Uzbek."""
    if locale == "ru":
        return bool(CYRILLIC.search(text))
    return not CYRILLIC.search(text)


def every_customer_text(playbook: Playbook, locale: str | None) -> list[str]:
    """What a customer can be sent: each stage's nudge, each rejection reason, each error kind, the store offer."""
    texts = [nudge_text(journey(playbook, locale, *steps), playbook) for steps in STAGE_EVENTS.values()]
    pv: tuple[str, dict[str, Any]] = ("onboarding.phone_verified", {})
    texts += [
        nudge_text(journey(playbook, locale, pv, ("onboarding.document_rejected", {"reason": r.value})), playbook)
        for r in RejectionReason
    ]
    texts += [
        nudge_text(journey(playbook, locale, pv, ("onboarding.error", {"error": kind})), playbook)
        for kind in ("maintenance", "service_unavailable", "high_latency", "auth_failed", "disk_full")
    ]
    texts.append(store_offer_text(journey(playbook, locale, pv), playbook, "Registan", "Registan 5"))
    return texts


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_playbooks_declare_english_russian_and_uzbek(name: str) -> None:
    playbook = SHIPPED[name]
    assert playbook.locales == ["en", "ru", "uz"] and playbook.default_locale == "en"
    assert missing_locales(playbook, playbook.locales, playbook.default_locale) == []


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize(("locale", "language"), [("ru", "ru"), ("ru-ru", "ru"), ("uz", "uz"), ("uz-latn", "uz")])
def test_every_message_reaches_the_customer_in_their_language(name: str, locale: str, language: str) -> None:
    playbook = SHIPPED[name]
    english = every_customer_text(playbook, "en")
    theirs = every_customer_text(playbook, locale)
    for mine, fallback in zip(theirs, english, strict=True):
        assert mine != fallback and speaks(mine, language), mine
    assert len(set(theirs)) == len(set(english))  # as many different messages as in English


@pytest.mark.parametrize("locale", [None, "en", "kk", "fr-fr"])
def test_a_language_not_shipped_falls_back_to_english(locale: str | None) -> None:
    playbook = SHIPPED["default"]
    assert every_customer_text(playbook, locale) == every_customer_text(playbook, "en")


def test_the_step_is_named_in_the_language_of_the_message() -> None:
    playbook = SHIPPED["default"]
    pv_error: list[tuple[str, dict[str, Any]]] = [
        ("onboarding.phone_verified", {}),
        ("onboarding.error", {"error": "maintenance"}),
    ]
    assert "«фото паспорта»" in nudge_text(journey(playbook, "ru", *pv_error), playbook)
    assert "«pasport surati»" in nudge_text(journey(playbook, "uz-latn", *pv_error), playbook)
    assert "passport photo" in nudge_text(journey(playbook, "en", *pv_error), playbook)


@pytest.mark.parametrize("name", SHIPPED)
def test_each_language_uses_the_placeholders_of_the_english(name: str) -> None:
    playbook = SHIPPED[name]

    def names(text: str) -> set[str]:
        return {field for _, field, _, _ in string.Formatter().parse(text) if field}

    for path, _, by_locale, _ in copy_fields(playbook):
        english = by_locale.get("en")
        for locale, texts in by_locale.items():
            if isinstance(english, dict):
                for key, text in texts.items():
                    assert names(text) == names(english[key]), f"{path}.{locale}.{key}"
            elif english is not None:
                assert names(texts) == names(english), f"{path}.{locale}"


# -- the check -------------------------------------------------------------------------------------

DEFAULT_TEXT = (PLAYBOOKS_DIR / "default.toml").read_text(encoding="utf-8")


def refused(tmp_path: Path, old: str, new: str) -> str:
    assert DEFAULT_TEXT.count(old) == 1, old
    path = tmp_path / "playbook.toml"
    path.write_text(DEFAULT_TEXT.replace(old, new), encoding="utf-8")
    with pytest.raises(PlaybookError) as info:
        load_playbook(path)
    return str(info.value)


def uz_line(key: str, table: str) -> str:
    """The whole `key = "..."` line of [table] in the default playbook."""
    section = DEFAULT_TEXT[DEFAULT_TEXT.index(f"[{table}]\n") :]
    return next(line + "\n" for line in section.splitlines() if line.startswith(f"{key} = "))


def test_a_reason_missing_in_one_language_is_refused_naming_stage_reason_and_locale(tmp_path: Path) -> None:
    message = refused(tmp_path, uz_line("blur", "stages.document_rejected.copy.uz"), "")
    assert "stages.document_rejected.copy.uz.blur is missing" in message
    assert "en, ru, uz" in message


def test_a_stage_missing_a_language_is_refused(tmp_path: Path) -> None:
    line = next(line for line in DEFAULT_TEXT.splitlines() if line.startswith('copy.ru.default = "Осталось только'))
    message = refused(tmp_path, line + "\n", "")
    assert "stages.document_approved.copy.ru is missing" in message


def test_an_error_offer_or_step_missing_a_language_is_refused(tmp_path: Path) -> None:
    assert "error_copy.ru.auth_failed is missing" in refused(tmp_path, uz_line("auth_failed", "error_copy.ru"), "")
    offer = uz_line("uz", "store_offer_copy")
    assert "store_offer_copy.uz is missing" in refused(tmp_path, offer, "")
    step = 'step_copy = { ru = "селфи", uz = "selfi" }\n'
    first = DEFAULT_TEXT.index(step)
    path = tmp_path / "steps.toml"
    path.write_text(DEFAULT_TEXT[:first] + DEFAULT_TEXT[first + len(step) :], encoding="utf-8")
    with pytest.raises(PlaybookError, match=r"stages\.document_approved\.step_copy is missing locales ru, uz"):
        load_playbook(path)


def test_declared_locales_include_the_default(tmp_path: Path) -> None:
    assert "must include the default_locale 'en'" in refused(
        tmp_path, 'locales = ["en", "ru", "uz"]', 'locales = ["ru", "uz"]'
    )


def test_copy_in_undeclared_languages_is_not_required(tmp_path: Path) -> None:
    path = tmp_path / "playbook.toml"
    path.write_text(DEFAULT_TEXT.replace('locales = ["en", "ru", "uz"]', 'locales = ["en", "ru"]'), encoding="utf-8")
    assert load_playbook(path).locales == ["en", "ru"]


class _Offer(BaseModel):
    offer_copy: dict[str, str] = {}
    copy_by_locale: dict[str, dict[str, str]] = {}


class _Section(BaseModel):
    """A section added to the playbook later (its own copy fields, nested): the check covers it unchanged."""

    waves: dict[str, _Offer] = {}
    script: dict[str, str] = {}


class _Book(BaseModel):
    later: _Section


def test_the_check_covers_copy_in_any_section_of_the_model() -> None:
    book = _Book(
        later=_Section(
            waves={
                "first": _Offer(
                    offer_copy={"en": "Come by", "ru": "Заходите"},
                    copy_by_locale={"en": {"default": "Hi", "nudge_2": "Hi again"}, "uz": {"default": "Salom"}},
                )
            },
            script={"en": "Call them"},
        )
    )
    assert missing_locales(book, ["en", "ru", "uz"], "en") == [
        "later.waves.first.offer_copy.uz is missing",
        "later.waves.first.copy_by_locale.ru is missing",
        "later.waves.first.copy_by_locale.uz.nudge_2 is missing",
        "later.script.ru is missing",
        "later.script.uz is missing",
    ]
    assert missing_locales(_Book(later=_Section()), ["en", "ru", "uz"], "en") == []  # no copy: nothing to say
