"""Every language a playbook declares, in all of its copy: found by walking the playbook model.

Copy is any field named `copy` (or `copy_by_locale`), `*_copy` or `script`, wherever it sits in the
model (the top level, a stage, a task policy, a later section): a dict keyed by locale, of texts or
of texts by key (a reason, an error kind, a nudge). An empty one says nothing and is skipped; one
with words must have them, for each of its keys, in every declared locale. A field whose
default-locale words live next to it (`step_copy` beside `step`) needs only the other locales,
and a stage that nudges needs it: its `{step}` is named inside other copy.
"""

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

# Copy whose default-locale words are a sibling field: `step_copy` holds `step` in other languages.
_DEFAULT_LOCALE_BESIDE = {"step_copy": "step"}


def _is_copy(name: str) -> bool:
    return name in ("copy", "copy_by_locale", "script") or name.endswith("_copy")


def _label(key: object) -> str:
    return str(getattr(key, "value", key))


def copy_fields(model: BaseModel, where: str = "") -> Iterator[tuple[str, str, dict[str, Any], BaseModel]]:
    """(dotted path as written in the playbook file, field name, the copy, the model holding it), everywhere."""
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        path = f"{where}.{info.alias or name}" if where else (info.alias or name)
        if isinstance(value, BaseModel):
            yield from copy_fields(value, path)
        elif isinstance(value, dict) and _is_copy(name):
            yield path, name, value, model
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, BaseModel):
                    yield from copy_fields(item, f"{path}.{_label(key)}")


def missing_locales(playbook: BaseModel, locales: list[str], default_locale: str) -> list[str]:
    """What is missing, one line each, naming the place (stage, reason) and the locale: empty when complete."""
    problems: list[str] = []
    for path, name, by_locale, holder in copy_fields(playbook):
        wanted = [loc for loc in locales if not (name in _DEFAULT_LOCALE_BESIDE and loc == default_locale)]
        if not by_locale:
            nudges: int = getattr(holder, "nudges", 0)
            if name in _DEFAULT_LOCALE_BESIDE and nudges and wanted:
                problems.append(
                    f"{path} is missing locales {', '.join(wanted)} (the {_DEFAULT_LOCALE_BESIDE[name]} "
                    "its messages name)"
                )
            continue
        declared = [by_locale.get(loc) for loc in locales]
        keys = sorted({key for texts in declared if isinstance(texts, dict) for key in texts})
        for locale in wanted:
            texts = by_locale.get(locale)
            if texts is None:
                problems.append(f"{path}.{locale} is missing")
            elif isinstance(texts, dict):
                problems += [f"{path}.{locale}.{key} is missing" for key in keys if key not in texts]
    return problems
