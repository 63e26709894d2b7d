"""The codec server: Temporal's remote codec protocol, so the Web UI and the `temporal` CLI show
encrypted payloads decoded, to people allowed to read them and no one else.

`POST /codec/decode` and `POST /codec/encode` take and answer `{"payloads": [...]}` (protobuf JSON:
base64 metadata values and data). Access: a signed-in console agent (the session cookie, which the
Web UI sends when told to include cross-origin credentials) or the API bearer token; anything else
is 401, and the answer carries the CORS headers the UI needs to see it. Only the Web UI's origin
(`RECOVERY_TEMPORAL_UI_URL`) and `RECOVERY_CODEC_CORS_ORIGINS` are allowed cross-origin.
"""

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Literal
from urllib.parse import urlsplit

import structlog
from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.converter import PayloadCodec

from console.sessions import COOKIE_NAME, agent_of_session, session_id_of
from workers.payload_codec import PayloadDecryptError
from workers.settings import Settings

log = structlog.get_logger(__name__)

MAX_CODEC_BODY_BYTES = 16 * 1024 * 1024  # a history's biggest payloads (a journey's carried input) stay far below
ALLOWED_HEADERS = "authorization, content-type, x-namespace"
PREFLIGHT_MAX_AGE_S = "600"

BearerCheck = Callable[[Request, HTTPAuthorizationCredentials | None], None | Awaitable[None]]


def allowed_origins(settings: Settings) -> frozenset[str]:
    """The Web UI's origin, and any configured extra: the only pages whose scripts may read decoded data."""
    origins = {_origin(settings.temporal_ui_url)}
    origins.update(_origin(item.strip()) for item in (settings.codec_cors_origins or "").split(",") if item.strip())
    return frozenset(origin for origin in origins if origin)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def _cors(request: Request) -> dict[str, str]:
    origin = request.headers.get("origin")
    if not origin or origin.lower() not in request.app.state.codec_origins:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}


def _answer(request: Request, status_code: int, content: Any) -> JSONResponse:
    return JSONResponse(content, status_code=status_code, headers={**_cors(request), "Cache-Control": "no-store"})


async def _principal(request: Request, bearer_check: BearerCheck) -> str | None:
    """Who asks: `token` for the API bearer token, `agent:<name>` for a live console session; None: nobody."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        try:
            checked = bearer_check(request, HTTPAuthorizationCredentials(scheme="Bearer", credentials=token.strip()))
            if inspect.isawaitable(checked):
                await checked
        except Exception as err:  # the API's own check decides (401, 429, 503); here it all means no access
            log.info("codec_refused", reason="bearer_token", error=type(err).__name__)
            return None
        return "token"
    cookie = request.cookies.get(COOKIE_NAME)
    recovery = request.app.state.recovery
    if cookie and recovery is not None and recovery.journal is not None:
        session_id = session_id_of(request.app.state.console.secret, cookie)
        if session_id is not None:
            agent = await asyncio.to_thread(agent_of_session, recovery.journal, session_id)
            if agent is not None:
                return f"agent:{agent.username}"
    log.info("codec_refused", reason="no_credentials" if not cookie else "session")
    return None


async def _body(request: Request) -> bytes | None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_CODEC_BODY_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_CODEC_BODY_BYTES:
            return None
    return bytes(body)


def _codec(request: Request) -> PayloadCodec | None:
    """The codec of the API's own Temporal client: the one data converter every client shares."""
    recovery = request.app.state.recovery
    return None if recovery is None else recovery.temporal.data_converter.payload_codec


def codec_router(bearer_check: BearerCheck) -> APIRouter:
    """The routes, with the API's own bearer-token check."""
    router = APIRouter(prefix="/codec", tags=["codec"])

    async def apply(request: Request, action: Literal["decode", "encode"]) -> Response:
        principal = await _principal(request, bearer_check)
        if principal is None:
            return _answer(request, status.HTTP_401_UNAUTHORIZED, {"detail": "sign in to the console, or send the API bearer token"})
        if request.headers.get("content-type", "").split(";", 1)[0].strip().lower() != "application/json":
            return _answer(request, status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, {"detail": "send {\"payloads\": [...]} as application/json"})
        raw = await _body(request)
        if raw is None:
            return _answer(request, status.HTTP_413_CONTENT_TOO_LARGE, {"detail": f"body over {MAX_CODEC_BODY_BYTES} bytes"})
        try:
            payloads = json_format.Parse(raw, Payloads(), ignore_unknown_fields=True)
        except (json_format.ParseError, UnicodeDecodeError, RecursionError):
            return _answer(request, status.HTTP_400_BAD_REQUEST, {"detail": "expected {\"payloads\": [{\"metadata\": {...}, \"data\": \"<base64>\"}]}"})
        codec = _codec(request)
        if codec is None:
            return _answer(request, status.HTTP_503_SERVICE_UNAVAILABLE, {"detail": "not connected to Temporal yet, or no payload codec"})
        try:
            done = await (codec.decode if action == "decode" else codec.encode)(payloads.payloads)
        except PayloadDecryptError as err:  # names a key id, never data
            log.warning("codec_failed", action=action, principal=principal, error=str(err))
            return _answer(request, status.HTTP_422_UNPROCESSABLE_CONTENT, {"detail": str(err)})
        log.info("codec_used", action=action, principal=principal, payloads=len(done), namespace=request.headers.get("x-namespace"))
        return _answer(request, status.HTTP_200_OK, json_format.MessageToDict(Payloads(payloads=done)))

    async def preflight(request: Request) -> Response:
        """The browser's OPTIONS before a cross-origin POST with JSON, credentials and X-Namespace."""
        headers = _cors(request)
        if headers:
            headers.update({
                "Access-Control-Allow-Methods": "POST, OPTIONS",
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": PREFLIGHT_MAX_AGE_S,
            })
        return Response(status_code=status.HTTP_204_NO_CONTENT, headers=headers)

    async def decode(request: Request) -> Response:
        """Payloads as Temporal stores them in, readable payloads out (payloads not encrypted by us pass through)."""
        return await apply(request, "decode")

    async def encode(request: Request) -> Response:
        """Readable payloads in (e.g. a signal typed in the Web UI), encrypted payloads out."""
        return await apply(request, "encode")

    for name, handler in (("decode", decode), ("encode", encode)):
        router.add_api_route(f"/{name}", handler, methods=["POST"], summary=f"Remote codec: {name} payloads")
        router.add_api_route(f"/{name}", preflight, methods=["OPTIONS"], include_in_schema=False)
    return router
