"""Settings from the environment (`RECOVERY_*`), shared by the worker, the API and the CLI."""

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from activities.stores import DEFAULT_STORE_DIRECTORY
from workflows.playbook import DEFAULT_PLAYBOOK


# `recovery up` writes the addresses, token and playbook of the stack it runs here, so a second
# terminal in the project talks to that stack with no variables to set. The environment wins.
STACK_ENV_FILE = Path("var") / "recovery.env"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RECOVERY_", extra="ignore", env_file=os.environ.get("RECOVERY_ENV_FILE", str(STACK_ENV_FILE))
    )

    temporal_address: str = Field("localhost:7233", description="host:port of the Temporal frontend")
    namespace: str = "default"
    task_queue: str = "onboarding-journeys"
    messaging_task_queue: str | None = Field(
        None, description="deliveries on their own task queue, for workers with a provider rate limit; unset: task_queue"
    )
    data_dir: Path = Field(Path("var"), description="outbox, notifications, service status, dev-server database")
    playbook: Path = Field(DEFAULT_PLAYBOOK, description="the playbook new journeys pin")
    store_directory: Path = DEFAULT_STORE_DIRECTORY
    push_webhook_url: str | None = Field(None, description="push gateway; unset: the local outbox")
    sms_webhook_url: str | None = Field(None, description="SMS gateway; unset: the local outbox")
    staff_webhook_url: str | None = Field(None, description="support/ops notifications; unset: local file")
    webhook_token: str | None = Field(None, description="bearer token sent to the webhooks")
    service_status_url: str | None = Field(None, description="GET {url}/{service} -> {healthy: bool}")
    journal_url: str | None = Field(None, description="SQLAlchemy URL of the journal; unset: SQLite in the data folder")
    api_token: str | None = Field(None, description="bearer token the HTTP API requires; unset: `recovery up` makes one")
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"
    max_concurrent_activities: int = 100
    temporal_ui_url: str = Field("http://localhost:8233", description="Temporal Web UI the agents' console links journeys to")
    console_secret: str | None = Field(None, description="signs console session cookies; unset: kept in <data_dir>/console-secret")

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "outbox.jsonl"

    @property
    def staff_notifications_path(self) -> Path:
        return self.data_dir / "staff_notifications.jsonl"

    @property
    def journal_database_url(self) -> str:
        return self.journal_url or f"sqlite:///{(self.data_dir / 'journal.db').resolve()}"

    @property
    def service_status_path(self) -> Path:
        return self.data_dir / "service_status.json"
