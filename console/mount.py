"""Wires the console into the API app: its routes, static files, and error pages."""

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from console.context import PREFIX, ConsoleContext, ConsoleError, SignInRequired, render
from console.erasure_page import router as erasure_router
from console.journeys_page import router as journeys_router
from console.report_page import router as report_router
from console.sign_in import router as sign_in_router
from console.task_pages import router as task_router
from console.throttle import SignInThrottle
from core.settings import Settings

STATIC = Path(__file__).resolve().parent / "static"


async def _console_error(request: Request, exc: Exception) -> HTMLResponse:
    assert isinstance(exc, ConsoleError)
    return render(
        request,
        "error.html",
        {"session": None, "status_code": exc.status_code, "message": exc.message},
        exc.status_code,
    )


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    if exc.redirect:
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{PREFIX}/sign-in?next={quote(wanted, safe='')}", status_code=303)
    return render(
        request,
        "error.html",
        {
            "session": None,
            "status_code": 401,
            "message": "You are not signed in, or your session has ended. Sign in again.",
        },
        401,
    )


def mount_console(app: FastAPI, settings: Settings) -> None:
    """Serve the agents' console at `/console` from this app, with the app's `state.recovery`."""
    app.state.console = ConsoleContext(settings)
    if getattr(app.state, "sign_in_throttle", None) is None:  # the API app shares its own with its bearer-token check
        app.state.sign_in_throttle = SignInThrottle.from_settings(settings)
    for router in (sign_in_router, journeys_router, erasure_router, task_router, report_router):
        app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="console-static")
    app.add_exception_handler(ConsoleError, _console_error)
    app.add_exception_handler(SignInRequired, _sign_in_required)
