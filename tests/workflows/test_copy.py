"""Which words the customer gets: by stage, by rejection reason, our own errors first, in their language."""

import itertools
import tomllib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from workflows.copy import nudge_text, store_offer_text
from workflows.events import OnboardingEvent
from workflows.journey_changes import apply_event
from workflows.journey_state import JourneyState, new_journey
from workflows.playbook import DEFAULT_PLAYBOOK, Playbook, load_playbook
from workflows.state_bounds import StateBounds

PLAYBOOK = load_playbook()
RAW = tomllib.loads(DEFAULT_PLAYBOOK.read_text(encoding="utf-8"))
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
_ids = itertools.count(1)


def journey(
    *steps: tuple[str, dict[str, Any]], locale: str | None = None, playbook: Playbook = PLAYBOOK
) -> JourneyState:
    events = [
        OnboardingEvent(
            event_id=f"e-{next(_ids)}",
            customer_id="c-43",
            type=event_type,
            occurred_at=T0 + timedelta(minutes=i),
            attributes=attributes,
            profile={"locale": locale} if locale else None,
        )
        for i, (event_type, attributes) in enumerate(steps)
    ]
    state = new_journey(events[0], playbook, events[0].occurred_at, holdout_share=0.0, bounds=StateBounds())
    for event in events:
        apply_event(state, event, playbook, event.occurred_at)
    return state


def at(stage_event: str, **attributes: Any) -> tuple[str, dict[str, Any]]:
    return (stage_event, attributes)


def english_only(node: Any) -> Any:
    """The default playbook as it was before it shipped other languages: the fallback rules on their own."""
    if isinstance(node, dict):
        return {k: english_only(v) for k, v in node.items() if k not in ("ru", "uz", "locales", "step_copy")}
    return node


def with_copy(**edits: dict[str, Any]) -> Playbook:
    """The default playbook, English only, with extra copy.

    Each keyword is a path with '__' between keys (stages__phone_verified__copy).
    """
    raw = english_only(RAW)
    for path, entries in edits.items():
        node = raw
        for key in path.split("__"):
            node = node.setdefault(key, {})
        node.update(entries)
    return Playbook.model_validate(raw)


PV = at("onboarding.phone_verified")

# -- by stage and reason ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([at("onboarding.started")], "Your new account is waiting: confirm your phone number to continue."),
        ([PV], "One more step: a photo of your passport. Tips inside."),
        ([PV, at("onboarding.document_approved")], "Just the selfie left: it takes 30 seconds."),
        (
            [PV, at("onboarding.biometric_failed")],
            "The selfie did not work. Face the light, remove glasses, and try again: 30 seconds.",
        ),
        ([PV, at("onboarding.biometric_passed")], "All checks passed. One tap to activate your account."),
    ],
)
def test_each_stage_has_its_own_message(steps: list[tuple[str, dict[str, Any]]], expected: str) -> None:
    assert nudge_text(journey(*steps), PLAYBOOK) == expected


@pytest.mark.parametrize(
    ("reason", "fragment"),
    [
        ("blur", "blurry or too dark"),
        ("glare", "glare on the photo"),
        ("expired", "has expired"),
        ("unsupported_document", "cannot accept that type of document"),
        ("data_mismatch", "did not match what you entered"),
        ("other", "Shall we try again?"),
        ("torn_page", "Shall we try again?"),  # unknown reason: 'other', the stage's default copy
    ],
)
def test_rejection_copy_fits_the_reason(reason: str, fragment: str) -> None:
    text = nudge_text(journey(PV, at("onboarding.document_rejected", reason=reason)), PLAYBOOK)
    assert fragment in text
    assert "video call" in text


def test_repeated_rejection_uses_the_latest_reason() -> None:
    state = journey(
        PV, at("onboarding.document_rejected", reason="blur"), at("onboarding.document_rejected", reason="glare")
    )
    assert "glare on the photo" in nudge_text(state, PLAYBOOK)


# -- our own errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "error", "expected"),
    [
        (
            [PV],
            "maintenance",
            "Sorry: our passport photo check was down for maintenance. It is back now, continue where you left off.",
        ),
        (
            [PV],
            "service_unavailable",
            "Sorry: our passport photo service failed, not you. It works again, continue where you left off.",
        ),
        (
            [PV, at("onboarding.document_approved")],
            "high_latency",
            "Sorry it was slow on our side. The selfie step is fast again, continue where you left off.",
        ),
        (
            [at("onboarding.started")],
            "auth_failed",
            "Signing in did not work last time. Have your code ready and continue with the phone number verification.",
        ),
        (
            [PV, at("onboarding.document_approved")],
            "disk_full",
            "Something went wrong on our side during the selfie. It is fixed, continue where you left off.",
        ),
        # Our error wins over the reason-specific rejection copy.
        (
            [PV, at("onboarding.document_rejected", reason="blur")],
            "maintenance",
            "Sorry: our passport photo check was down for maintenance. It is back now, continue where you left off.",
        ),
    ],
)
def test_error_copy_says_it_was_us_and_names_the_step(
    steps: list[tuple[str, dict[str, Any]]], error: str, expected: str
) -> None:
    state = journey(*steps, at("onboarding.error", error=error))
    assert nudge_text(state, PLAYBOOK) == expected


