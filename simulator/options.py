"""The options of `recovery simulate` as the simulator takes them: probabilities, agents' outcomes,
the playbook and the API token of the running stack."""

from pathlib import Path

from simulator.api import SimulationError
from simulator.cohort import DEMO_PLAYBOOK
from workflows.human_tasks import TaskOutcome


def parse_probabilities(text: str, count: int, what: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"{what} takes {count} comma-separated probabilities, got {text!r}") from None
    if len(values) != count:
        raise ValueError(f"{what} takes {count} comma-separated probabilities, got {len(values)}")
    return values


def parse_agent_outcomes(text: str) -> dict[TaskOutcome, float]:
    allowed = ", ".join(o.value for o in TaskOutcome)
    weights: dict[TaskOutcome, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            weights[TaskOutcome(name.strip())] = float(value)
        except ValueError:
            raise ValueError(f"--agent-outcomes takes outcome=weight pairs ({allowed}); got {part!r}") from None
        if not sep:
            raise ValueError(f"--agent-outcomes takes outcome=weight pairs ({allowed}); got {part!r}")
    if not weights:
        raise ValueError(f"--agent-outcomes is empty; e.g. verified_on_call=0.5,unreachable=0.5 ({allowed})")
    return weights


def resolve_playbook(playbook: Path | None, data_dir: Path) -> Path:
    """The playbook given, else the one the `recovery up` of the data folder runs, else the demo playbook."""
    if playbook is not None:
        return playbook
    try:
        lines = (data_dir / "recovery.env").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "RECOVERY_PLAYBOOK" and value.strip() and Path(value.strip()).is_file():
            return Path(value.strip())
    return DEMO_PLAYBOOK


def resolve_token(api_token: str | None, data_dir: Path) -> str:
    """The token given, else the one `recovery up` keeps in the data folder."""
    if api_token:
        return api_token
    token_file = data_dir / "api-token"
    try:
        token = token_file.read_text().strip()
    except OSError:
        token = ""
    if not token:
        raise SimulationError(
            f"no API token: pass --api-token, set RECOVERY_API_TOKEN, or point --data-dir at the folder of "
            f"`recovery up` (it keeps the token in {token_file})"
        )
    return token
