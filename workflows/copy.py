"""Which words a customer gets: chosen by stage, reason, our own errors and the customer's language."""

from workflows.funnel import ErrorKind, Stage
from workflows.journey_state import JourneyState
from workflows.playbook import Playbook, StagePlaybook


def locale_fallbacks(preferred: str | None, default: str) -> list[str]:
    """'uz-latn' tries 'uz-latn', then 'uz', then the playbook's default locale."""
    out: list[str] = []
    if preferred:
        out += [preferred, preferred.split("-")[0]]
    out.append(default)
    return out


def _pick(texts_by_locale: dict[str, dict[str, str]], locales: list[str], keys: list[str]) -> tuple[str, str] | None:
    """The first text found, and the locale it is in."""
    for locale in locales:
        texts = texts_by_locale.get(locale, {})
        for key in keys:
            if key in texts:
                return texts[key], locale
    return None


def _fill(found: tuple[str, str], stage_playbook: StagePlaybook) -> str:
    """{step} in the language of the words around it: the stage's step_copy, else its step."""
    text, locale = found
    return text.format(step=stage_playbook.step_copy.get(locale, stage_playbook.step))


def nudge_text(state: JourneyState, playbook: Playbook) -> str:
    stage_playbook = playbook.for_stage(state.stage)
    locales = locale_fallbacks(state.profile.locale, playbook.default_locale)
    error = state.last_error
    if error is not None:
        keys = [error.kind.value, "default"] if error.kind is not ErrorKind.OTHER else ["default"]
        for locale in locales:  # the customer's language first, whether the words are the stage's or general
            found = _pick(stage_playbook.copy_by_locale, [locale], [error.kind.value]) or _pick(
                playbook.error_copy, [locale], keys
            )
            if found:
                return _fill(found, stage_playbook)
    keys = ["default"]
    if state.stage is Stage.DOCUMENT_REJECTED and state.rejection_reasons:
        keys.insert(0, state.rejection_reasons[-1])
    found = _pick(stage_playbook.copy_by_locale, locales, keys)
    if found is None:  # the playbook validator guarantees a default for every stage that nudges
        raise LookupError(f"no copy for stage {state.stage.value}")
    return _fill(found, stage_playbook)


def store_offer_text(state: JourneyState, playbook: Playbook, store_name: str, store_address: str) -> str:
    locales = locale_fallbacks(state.profile.locale, playbook.default_locale)
    template = next(playbook.store_offer_copy[loc] for loc in locales if loc in playbook.store_offer_copy)
    return template.format(store_name=store_name, store_address=store_address)
