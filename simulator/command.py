"""`recovery simulate` from the command line's options to the printed result: the one entry point the
CLI calls (`run_simulation`), so the command module only declares its options."""

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from simulator.api import SimulationError
from simulator.cohort import CohortParams
from simulator.early_life_cohort import EarlyLifeParams
from simulator.early_life_run import EarlyLifeMode
from simulator.early_life_truth import early_life_table
from simulator.options import parse_agent_outcomes, parse_probabilities, resolve_playbook, resolve_token
from simulator.run import SimulationConfig, SimulationResult, simulate
from simulator.summary import summary_table
from simulator.uplift import uplift_table
from workflows.funnel import Stage
from workflows.playbook import load_playbook


@dataclass(frozen=True)
class SimulateOptions:
    """The command's options as given (probabilities and weights still as text: parsed and checked here)."""

    customers: int
    seed: int
    api_url: str
    api_token: str | None
    data_dir: Path
    playbook: Path | None
    concurrency: int
    start_rate: float
    stall: dict[Stage, float]
    natural_return: float
    respond_nudge: str
    respond_sms: float
    opt_out: float
    agent_outcomes: str
    timeout: float
    as_json: bool
    early_life: str = EarlyLifeMode.MODEL.value  # model, live or off (simulator/early_life_run.py)
    early_fade: float = EarlyLifeParams.fade
    early_natural_return: float = EarlyLifeParams.natural_return
    early_respond: str = ",".join(str(p) for p in EarlyLifeParams.respond)


def run_simulation(options: SimulateOptions, console: Console, err_console: Console) -> int:
    """Runs the cohort and prints its result; returns the exit code (1: an error, a time-out or Ctrl-C)."""
    try:
        config = _config(options)
    except (ValueError, SimulationError) as exc:  # PlaybookError is a ValueError
        return _fail(err_console, str(exc))
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=options.as_json,
    )
    bar = progress.add_task("journeys ended", total=options.customers)
    early_bar = None
    if config.early_life is EarlyLifeMode.LIVE:
        period = config.playbook.early_life.period.total_seconds()
        early_bar = progress.add_task(f"early life ({period:.0f} s each)", total=None, visible=False)

    def early_progress(done: int, started: int) -> None:
        if early_bar is not None:
            progress.update(early_bar, completed=done, total=started, visible=True)

    def note(message: str) -> None:
        progress.console.print(f"[yellow]note:[/yellow] {message}")

    with progress:
        try:
            result = asyncio.run(
                simulate(
                    config,
                    progress=lambda done, total: progress.update(bar, completed=done),
                    note=note,
                    early_progress=early_progress,
                )
            )
        except SimulationError as exc:
            progress.stop()
            return _fail(err_console, str(exc))
    if options.as_json:
        print(json.dumps(result.to_json(), indent=2))  # plain: never wrapped to the terminal's width
    else:
        _print(result, console)
    if result.timed_out or result.interrupted:
        why = "interrupted" if result.interrupted else "timed out"
        err_console.print(f"[red]{why}:[/red] {result.summary.not_ended} journeys had not ended")
        return 1
    return 0


def _config(options: SimulateOptions) -> SimulationConfig:
    params = CohortParams(
        customers=options.customers,
        seed=options.seed,
        stall=options.stall,
        natural_return=options.natural_return,
        respond_nudge=parse_probabilities(options.respond_nudge, 3, "--respond-nudge"),  # type: ignore[arg-type]
        respond_sms=options.respond_sms,
        opt_out=options.opt_out,
        agent_outcomes=parse_agent_outcomes(options.agent_outcomes),
        start_rate=options.start_rate,
        early_life=EarlyLifeParams(
            fade=options.early_fade,
            natural_return=options.early_natural_return,
            respond=parse_probabilities(options.early_respond, 4, "--early-respond"),  # type: ignore[arg-type]
        ),
    )
    return SimulationConfig(
        params=params,
        api_url=options.api_url,
        api_token=resolve_token(options.api_token, options.data_dir),
        data_dir=options.data_dir,
        concurrency=options.concurrency,
        timeout=options.timeout,
        playbook=load_playbook(resolve_playbook(options.playbook, options.data_dir)),
        early_life=_early_life_mode(options.early_life),
    )


def _early_life_mode(text: str) -> EarlyLifeMode:
    try:
        return EarlyLifeMode(text)
    except ValueError:
        modes = ", ".join(m.value for m in EarlyLifeMode)
        raise ValueError(f"--early-life takes one of {modes}; got {text!r}") from None


def _print(result: SimulationResult, console: Console) -> None:
    share = 100 * result.needing_help / len(result.plans)
    title = f"seed {result.seed}: {len(result.plans)} customers in {result.elapsed_s:.0f}s"
    console.print(summary_table(result.summary, title=title))
    console.print(
        f"{result.needing_help} of {len(result.plans)} ({share:.0f}%) would never have activated without help."
    )
    console.print(
        f"{result.holdout} were in the holdout (watched, never messaged: the control group); "
        f"{result.holdout_completed} of them completed"
        + (f"; {result.holdout_messaged} received a message (they must not)." if result.holdout_messaged else ".")
    )
    if result.agent_outcomes:
        console.print(
            "agents completed tasks: " + ", ".join(f"{k} {v}" for k, v in sorted(result.agent_outcomes.items()))
        )
    console.print(
        uplift_table(
            result.true_uplift,
            result.observed_uplift,
            title=f"uplift over the holdout, by first drop-off stage (playbook {result.playbook_version})",
        )
    )
    console.print(
        "true uplift (from the cohort's own draws): each customer's completion if treated minus if held out, "
        "averaged over those who dropped off; the journeys' figure is treated minus holdout completion, as "
        "`recovery report` shows it (its other rows count every drop-off at a stage, not the first)."
    )
    early = result.early_life
    if early is None:
        return
    console.print(
        early_life_table(
            early.truth,
            early.report,
            early.source,
            title=f"early life after activation ({early.mode.value}: playbook {result.playbook_version})",
        )
    )
    console.print(
        "true re-engagement uplift (from the cohort's own draws): each customer who went dormant, re-engaged "
        "if treated minus if held out (the early-life holdout), averaged; the report's is treated minus holdout "
        "re-engagement with its 95% interval. Retention is what the customers did in their own group."
        + (
            " Early life was modelled on a virtual clock, not lived: --early-life live sends it."
            if early.mode is EarlyLifeMode.MODEL
            else ""
        )
    )


def _fail(err_console: Console, message: str) -> int:
    err_console.print(f"[red]error:[/red] {message}")
    return 1
