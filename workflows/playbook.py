"""The recovery playbook as data: thresholds, spacing, copy and escalation per stage, plus the guardrails.

A playbook is edited without a deploy and pinned into each journey's input when it starts, so an
edit never changes a journey in flight.
"""

import hashlib
import string
import tomllib
from datetime import time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from workflows.copy_locales import missing_locales
from workflows.durations import Duration
from workflows.funnel import ErrorKind, RejectionReason, Stage

PLAYBOOKS_DIR = Path(__file__).resolve().parent.parent / "playbooks"
DEFAULT_PLAYBOOK = PLAYBOOKS_DIR / "default.toml"


class TaskKind(StrEnum):
    VIDEO_CALL = "video_call"
    HELP_REQUEST = "help_request"
    RETENTION_CALL = "retention_call"  # the early-life journey's: a call to a customer gone quiet


# What every playbook must describe: the onboarding journey opens these. A retention call is needed
# only by a playbook whose early-life section escalates to it.
ONBOARDING_TASK_KINDS = (TaskKind.VIDEO_CALL, TaskKind.HELP_REQUEST)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Escalation(_Strict):
    kind: Literal["sms_store_offer", "human_task"]
    after: Duration = Field(description="wait after the last unanswered nudge")
    task_kind: TaskKind = TaskKind.VIDEO_CALL


class StagePlaybook(_Strict):
    label: str = Field(description="short name ops use, e.g. 'A'")
    step: str = Field(description="what the customer has to do next, in plain words")
    step_copy: dict[str, str] = Field(
        default_factory=dict, description="`step` in the playbook's other locales, for the {step} in their copy"
    )
    waiting_on: Literal["customer", "us"] = "customer"
    drop_off_after: Duration
    nudges: Annotated[int, Field(ge=0, le=3)] = 0
    nudge_spacing: list[Duration] = Field(default_factory=list, description="gap before nudge 2, 3")
    deep_link: str | None = None
    escalation: Escalation | None = None
    copy_by_locale: dict[str, dict[str, str]] = Field(default_factory=dict, alias="copy")

    @model_validator(mode="after")
    def _consistent(self) -> "StagePlaybook":
        if self.waiting_on == "us":
            if self.nudges or self.escalation:
                raise ValueError("a stage waiting on us sends no nudges and has no escalation")
            return self
        if len(self.nudge_spacing) != max(self.nudges - 1, 0):
            raise ValueError(f"nudge_spacing needs {max(self.nudges - 1, 0)} entries for {self.nudges} nudges")
        if self.nudges and not self.deep_link:
            raise ValueError("a stage that nudges needs a deep_link back into the flow")
        return self

    def nudge_gap(self, attempt: int) -> timedelta:
        """Wait before nudge `attempt` (1-based): the drop-off threshold for the first, spacing after."""
        return self.drop_off_after if attempt == 1 else self.nudge_spacing[attempt - 2]


class QuietHours(_Strict):
    start: time
    end: time


class FrequencyCap(_Strict):
    max_messages: Annotated[int, Field(ge=1)]
    window: Duration
    min_gap: Duration


class Guardrails(_Strict):
    recovery_window: Duration = Field(description="no progress for this long ends the journey as abandoned")
    max_lifetime: Duration
    quiet_hours: QuietHours | None = None
    frequency_cap: FrequencyCap
    human_after_rejections: Annotated[int, Field(ge=1)] = 2
    service_recheck: Duration = Field(description="how often to look again at a service reported down")
    continue_as_new_after_events: Annotated[int, Field(ge=50, le=10_000)] = 2_000

    @model_validator(mode="after")
    def _lifetime_covers_window(self) -> "Guardrails":
        if self.max_lifetime < self.recovery_window:
            raise ValueError("max_lifetime must be at least the recovery_window")
        return self


class TaskPolicy(_Strict):
    sla: Duration = Field(description="an agent should act within this")
    script: dict[str, str] = Field(default_factory=dict, description="suggested script per locale")


