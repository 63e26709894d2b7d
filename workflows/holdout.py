"""The holdout: a stable share of customers the journey watches but never messages.

Without a control group, "recovered" customers include those who would have come back anyway; the
report's uplift compares the two groups. A hash of the customer id keeps each customer in one group
for good, across journeys, workers and playbook edits.
"""

import hashlib
from enum import StrEnum


class RecoveryGroup(StrEnum):
    TREATMENT = "treatment"
    HOLDOUT = "holdout"


def recovery_group(customer_id: str, holdout_share: float) -> RecoveryGroup:
    digest = hashlib.sha256(f"holdout:{customer_id}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    return RecoveryGroup.HOLDOUT if position < holdout_share else RecoveryGroup.TREATMENT
