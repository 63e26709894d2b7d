"""The API's error answers: every 4xx and 5xx as `{"detail": ...}`, validation errors naming the batch
index and the field, never the value sent (it may be personal data)."""

import json
import re
from typing import Any

import structlog
from fastapi import Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError

from core.deps import temporal_failure

log = structlog.get_logger(__name__)
JSON = "application/json"


class FieldError(BaseModel):
    index: int | None = Field(
        None, description="position in the batch (0 for a single event); null: the request as a whole"
    )
    field: str | None = Field(None, description="dotted path inside the event; null: the event as a whole")
    message: str


class BatchRejected(BaseModel):
    detail: list[FieldError]


class RequestFieldError(BaseModel):
    location: str | None = Field(None, description="body, query, path or header")
    field: str | None = None
    message: str


class RequestRejected(BaseModel):
    detail: list[RequestFieldError]


class Problem(BaseModel):
    detail: str


def _field_of(loc: tuple[Any, ...], message: str) -> str | None:
    path = ".".join(str(part) for part in loc)
    # A rule over the event or its attributes (e.g. a rejection needs attributes.reason):
    # name the attribute it asks for.
    match = re.search(r"\battributes\.\w+", message)
    if match and (not path or match.group(0).startswith(f"{path}.")):
        return match.group(0)
    return path or None


def _message_of(error: Any) -> str:
    """Pydantic's message, with the input redacted where a validator quoted it back."""
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    value = error.get("input")
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = str(value)
        if text:
            for quoted in (repr(text), json.dumps(text), f"'{text}'", f'"{text}"'):
                message = message.replace(quoted, "<redacted>")
            if len(text) >= 4:
                message = message.replace(text, "<redacted>")
    return message


def event_errors(index: int, err: ValidationError) -> list[FieldError]:
    return [
        FieldError(index=index, field=_field_of(tuple(e["loc"]), e["msg"]), message=_message_of(e))
        for e in err.errors(include_url=False)
    ]


def unprocessable(errors: list[FieldError]) -> JSONResponse:
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content={"detail": [e.model_dump() for e in errors]},
    )


async def request_validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's own 422s (task bodies, query strings), reshaped like ours and without `input`."""
    detail = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        where = loc[0] if loc and loc[0] in ("body", "query", "path", "header") else None
        rest = loc[1:] if where else loc
        if error.get("type") == "json_invalid":
            detail.append({"location": where, "field": None, "message": "body is not valid JSON"})
            continue
        detail.append(
            {"location": where, "field": _field_of(rest, str(error.get("msg", ""))), "message": _message_of(error)}
        )
    return JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": detail})


_BODY_NOT_DECODED = "There was an error parsing the body"  # FastAPI's 400 for a JSON body that is not UTF-8


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """FastAPI's own answers, except its 400 for a body it cannot decode: 422 like any unreadable body
    (the events route says the same), so clients meet one shape for one mistake."""
    if exc.status_code == status.HTTP_400_BAD_REQUEST and exc.detail == _BODY_NOT_DECODED:
        return JSONResponse(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            content={"detail": [{"location": "body", "field": None, "message": "body is not valid JSON"}]},
        )
    return await http_exception_handler(request, exc)


async def temporal_rpc_error(_: Request, exc: RPCError) -> JSONResponse:
    """Temporal's refusal of a call no route bounded itself: 503 when a retry may help, else 502."""
    status_code, message = temporal_failure(exc)
    log.warning("temporal_rpc_failed", status=exc.status.name if exc.status else None)
    return JSONResponse(status_code=status_code, content={"detail": message})
