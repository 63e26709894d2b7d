"""Which words a customer gets: chosen by stage, reason, our own errors and the customer's language."""

from workflows.funnel import ErrorKind, Stage
from workflows.journey_state import JourneyState
from workflows.playbook import Playbook


def _locales(preferred: str | None, default: str) -> list[str]:
    """'uz-latn' tries 'uz-latn', then 'uz', then the playbook's default locale."""
    out: list[str] = []
    if preferred:
        out += [preferred, preferred.split("-")[0]]
    out.append(default)
    return out


def _pick(texts_by_locale: dict[str, dict[str, str]], locales: list[str], keys: list[str]) -> str | None:
    for locale in locales:
        texts = texts_by_locale.get(locale, {})
        for key in keys:
            if key in texts:
                return texts[key]
    return None


def nudge_text(state: JourneyState, playbook: Playbook) -> str:
    stage_playbook = playbook.for_stage(state.stage)
    locales = _locales(state.profile.locale, playbook.default_locale)
    error = state.last_error
    if error is not None:
        keys = [error.kind.value, "default"] if error.kind is not ErrorKind.OTHER else ["default"]
        for locale in locales:  # the customer's language first, whether the words are the stage's or general
            text = _pick(stage_playbook.copy_by_locale, [locale], [error.kind.value]) or _pick(
                playbook.error_copy, [locale], keys
            )
            if text:
                return text.format(step=stage_playbook.step)
    keys = ["default"]
    if state.stage is Stage.DOCUMENT_REJECTED and state.rejection_reasons:
        keys.insert(0, state.rejection_reasons[-1])
    text = _pick(stage_playbook.copy_by_locale, locales, keys)
    if text is None:  # the playbook validator guarantees a default for every stage that nudges
        raise LookupError(f"no copy for stage {state.stage.value}")
    return text.format(step=stage_playbook.step)


def store_offer_text(state: JourneyState, playbook: Playbook, store_name: str, store_address: str) -> str:
    locales = _locales(state.profile.locale, playbook.default_locale)
    template = next(playbook.store_offer_copy[loc] for loc in locales if loc in playbook.store_offer_copy)
    return template.format(store_name=store_name, store_address=store_address)
