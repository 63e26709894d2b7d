"""`recovery agents`: the console's accounts, kept in the journal database (argon2id password hashes)."""

import getpass
import sys
from typing import Annotated

import typer
from rich.table import Table

from console.accounts import AccountError, Role, add_agent, check_password, check_username, list_agents, remove_agent
from starters.cli.common import console, fail, journal_engine, journal_errors

app = typer.Typer(help="Accounts of the agents' console (kept in the journal database).", no_args_is_help=True)


def _read_password() -> str:
    """One line from stdin: typed without echo on a terminal, or piped in by a script."""
    if sys.stdin.isatty():
        return getpass.getpass("password: ")
    return sys.stdin.readline().rstrip("\r\n")


@app.command("add")
def agents_add(
    username: Annotated[str, typer.Argument(help="the agent's sign-in name, also their agent id in journeys")],
    role: Annotated[
        Role, typer.Option(help="agent, or supervisor (can also release and reassign others' tasks)")
    ] = Role.AGENT,
) -> None:
    """Add a console account; the password is read from stdin
    (e.g. `printf '%s\\n' "$PW" | recovery agents add ana`)."""
    password = _read_password()
    journal = journal_engine()
    try:
        check_username(username)
        check_password(password)
        with journal_errors(journal):
            add_agent(journal, username, password, role)
    except AccountError as exc:
        fail(str(exc))
    console.print(f"agent {username} added ({role.value})")


@app.command("remove")
def agents_remove(username: str) -> None:
    """Remove a console account and end its sessions; what the agent did stays in the audit log."""
    journal = journal_engine()
    try:
        with journal_errors(journal):
            remove_agent(journal, username)
    except AccountError as exc:
        fail(str(exc))
    console.print(f"agent {username} removed")


@app.command("list")
def agents_list() -> None:
    """Console accounts and their roles."""
    journal = journal_engine()
    with journal_errors(journal):
        agents = list_agents(journal)
    table = Table("username", "role", "created (UTC)", header_style="bold")
    for agent in agents:
        table.add_row(agent.username, agent.role.value, agent.created_at.strftime("%Y-%m-%d %H:%M"))
    console.print(table if agents else "no agents: add one with `recovery agents add USERNAME`")
