"""The early life of a simulated customer once they activate: every draw about it, up front and seeded.

Drawn from the customer's own second generator, `random.Random(f"{seed}-{index}-early-life")`, so
the onboarding draws of a cohort are the ones it had before early life was simulated, and a change to
an early-life probability reshuffles nothing else. Times are fractions of the playbook's
`dormant_after` (or of its early-life period), so one cohort fits the demo playbook (minutes) and the
default one (days) alike:

- how they use the app: a `customer.active` event (with a `kind`) every `gaps[i] x dormant_after`
  (0.3-0.9 of it: shorter than `dormant_after`, so a customer who keeps using the app never goes dormant);
- whether they fade (stop using it), and when: `fade_at x period` after activation (0-0.5 of it, so the
  dormancy, `dormant_after` later, comes well within the period);
- whether they come back by themselves (natural return), `return_after x dormant_after` after the
  dormancy began, in both groups;
- the one message of the dormancy they act on: for each the journey can send (nudge 1, 2, 3, then its
  escalation: the retention call an agent completes, or the SMS store offer), in order, they respond
  with its probability; the first hit decides; and how long they take to act on it.

Once back (by themselves or after a message) they keep using the app to the end of the period. So a
customer stays active, fades (and stays away), fades and comes back alone (in both groups), or fades
and comes back after a message (only when treated): the true re-engagement uplift is known from the
draws (`simulator/early_life_truth.py`).
"""

import random
from dataclasses import dataclass
from enum import StrEnum

EARLY_MESSAGES: tuple[str, ...] = ("nudge_1", "nudge_2", "nudge_3", "escalation")
ACTIVITY_KINDS: tuple[str, ...] = ("transaction", "top_up", "login", "transaction", "login")
GAP = (0.3, 0.9)  # between two activity events, of dormant_after
FADE_AT = (0.0, 0.5)  # of the period
RETURN_AFTER = (0.05, 1.0)  # a natural return, after the dormancy began, of dormant_after
REACTION_DELAY = (0.01, 0.1)  # from a message on the phone (or the agent's call) to activity, of dormant_after
GAP_SLOTS = 8  # activity gaps drawn per customer (reused cyclically)


class EarlyLifeBehaviour(StrEnum):
    STAYS_ACTIVE = "stays_active"
    FADES = "fades"  # and does not come back alone (a message may bring them back, if treated)
    FADES_RETURNS = "fades_returns"  # and comes back by themselves, whatever the group


@dataclass(frozen=True)
class EarlyLifeParams:
    fade: float = 0.5  # P(the customer stops using the app during early life)
    natural_return: float = 0.15  # P(a faded customer comes back by themselves; in both groups)
    respond: tuple[float, float, float, float] = (0.30, 0.15, 0.10, 0.25)  # nudge 1, 2, 3, escalation

    def __post_init__(self) -> None:
        if len(self.respond) != len(EARLY_MESSAGES):
            raise ValueError("early-life respond takes four probabilities (nudge 1, 2, 3, the escalation)")
        named = {
            "early-life fade": self.fade,
            "early-life natural return": self.natural_return,
            **{f"early-life respond {m}": p for m, p in zip(EARLY_MESSAGES, self.respond, strict=True)},
        }
        for name, p in named.items():
            if not 0 <= p <= 1:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p}")


@dataclass(frozen=True)
class EarlyLifeDraw:
    """One customer's early life, as fractions of the playbook's durations (see the module docstring)."""

    fades: bool
    fade_at: float  # of the period
    natural_return: bool
    return_after: float  # of dormant_after, from the dormancy's start
    respond_to: str | None  # one of EARLY_MESSAGES, or None: no message brings them back
    reaction_delay: float  # of dormant_after
    gaps: tuple[float, ...]  # of dormant_after
    kinds: tuple[str, ...]

    @property
    def behaviour(self) -> EarlyLifeBehaviour:
        if not self.fades:
            return EarlyLifeBehaviour.STAYS_ACTIVE
        return EarlyLifeBehaviour.FADES_RETURNS if self.natural_return else EarlyLifeBehaviour.FADES


def draw_early_life(params: EarlyLifeParams, seed: int, index: int) -> EarlyLifeDraw:
    """Always the same numbers in the same order, whatever the probabilities."""
    rng = random.Random(f"{seed}-{index}-early-life")
    fades = rng.random() < params.fade
    fade_at = round(rng.uniform(*FADE_AT), 4)
    returns = rng.random() < params.natural_return
    return_after = round(rng.uniform(*RETURN_AFTER), 4)
    draws = [rng.random() for _ in EARLY_MESSAGES]
    respond_to = next(
        (m for m, u, p in zip(EARLY_MESSAGES, draws, params.respond, strict=True) if u < p),
        None,
    )
    delay = round(rng.uniform(*REACTION_DELAY), 4)
    gaps = tuple(round(rng.uniform(*GAP), 4) for _ in range(GAP_SLOTS))
    kinds = tuple(rng.choice(ACTIVITY_KINDS) for _ in range(GAP_SLOTS))
    return EarlyLifeDraw(fades, fade_at, returns, return_after, respond_to, delay, gaps, kinds)
