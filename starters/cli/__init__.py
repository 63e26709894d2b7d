"""`recovery`: run the system and talk to journeys from a terminal. One Typer app per noun; commands
from other folders (the simulator's `recovery simulate`) join through the `recovery.commands` entry
points, so starters/ never imports them."""

from importlib.metadata import entry_points

import typer

from starters.cli import agents, customers, early_life, events, journeys, playbooks, report, services, stack, tasks

app = typer.Typer(help="Onboarding drop-off recovery: durable journeys on Temporal.", no_args_is_help=True)
for commands in (stack, events, journeys, early_life, report, services):
    app.add_typer(commands.app)
app.add_typer(tasks.app, name="tasks")
app.add_typer(journeys.journeys_app, name="journeys")
app.add_typer(agents.app, name="agents")
app.add_typer(customers.app, name="customers")
app.add_typer(playbooks.app, name="playbook")
for plugin in entry_points(group="recovery.commands"):
    app.add_typer(plugin.load())