class EarlyLife(_Strict):
    """After activation (the early-life journey, workflows/early_life.py): a customer with no activity
    for `dormant_after` is dormant; they get `nudges` messages (copy per locale, as a stage's), then
    the escalation (a retention call or an SMS store offer). Activity resets the dormancy clock; the
    period ending closes the journey as retained or dormant. Quiet hours, the frequency cap and the
    holdout share are the playbook's unless set here (the holdout groups are drawn independently)."""

    period: Duration = Field(timedelta(days=30), description="how long after activation the customer is watched")
    dormant_after: Duration = Field(timedelta(days=7), description="no activity for this long: dormant")
    nudges: Annotated[int, Field(ge=0, le=3)] = 0
    nudge_spacing: list[Duration] = Field(default_factory=list, description="gap before nudge 2, 3")
    deep_link: str | None = None
    escalation: Escalation | None = None
    copy_by_locale: dict[str, dict[str, str]] = Field(
        default_factory=dict, alias="copy", description="per locale: 'default' or 'nudge_<n>' -> text"
    )
    offer_copy: dict[str, str] = Field(default_factory=dict, description="per locale; {store_name}, {store_address}")
    quiet_hours: QuietHours | None = None
    frequency_cap: FrequencyCap | None = None
    holdout_share: Annotated[float, Field(ge=0, le=0.5)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "EarlyLife":
        if len(self.nudge_spacing) != max(self.nudges - 1, 0):
            raise ValueError(f"nudge_spacing needs {max(self.nudges - 1, 0)} entries for {self.nudges} nudges")
        if self.dormant_after >= self.period:
            raise ValueError("dormant_after must be shorter than the period")
        return self


class Playbook(_Strict):
    name: str
    default_locale: str = "en"
    locales: list[str] = Field(
        default_factory=list, description="languages all copy is written in; the check refuses copy missing one"
    )
    default_timezone: str = "UTC"
    guardrails: Guardrails
    stages: dict[Stage, StagePlaybook]
    human_tasks: dict[TaskKind, TaskPolicy]
    error_copy: dict[str, dict[str, str]] = Field(description="per locale: error kind or 'default' -> text")
    store_offer_copy: dict[str, str] = Field(description="per locale; {store_name}, {store_address}")
    holdout_share: Annotated[float, Field(ge=0, le=0.5)] = Field(
        0.10, description="share of customers watched but never messaged, to measure uplift"
    )
    early_life: EarlyLife = Field(default_factory=EarlyLife)
    version: str = ""

    @model_validator(mode="after")
    def _complete(self) -> "Playbook":
        missing = [s.value for s in Stage if s is not Stage.COMPLETED and s not in self.stages]
        if missing:
            raise ValueError(f"stages missing a playbook: {', '.join(missing)}")
        if Stage.COMPLETED in self.stages:
            raise ValueError("stage 'completed' ends the journey and takes no playbook")
        for stage, stage_playbook in self.stages.items():
            if stage_playbook.nudges and "default" not in stage_playbook.copy_by_locale.get(self.default_locale, {}):
                raise ValueError(
                    f"stages.{stage.value}.copy.{self.default_locale}.default is missing: "
                    "the words every customer can get"
                )
            esc = stage_playbook.escalation
            if esc and esc.kind == "human_task" and esc.task_kind not in self.human_tasks:
                raise ValueError(
                    f"stages.{stage.value}.escalation names task kind {esc.task_kind.value} with no human_tasks entry"
                )
        for kind in ONBOARDING_TASK_KINDS:
            if kind not in self.human_tasks:
                raise ValueError(f"human_tasks.{kind.value} is missing")
        self._check_early_life()
        if self.default_locale not in self.store_offer_copy:
            raise ValueError(f"store_offer_copy.{self.default_locale} is missing")
        if "default" not in self.error_copy.get(self.default_locale, {}):
            raise ValueError(f"error_copy.{self.default_locale}.default is missing")
        for locale, texts in self.error_copy.items():
            unknown = set(texts) - {k.value for k in ErrorKind} - {"default"}
            if unknown:
                raise ValueError(f"error_copy.{locale} has unknown error kinds: {', '.join(sorted(unknown))}")
        for stage, stage_playbook in self.stages.items():
            for locale, texts in stage_playbook.copy_by_locale.items():
                unknown = set(texts) - {r.value for r in RejectionReason} - {k.value for k in ErrorKind} - {"default"}
                if unknown:
                    raise ValueError(
                        f"stages.{stage.value}.copy.{locale} has unknown reasons: {', '.join(sorted(unknown))}"
                    )
        try:
            ZoneInfo(self.default_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"default_timezone {self.default_timezone!r} is not an IANA time zone (e.g. 'Asia/Tashkent')"
            ) from None
        self._check_placeholders()
        self._check_locales()
        if not self.version:
            digest = hashlib.sha256(self.model_dump_json(exclude={"version"}).encode()).hexdigest()[:10]
            object.__setattr__(self, "version", f"{self.name}@{digest}")
        return self

    def _check_early_life(self) -> None:
        early = self.early_life
        if early.nudges and "default" not in early.copy_by_locale.get(self.default_locale, {}):
            raise ValueError(
                f"early_life.copy.{self.default_locale}.default is missing: the words every customer can get"
            )
        if early.nudges and not early.deep_link:
            raise ValueError("early_life needs a deep_link back into the app when it nudges")
        esc = early.escalation
        if esc and esc.kind == "human_task" and esc.task_kind not in self.human_tasks:
            raise ValueError(f"early_life.escalation names task kind {esc.task_kind.value} with no human_tasks entry")
        if esc and esc.kind == "sms_store_offer" and self.default_locale not in early.offer_copy:
            raise ValueError(f"early_life.offer_copy.{self.default_locale} is missing")
        for locale, texts in early.copy_by_locale.items():
            unknown = set(texts) - {"default", *(f"nudge_{n}" for n in range(1, 4))}
            if unknown:
                raise ValueError(f"early_life.copy.{locale} has unknown keys: {', '.join(sorted(unknown))}")

    def _check_placeholders(self) -> None:
        """Copy is filled in inside running journeys: a placeholder they cannot fill must fail here, at load."""
        texts: list[tuple[str, str, set[str]]] = []
        for stage, stage_playbook in self.stages.items():
            for locale, by_reason in stage_playbook.copy_by_locale.items():
                texts += [
                    (f"stages.{stage.value}.copy.{locale}.{key}", text, {"step"}) for key, text in by_reason.items()
                ]
        for locale, by_kind in self.error_copy.items():
            texts += [(f"error_copy.{locale}.{key}", text, {"step"}) for key, text in by_kind.items()]
        texts += [
            (f"store_offer_copy.{locale}", text, {"store_name", "store_address"})
            for locale, text in self.store_offer_copy.items()
        ]
        for locale, by_key in self.early_life.copy_by_locale.items():
            texts += [(f"early_life.copy.{locale}.{key}", text, set()) for key, text in by_key.items()]
        texts += [
            (f"early_life.offer_copy.{locale}", text, {"store_name", "store_address"})
            for locale, text in self.early_life.offer_copy.items()
        ]
        for where, text, allowed in texts:
            try:
                names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
            except ValueError as exc:
                raise ValueError(f"{where}: {exc} (write a literal brace as '{{{{' or '}}}}')") from None
            unknown = names - allowed
            if unknown:
                raise ValueError(
                    f"{where} uses {{{', '.join(sorted(unknown))}}}; allowed here: {{{'}, {'.join(sorted(allowed))}}}"
                )

    def _check_locales(self) -> None:
        """Each declared language in every stage, reason, error, offer and script (copy_locales.py)."""
        if self.locales and self.default_locale not in self.locales:
            raise ValueError(f"locales {self.locales} must include the default_locale {self.default_locale!r}")
        problems = missing_locales(self, self.locales, self.default_locale)
        if problems:
            shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
            raise ValueError(f"copy missing a declared locale ({', '.join(self.locales)}): {shown}")

    def for_stage(self, stage: Stage) -> StagePlaybook:
        return self.stages[stage]


class PlaybookError(ValueError):
    """A playbook file that cannot be used, with the field that is wrong."""


def load_playbook(path: str | Path = DEFAULT_PLAYBOOK) -> Playbook:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlaybookError(f"playbook {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise PlaybookError(f"playbook {path} is not valid TOML: {exc}") from None
    try:
        return Playbook.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise PlaybookError(f"playbook {path} is invalid: {problems}") from None
