"""What the CLI's view commands share (`recovery journey`, `recovery early-life`): fetch a journey's view,
print it as JSON or as its tables, and fail clearly when there is no such journey."""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel
from rich.console import RenderableType

from core.deps import JourneyNotFound
from starters.cli.common import console, fail, run, settings_from
from starters.client import RecoveryClient

V = TypeVar("V", bound=BaseModel)


def show_view(
    temporal_address: str | None,
    fetch: Callable[[RecoveryClient], Awaitable[V]],
    render: Callable[[V], RenderableType],
    *,
    as_json: bool,
) -> None:
    async def show() -> None:
        client = await RecoveryClient.connect(settings_from(temporal_address))
        try:
            view = await fetch(client)
        except JourneyNotFound as exc:
            fail(str(exc))
        if as_json:
            console.print_json(view.model_dump_json())
        else:
            console.print(render(view))

    run(show())


def moment_text(moment: datetime | None) -> str:
    """A moment as the view tables show it, to the second; "-" for none."""
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"
