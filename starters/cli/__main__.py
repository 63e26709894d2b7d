"""`python -m starters.cli`, as `recovery up` starts its API child."""

from starters.cli import app

app()
