"""The API app: the app backend reports events, agents work human tasks, ops read journeys.

Every `/v1` route needs `Authorization: Bearer <RECOVERY_API_TOKEN>`; `/healthz`, `/metrics`, `/docs`
and `/openapi.json` are open; `/codec` (starters/api/codec.py) takes the token or a console session.
The app hands its `RecoveryClient` to the agents' console it mounts, through `app.state.recovery`.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

import structlog
import uvicorn
from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError

from console.mount import mount_console
from console.throttle import SignInThrottle
from core.deps import TEMPORAL_TIMEOUT_S
from core.settings import Settings
from starters.api import customers, early_life, events, journeys, report, services, sumsub, tasks, twilio_webhooks
from starters.api.auth import require_token
from starters.api.codec import allowed_origins, codec_router
from starters.api.errors import http_error, request_validation_error, temporal_rpc_error
from starters.api.health import Health, healthz
from starters.api.metrics import install_metrics
from starters.api.openapi import openapi_of
from starters.client import RecoveryClient

log = structlog.get_logger(__name__)

try:
    _VERSION = version("onboarding-recovery")
except PackageNotFoundError:  # running from a checkout without installing
    _VERSION = "0.0.0"


def create_app(settings: Settings | None = None, recovery: RecoveryClient | None = None) -> FastAPI:
    """The API app. Without `recovery`, it connects to Temporal on startup (lifespan) with `settings`."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.recovery is None:
            app.state.recovery = await RecoveryClient.connect(settings)
            log.info("api_connected", temporal_address=settings.temporal_address, namespace=settings.namespace)
        if not settings.api_token:
            log.warning("api_token_missing", detail="RECOVERY_API_TOKEN is not set: every /v1 route answers 503")
        yield

    app = FastAPI(
        title="onboarding-recovery",
        version=_VERSION,
        description=(
            "Brings back customers who stopped onboarding. The app backend reports events; support agents "
            "claim and complete human tasks; ops read journeys. "
            "`/v1` routes need `Authorization: Bearer <RECOVERY_API_TOKEN>`."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.recovery = recovery
    app.state.temporal_timeout = TEMPORAL_TIMEOUT_S
    app.state.sign_in_throttle = SignInThrottle.from_settings(settings)  # bearer tokens and console sign-ins alike
    app.add_exception_handler(RequestValidationError, request_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RPCError, temporal_rpc_error)  # type: ignore[arg-type]
    # One router per noun under /v1, all behind the bearer token.
    for noun in (events, journeys, early_life, tasks, report, customers, services):
        app.include_router(noun.router, dependencies=[Depends(require_token)])
    app.include_router(sumsub.router)  # POST /v1/webhooks/sumsub: Sumsub's signature, not the bearer token
    app.include_router(twilio_webhooks.router)  # /v1/webhooks/twilio/*: Twilio's signature, not the bearer token
    app.state.codec_origins = allowed_origins(settings)
    app.include_router(codec_router(require_token))  # /codec/decode, /codec/encode for the Web UI and the CLI
    app.add_api_route(
        "/healthz",
        healthz,
        methods=["GET"],
        response_model=Health,
        responses={503: {"description": "Temporal unreachable", "model": Health}},
        summary="Liveness and Temporal reachability",
    )
    mount_console(app, settings)
    install_metrics(app)  # GET /metrics, open like /healthz
    app.openapi = lambda: openapi_of(app)  # type: ignore[method-assign]
    return app


def serve(settings: Settings, host: str, port: int) -> None:
    """Run the API with uvicorn; logging goes through the structlog setup the caller configured."""
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None, proxy_headers=True, server_header=False)
