"""`recovery simulate`, joined to the `recovery` command through the `recovery.commands` entry point
(pyproject.toml), so the simulator imports the CLI's nothing and starters/ never imports the simulator."""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer()
console = Console()
err_console = Console(stderr=True)


@app.command()
def simulate(
    customers: Annotated[int, typer.Option(min=1, help="synthetic customers in the cohort")] = 200,
    seed: Annotated[
        int,
        typer.Option(
            help="same seed, same cohort (customers, holdout and, timing aside, the same summary); "
            "a seed runs once per system"
        ),
    ] = 7,
    api_url: Annotated[str, typer.Option(help="the HTTP API of `recovery up`")] = "http://127.0.0.1:8000",
    api_token: Annotated[
        str | None, typer.Option(envvar="RECOVERY_API_TOKEN", help="default: <data-dir>/api-token")
    ] = None,
    data_dir: Annotated[
        Path,
        typer.Option(
            envvar="RECOVERY_DATA_DIR", help="the folder of `recovery up`: its outbox is the customers' phones"
        ),
    ] = Path("var"),
    playbook: Annotated[
        Path | None,
        typer.Option(
            help="the playbook `recovery up` runs (holdout share, message sequence: the true uplift); "
            "default: the one of --data-dir's running stack, else playbooks/demo.toml"
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="HTTP requests in flight at most")] = 50,
    start_rate: Annotated[
        float,
        typer.Option(
            min=0.01,
            help="customers starting per second (more than the system keeps up with and journeys see drop-offs "
            "that did not happen)",
        ),
    ] = 3.0,
    drop_started: Annotated[
        float, typer.Option(help="P(stall before phone verification)", rich_help_panel="Cohort")
    ] = 0.08,
    drop_phone_verified: Annotated[
        float, typer.Option(help="P(stall before the document upload)", rich_help_panel="Cohort")
    ] = 0.12,
    reject_document: Annotated[
        float, typer.Option(help="P(document rejected at upload, customer stops)", rich_help_panel="Cohort")
    ] = 0.20,
    drop_document_approved: Annotated[
        float, typer.Option(help="P(stall before the selfie)", rich_help_panel="Cohort")
    ] = 0.10,
    fail_biometric: Annotated[
        float, typer.Option(help="P(selfie fails, customer stops)", rich_help_panel="Cohort")
    ] = 0.08,
    drop_biometric_passed: Annotated[
        float, typer.Option(help="P(stall before activation)", rich_help_panel="Cohort")
    ] = 0.05,
    natural_return: Annotated[
        float,
        typer.Option(
            help="P(a stalled customer comes back alone, 10-22 s after stopping, with no message; in both groups)",
            rich_help_panel="Cohort",
        ),
    ] = 0.15,
    respond_nudge: Annotated[
        str, typer.Option(help="P(respond) to nudge 1,2,3", rich_help_panel="Cohort")
    ] = "0.25,0.15,0.10",
    respond_sms: Annotated[
        float, typer.Option(help="P(activate in store after the SMS offer)", rich_help_panel="Cohort")
    ] = 0.20,
    opt_out: Annotated[float, typer.Option(help="P(opt out) on each message", rich_help_panel="Cohort")] = 0.02,
    agent_outcomes: Annotated[
        str, typer.Option(help="weights of the agents' task outcomes", rich_help_panel="Cohort")
    ] = ("verified_on_call=0.5,customer_will_retry=0.2,activated_in_store=0.2,unreachable=0.1"),
    timeout: Annotated[
        float,
        typer.Option(
            min=1,
            help="give up on journeys not ended after this many seconds (--early-life live: plus the early-life "
            "period and a minute)",
        ),
    ] = 900.0,
    early_fade: Annotated[
        float,
        typer.Option(help="P(an activated customer stops using the app in early life)", rich_help_panel="Early life"),
    ] = 0.5,
    early_natural_return: Annotated[
        float,
        typer.Option(
            help="P(a customer who faded comes back alone after the dormancy began; in both groups)",
            rich_help_panel="Early life",
        ),
    ] = 0.15,
    early_respond: Annotated[
        str,
        typer.Option(
            help="P(come back) after early-life nudge 1,2,3 and the escalation (retention call or SMS store offer)",
            rich_help_panel="Early life",
        ),
    ] = "0.30,0.15,0.10,0.25",
    early_life: Annotated[
        str,
        typer.Option(
            help="after activation: 'model' plays each activated customer's early life on a virtual clock with the "
            "early-life journey's own rules (seconds, whatever the playbook's period); 'live' sends their activity "
            "to the running system and waits until every early-life journey ended (the demo playbook: 900 s more); "
            "'off'",
        ),
    ] = "model",
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Drive a synthetic cohort through the running system over the HTTP API (customers and agents),
    then summarise how their journeys ended, with the true uplift over the holdout (from the cohort's own
    draws) next to the one the journeys give. Meant for `recovery up --playbook playbooks/demo.toml`."""
    from simulator import SimulateOptions, run_simulation
    from workflows.funnel import Stage

    stall = {
        Stage.STARTED: drop_started,
        Stage.PHONE_VERIFIED: drop_phone_verified,
        Stage.DOCUMENT_REJECTED: reject_document,
        Stage.DOCUMENT_APPROVED: drop_document_approved,
        Stage.BIOMETRIC_FAILED: fail_biometric,
        Stage.BIOMETRIC_PASSED: drop_biometric_passed,
    }
    options = SimulateOptions(
        customers=customers,
        seed=seed,
        api_url=api_url,
        api_token=api_token,
        data_dir=data_dir,
        playbook=playbook,
        concurrency=concurrency,
        start_rate=start_rate,
        stall=stall,
        natural_return=natural_return,
        respond_nudge=respond_nudge,
        respond_sms=respond_sms,
        opt_out=opt_out,
        agent_outcomes=agent_outcomes,
        timeout=timeout,
        as_json=as_json,
        early_life=early_life,
        early_fade=early_fade,
        early_natural_return=early_natural_return,
        early_respond=early_respond,
    )
    code = run_simulation(options, console, err_console)
    if code:
        raise typer.Exit(code)
