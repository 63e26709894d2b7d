"""The OpenAPI document: FastAPI's schema plus every rule and error shape the API really uses (the
event body read by hand, each event type's attributes, every error answer with its body)."""

from typing import Any
from zoneinfo import available_timezones

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from starters.api.errors import JSON
from starters.api.events import MAX_BATCH, MAX_BODY_BYTES, EventsBody
from workflows.events import ATTRIBUTE_MAX_LENGTH, ATTRIBUTES_OF, REJECT_TYPES, SERVICE_PATTERN, WORDS_PATTERN
from workflows.funnel import EventType, OptOutScope

_NOT_BLANK = r"\S"
_TEXT = {"type": "string", "maxLength": ATTRIBUTE_MAX_LENGTH}
_OPTIONAL_TEXT = {"anyOf": [_TEXT, {"type": "null"}]}


def _attributes_of(event_type: EventType) -> dict[str, Any]:
    """The attributes one event type takes, as the door checks them (`IncomingEvent`, `OnboardingEvent`)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    if event_type in (EventType.DOCUMENT_REJECTED, EventType.ERROR):
        name = "reason" if event_type is EventType.DOCUMENT_REJECTED else "error"
        # any non-blank value: a known category as is, another one becomes `other`, kept as `<name>_detail`
        properties = {name: {**_TEXT, "pattern": _NOT_BLANK}, f"{name}_detail": _OPTIONAL_TEXT}
        required = [name]
        if event_type is EventType.DOCUMENT_REJECTED:
            properties["reject_type"] = {"anyOf": [{"enum": list(REJECT_TYPES)}, {"type": "null"}]}
        if event_type is EventType.ERROR:
            properties["service"] = {"anyOf": [{**_TEXT, "pattern": SERVICE_PATTERN}, {"type": "null"}]}
    elif event_type in (EventType.OPTED_OUT, EventType.OPTED_IN):
        properties = {
            "channel": {"enum": [scope.value for scope in OptOutScope]},
            "words": {"anyOf": [{"type": "string", "pattern": WORDS_PATTERN}, {"type": "null"}]},
        }
        required = ["channel"]
    elif event_type is EventType.ACTIVE:
        properties = {"kind": _OPTIONAL_TEXT}
    assert set(properties) == set(ATTRIBUTES_OF.get(event_type, ())), (
        event_type
    )  # one list of names, here and at the door
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _event_by_type(event: dict[str, Any]) -> dict[str, Any]:
    """`IncomingEvent` as one variant per type, each with its own attributes; event_id not blank."""
    base = {
        **event,
        "properties": {**event["properties"], "event_id": {**event["properties"]["event_id"], "pattern": _NOT_BLANK}},
    }
    variants = []
    for event_type in EventType:
        attributes = {**base["properties"]["attributes"], **_attributes_of(event_type)}
        variant = {
            **base,
            "title": f"IncomingEvent ({event_type.value})",
            "properties": {**base["properties"], "type": {"const": event_type.value}, "attributes": attributes},
            "required": [*base["required"], *(["attributes"] if attributes["required"] else [])],
        }
        variant.pop("description", None)
        variants.append(variant)
    return {"title": "IncomingEvent", "description": event.get("description", ""), "oneOf": variants}


_PROBLEM = {"$ref": "#/components/schemas/Problem"}
_REQUEST_REJECTED = {"$ref": "#/components/schemas/RequestRejected"}
_ANSWERS: dict[str, str] = {  # what any route may answer, and when
    "401": "missing or wrong bearer token",
    "502": "Temporal answered with an error: retry",
    "503": "RECOVERY_API_TOKEN is not set, or Temporal (or the journal) is unavailable: retry",
}
_WAITS_ON_TEMPORAL = {  # routes that wait on a journey's answer (a query or an update): 504 when none comes
    "/v1/journeys/{customer_id}",
    "/v1/tasks",
    "/v1/tasks/{task_id}/claim",
    "/v1/tasks/{task_id}/release",
    "/v1/tasks/{task_id}/complete",
}


def _state_every_answer(schema: dict[str, Any]) -> None:
    """Every error a /v1 route can send, with its body: `{"detail": str}` (Problem) unless stated, and
    the reshaped 422 (RequestRejected) instead of FastAPI's HTTPValidationError, which it never sends."""
    for path, operations in schema["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code, description in _ANSWERS.items():
                responses.setdefault(code, {"description": description})
            if path in _WAITS_ON_TEMPORAL:
                responses.setdefault("504", {"description": "no answer from Temporal in time (is a worker running?)"})
            for code, response in responses.items():
                if not code.startswith(("4", "5")):
                    continue
                content = response.setdefault("content", {}).setdefault(JSON, {})
                if content.get("schema", {}).get("$ref") == "#/components/schemas/HTTPValidationError":
                    content["schema"] = _REQUEST_REJECTED
                content.setdefault("schema", _PROBLEM)
    schema["components"]["schemas"].pop("HTTPValidationError", None)
    schema["components"]["schemas"].pop("ValidationError", None)


def openapi_of(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, plus the event body (read by hand so a batch is validated as a whole), each
    event type's attributes, and every error answer with its body."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    body = TypeAdapter(EventsBody).json_schema(ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in body.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components["IncomingEvent"] = _event_by_type(components["IncomingEvent"])
    zones = sorted(available_timezones())
    components["IncomingProfile"]["properties"]["timezone"] = {
        "anyOf": [{"enum": zones}, {"type": "null"}],
        "default": None,
        "description": "an IANA time zone, e.g. Asia/Tashkent",
    }
    schema["paths"]["/v1/events"]["post"]["requestBody"] = {
        "required": True,
        "description": f"one event or a list of 1-{MAX_BATCH}; at most {MAX_BODY_BYTES} bytes",
        "content": {JSON: {"schema": body}},
    }
    _state_every_answer(schema)
    app.openapi_schema = schema
    return schema
