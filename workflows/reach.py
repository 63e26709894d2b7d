"""What both journey states (onboarding, early life) answer alike: the holdout, the live task, the channels left.

A plain mixin (not a model: it adds no field), read from the fields each state declares itself.
"""

from typing import TYPE_CHECKING

from workflows.funnel import Channel
from workflows.holdout import RecoveryGroup
from workflows.human_tasks import HumanTask


class Reach:
    if TYPE_CHECKING:
        group: RecoveryGroup
        tasks: list[HumanTask]
        opted_out: set[Channel]
        unreachable: set[Channel]

    @property
    def in_holdout(self) -> bool:
        return self.group is RecoveryGroup.HOLDOUT

    @property
    def live_task(self) -> HumanTask | None:
        return next((t for t in self.tasks if t.is_live), None)

    @property
    def allowed_channels(self) -> list[Channel]:
        return [c for c in (Channel.PUSH, Channel.SMS) if c not in self.opted_out and c not in self.unreachable]
