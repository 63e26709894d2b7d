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
import json
import re
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
from core.payload_codec import PayloadDecryptError
from core.settings import Settings
from starters.api.body import body_within

log = structlog.get_logger(__name__)

MAX_CODEC_BODY_BYTES = 16 * 1024 * 1024  # a history's biggest payloads (a journey's carried input) stay far below
ALLOWED_HEADERS = "authorization, content-type, x-namespace"
PREFLIGHT_MAX_AGE_S = "600"

BearerCheck = Callable[[Request, HTTPAuthorizationCredentials | None], Awaitable[None] | None]


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


def _codec(request: Request) -> PayloadCodec | None:
    """The codec of the API's own Temporal client: the one data converter every client shares."""
    recovery = request.app.state.recovery
    return None if recovery is None else recovery.temporal.data_converter.payload_codec


_BASE64 = {"type": "string", "pattern": r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"}
_PAYLOADS: dict[str, Any] = {  # Temporal's Payloads in protobuf JSON: bytes are base64
    "type": "object",
    "properties": {
        "payloads": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"metadata": {"type": "object", "additionalProperties": _BASE64}, "data": _BASE64},
            },
        }
    },
}
_BASE64_TEXT = re.compile(_BASE64["pattern"])


def _read_payloads(raw: bytes) -> Payloads | None:
    """The body as Payloads, or None when it is not that shape. Checked before protobuf reads it: told to
    skip unknown fields, its parser turns a string in the list into an empty payload, and its base64
    skips characters outside the alphabet, so garbage would be answered 200."""
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep
        return None
    if not isinstance(document, dict) or not isinstance(document.get("payloads", []), list):
        return None
    for payload in document.get("payloads", []):
        if not isinstance(payload, dict):
            return None
        metadata, data = payload.get("metadata", {}), payload.get("data", "")
        if not isinstance(metadata, dict) or not isinstance(data, str) or not _BASE64_TEXT.match(data):
            return None
        if not all(isinstance(value, str) and _BASE64_TEXT.match(value) for value in metadata.values()):
            return None
    try:
        return json_format.ParseDict(document, Payloads(), ignore_unknown_fields=True)
    except json_format.ParseError:
        return None


_DETAIL = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}


def _said(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _DETAIL}}}


# What the routes answer, so the OpenAPI document states it (the fuzz test holds the routes to it).
_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "the payloads, decoded or encoded", "content": {"application/json": {"schema": _PAYLOADS}}},
    400: _said("not Temporal's Payloads in JSON"),
    401: _said("neither the API bearer token nor a live console session"),
    413: _said(f"body over {MAX_CODEC_BODY_BYTES} bytes"),
    415: _said("not application/json"),
    422: _said("a payload sealed with a key this server does not hold, or tampered with"),
    503: _said("not connected to Temporal yet, or no payload codec"),
}


def codec_router(bearer_check: BearerCheck) -> APIRouter:
    """The routes, with the API's own bearer-token check."""
    router = APIRouter(prefix="/codec", tags=["codec"])

    async def apply(request: Request, action: Literal["decode", "encode"]) -> Response:
        principal = await _principal(request, bearer_check)
        if principal is None:
            return _answer(
                request,
                status.HTTP_401_UNAUTHORIZED,
                {"detail": "sign in to the console, or send the API bearer token"},
            )
        if request.headers.get("content-type", "").split(";", 1)[0].strip().lower() != "application/json":
            return _answer(
                request,
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                {"detail": 'send {"payloads": [...]} as application/json'},
            )
        raw = await body_within(request, MAX_CODEC_BODY_BYTES)
        if raw is None:
            return _answer(
                request, status.HTTP_413_CONTENT_TOO_LARGE, {"detail": f"body over {MAX_CODEC_BODY_BYTES} bytes"}
            )
        payloads = _read_payloads(raw)
        if payloads is None:
            return _answer(
                request,
                status.HTTP_400_BAD_REQUEST,
                {"detail": 'expected {"payloads": [{"metadata": {...}, "data": "<base64>"}]}'},
            )
        codec = _codec(request)
        if codec is None:
            return _answer(
                request,
                status.HTTP_503_SERVICE_UNAVAILABLE,
                {"detail": "not connected to Temporal yet, or no payload codec"},
            )
        try:
            done = await (codec.decode if action == "decode" else codec.encode)(payloads.payloads)
        except PayloadDecryptError as err:  # names a key id, never data
            log.warning("codec_failed", action=action, principal=principal, error=str(err))
            return _answer(request, status.HTTP_422_UNPROCESSABLE_CONTENT, {"detail": str(err)})
        log.info(
            "codec_used",
            action=action,
            principal=principal,
            payloads=len(done),
            namespace=request.headers.get("x-namespace"),
        )
        return _answer(request, status.HTTP_200_OK, json_format.MessageToDict(Payloads(payloads=done)))

    async def preflight(request: Request) -> Response:
        """The browser's OPTIONS before a cross-origin POST with JSON, credentials and X-Namespace."""
        headers = _cors(request)
        if headers:
            headers.update(
                {
                    "Access-Control-Allow-Methods": "POST, OPTIONS",
                    "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                    "Access-Control-Max-Age": PREFLIGHT_MAX_AGE_S,
                }
            )
        return Response(status_code=status.HTTP_204_NO_CONTENT, headers=headers)

    async def decode(request: Request) -> Response:
        """Payloads as Temporal stores them in, readable payloads out (payloads not encrypted by us pass through)."""
        return await apply(request, "decode")

    async def encode(request: Request) -> Response:
        """Readable payloads in (e.g. a signal typed in the Web UI), encrypted payloads out."""
        return await apply(request, "encode")

    for name, handler in (("decode", decode), ("encode", encode)):
        router.add_api_route(
            f"/{name}",
            handler,
            methods=["POST"],
            summary=f"Remote codec: {name} payloads",
            openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": _PAYLOADS}}}},
            responses=_ANSWERS,
        )
        router.add_api_route(f"/{name}", preflight, methods=["OPTIONS"], include_in_schema=False)
    return router
