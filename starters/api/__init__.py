"""The HTTP API: one router module per noun (events, journeys, tasks, report), health, the codec server,
metrics, the OpenAPI document, and the app factory (`create_app`) that puts them together."""

from starters.api.app import create_app, serve

__all__ = ["create_app", "serve"]