def test_progress_after_an_error_goes_back_to_the_stage_copy() -> None:
    state = journey(PV, at("onboarding.error", error="maintenance"), at("onboarding.document_rejected", reason="blur"))
    assert "blurry or too dark" in nudge_text(state, PLAYBOOK)


def test_stage_specific_error_copy_beats_the_generic_error_copy() -> None:
    playbook = with_copy(
        stages__phone_verified__copy__en={"maintenance": "The passport scanner was being serviced: try again now."}
    )
    state = journey(PV, at("onboarding.error", error="maintenance"), playbook=playbook)
    assert nudge_text(state, playbook) == "The passport scanner was being serviced: try again now."


# -- language -------------------------------------------------------------------------------------

UZ = {"default": "Yana bir qadam: pasport rasmi."}
UZ_LATN = {"default": "Yana bir qadam (lotin): pasport rasmi."}


@pytest.mark.parametrize(
    ("locale", "extra", "expected"),
    [
        ("uz-latn", {"uz": UZ, "uz-latn": UZ_LATN}, UZ_LATN["default"]),
        ("UZ_Latn", {"uz": UZ, "uz-latn": UZ_LATN}, UZ_LATN["default"]),  # normalised at the door
        ("uz-latn", {"uz": UZ}, UZ["default"]),
        ("uz", {"uz": UZ, "uz-latn": UZ_LATN}, UZ["default"]),
        ("ru", {"uz": UZ}, "One more step: a photo of your passport. Tips inside."),
        (None, {"uz": UZ}, "One more step: a photo of your passport. Tips inside."),
    ],
)
def test_locale_falls_back_to_the_language_then_the_playbook_default(
    locale: str | None, extra: dict[str, Any], expected: str
) -> None:
    playbook = with_copy(stages__phone_verified__copy=extra)
    assert nudge_text(journey(PV, locale=locale, playbook=playbook), playbook) == expected


def test_customers_language_comes_before_a_more_specific_text_in_another_language() -> None:
    playbook = with_copy(stages__document_rejected__copy__uz={"default": "Hujjat o'tmadi."})
    state = journey(PV, at("onboarding.document_rejected", reason="blur"), locale="uz", playbook=playbook)
    assert nudge_text(state, playbook) == "Hujjat o'tmadi."


def test_error_copy_in_the_customers_language() -> None:
    playbook = with_copy(error_copy__uz={"default": "Xatolik bizda edi: {step} bosqichini davom ettiring."})
    state = journey(PV, at("onboarding.error", error="maintenance"), locale="uz-latn", playbook=playbook)
    assert nudge_text(state, playbook) == "Xatolik bizda edi: passport photo bosqichini davom ettiring."


def test_stage_error_copy_in_another_language_does_not_beat_error_copy_in_the_customers_language() -> None:
    playbook = with_copy(
        stages__phone_verified__copy__en={"maintenance": "The passport scanner was being serviced: try again now."},
        error_copy__uz={"maintenance": "Texnik ishlar tugadi: davom eting."},
    )
    state = journey(PV, at("onboarding.error", error="maintenance"), locale="uz", playbook=playbook)
    assert nudge_text(state, playbook) == "Texnik ishlar tugadi: davom eting."


# -- store offer ----------------------------------------------------------------------------------


def test_store_offer_names_the_store_and_its_address() -> None:
    text = store_offer_text(journey(PV), PLAYBOOK, "Registan store", "Registan street 5")
    assert (
        text
        == "We can activate your account for free in our store: Registan store, Registan street 5. Bring your passport."
    )


@pytest.mark.parametrize(("locale", "starts"), [("uz-latn", "Do'konimiz"), ("ru", "We can activate")])
def test_store_offer_in_the_customers_language(locale: str, starts: str) -> None:
    playbook = with_copy(store_offer_copy={"uz": "Do'konimiz: {store_name}, {store_address}."})
    text = store_offer_text(journey(PV, locale=locale, playbook=playbook), playbook, "Registan", "Registan 5")
    assert text.startswith(starts) and "Registan 5" in text
