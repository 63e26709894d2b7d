"""Settings from the environment (`RECOVERY_*`), shared by the worker, the API and the CLI."""

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from workflows.playbook import DEFAULT_PLAYBOOK

# `recovery up` writes the addresses, token and playbook of the stack it runs here, so a second
# terminal in the project talks to that stack with no variables to set. The environment wins.
# RECOVERY_ENV_FILE names another file (os.devnull: none), read each time settings are made.
STACK_ENV_FILE = Path("var") / "recovery.env"
DEFAULT_STORE_DIRECTORY = Path(__file__).resolve().parent.parent / "stores" / "default.toml"


def stack_env_file() -> str:
    """The env file settings read: looked up when they are made, never when this module is imported,
    so a process (a test run) that sets RECOVERY_ENV_FILE after importing it is still obeyed."""
    return os.environ.get("RECOVERY_ENV_FILE", str(STACK_ENV_FILE))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RECOVERY_",
        extra="ignore",
        env_file=None,  # see __init__: stack_env_file() at each Settings()
        env_ignore_empty=True,  # RECOVERY_X= (as docker compose passes an unset optional one) means unset
    )

    temporal_address: str = Field("localhost:7233", description="host:port of the Temporal frontend")
    namespace: str = "default"
    task_queue: str = "onboarding-journeys"
    messaging_task_queue: str | None = Field(
        None,
        description="deliveries on their own task queue, for workers with a provider rate limit; unset: task_queue",
    )
    data_dir: Path = Field(Path("var"), description="outbox, notifications, journal, dev-server database")
    playbook: Path = Field(DEFAULT_PLAYBOOK, description="the playbook new journeys pin")
    store_directory: Path = DEFAULT_STORE_DIRECTORY
    push_webhook_url: str | None = Field(None, description="push gateway; unset: the local outbox")
    sms_webhook_url: str | None = Field(None, description="SMS gateway; unset: the local outbox")
    staff_webhook_url: str | None = Field(None, description="support/ops notifications; unset: local file")
    webhook_token: str | None = Field(None, description="bearer token sent to the webhooks")
    service_status_url: str | None = Field(None, description="GET {url}/{service} -> {healthy: bool}")
    contact_lookup_url: str | None = Field(
        None,
        description="the operator's customer API: GET {url}/{customer_id} -> {phone, push_token}, "
        "GET {url}?phone= -> {customer_id}; unset: the journal's contact directory",
    )
    # -- SMS provider: the outbox (embedded default), the generic webhook, or Twilio ------------------
    sms_provider: Literal["outbox", "webhook", "twilio"] | None = Field(
        None, description="outbox, webhook or twilio; unset: webhook when sms_webhook_url is set, else the outbox"
    )
    twilio_account_sid: str | None = Field(None, description="Twilio account SID (AC...), the basic-auth user")
    twilio_auth_token: str | None = Field(
        None, repr=False, description="Twilio auth token: basic-auth password and the key of X-Twilio-Signature"
    )
    twilio_messaging_service_sid: str | None = Field(
        None, description="Twilio Messaging Service SID (MG...), or a sender number in E.164 sent as From"
    )
    twilio_base_url: str = Field("https://api.twilio.com", description="Twilio's API (a stand-in's URL in tests)")
    sms_failover_provider: Literal["outbox", "webhook", "twilio"] | None = Field(
        None, description="a second SMS provider for when the first keeps failing (5xx, timeouts); unset: none"
    )
    sms_failover_after: int = Field(
        3, ge=1, le=11, description="failed attempts at the first SMS provider before a message goes to the failover"
    )
    sms_failover_cooldown_seconds: float = Field(
        300, gt=0, description="after that many failures in a row, all SMS go to the failover this long"
    )
    public_url: str | None = Field(
        None,
        description="the API's public base URL the vendors call back (Twilio's StatusCallback and its signature check)",
    )
    journal_url: str | None = Field(None, description="SQLAlchemy URL of the journal; unset: SQLite in the data folder")
    api_token: str | None = Field(
        None, description="bearer token the HTTP API requires; unset: `recovery up` makes one"
    )
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING, ERROR")
    max_concurrent_activities: int = 100
    temporal_ui_url: str = Field(
        "http://localhost:8233", description="Temporal Web UI the agents' console links journeys to"
    )
    console_secret: str | None = Field(
        None, description="signs console session cookies; unset: kept in <data_dir>/console-secret"
    )
    sign_in_lockout_after: int = Field(
        10,
        ge=2,
        le=1000,
        description="failed console sign-ins of one account before it is locked (delays start at half); "
        "a client address gets 3 times as many",
    )
    sign_in_lockout_seconds: int = Field(
        900, ge=1, le=86400, description="how long a sign-in lockout lasts (console and API bearer token)"
    )
    # -- personal data: Temporal payloads are encrypted (core/payload_codec.py) ---------------------
    payload_keys: str | None = Field(
        None,
        repr=False,
        description="id:base64key[,id:base64key...]: AES-256 keys of Temporal payloads; "
        "the first encrypts, all decrypt",
    )
    payload_key_file: Path | None = Field(
        None,
        description="a file of id:base64key lines (first encrypts); unset: <data_dir>/payload-keys if it exists",
    )
    codec_cors_origins: str | None = Field(
        None,
        description="comma-separated extra origins allowed to call /codec (the Web UI's origin is always allowed)",
    )
    # -- vendors' webhooks: authenticated by the vendor's signature, not the API's bearer token ---------
    sumsub_webhook_secret: str | None = Field(
        None,
        repr=False,
        description="the secret of the Sumsub webhook (X-Payload-Digest); unset: POST /v1/webhooks/sumsub answers 403",
    )
    # -- push provider: the outbox (embedded default), the generic webhook, or Firebase Cloud Messaging --
    push_provider: Literal["outbox", "webhook", "fcm"] | None = Field(
        None, description="outbox, webhook or fcm; unset: webhook when push_webhook_url is set, else the outbox"
    )
    fcm_service_account_file: Path | None = Field(
        None, description="the Firebase project's service-account key (JSON) that FCM pushes are sent as"
    )
    fcm_base_url: str = Field("https://fcm.googleapis.com", description="FCM's API (a stand-in's URL in tests)")
    fcm_token_url: str = Field(
        "https://oauth2.googleapis.com/token", description="Google's OAuth2 token URL: the JWT bearer grant, its aud"
    )
    # -- production: Temporal Cloud or a TLS cluster, scale-out roles, provider rate limit, metrics --------
    temporal_tls_cert: Path | None = Field(
        None, description="client certificate (PEM) for mTLS to Temporal; needs temporal_tls_key"
    )
    temporal_tls_key: Path | None = Field(None, description="private key (PEM) of temporal_tls_cert")
    temporal_tls_ca: Path | None = Field(None, description="CA (PEM) of the Temporal server; unset: the system's roots")
    temporal_api_key: str | None = Field(
        None, repr=False, description="Temporal Cloud API key (TLS on); instead of a certificate"
    )
    worker_role: Literal["all", "journeys", "messaging"] = Field(
        "all",
        description="all: journeys and every activity; journeys: no deliveries; "
        "messaging: only deliveries, on messaging_task_queue",
    )
    messaging_rate_limit_per_second: float | None = Field(
        None,
        gt=0,
        description="deliveries per second across ALL workers of messaging_task_queue (the SMS provider's limit)",
    )
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="worker: Prometheus /metrics on this port; unset: no metrics"
    )
    metrics_host: str = Field(
        "127.0.0.1", description="worker: the address metrics listen on; 0.0.0.0 to let other hosts scrape them"
    )

    if not TYPE_CHECKING:  # at run time only: type checkers keep the fields' own signature

        def __init__(self, **values: Any) -> None:
            values.setdefault("_env_file", stack_env_file())  # Settings(_env_file=None) still reads no file
            super().__init__(**values)

    @model_validator(mode="after")
    def _sms_provider_configured(self) -> Self:
        if self.sms_provider == "webhook" and not self.sms_webhook_url:
            raise ValueError("RECOVERY_SMS_PROVIDER=webhook needs RECOVERY_SMS_WEBHOOK_URL")
        twilio_missing = [
            env_name(name)
            for name in ("twilio_account_sid", "twilio_auth_token", "twilio_messaging_service_sid", "public_url")
            if not getattr(self, name)
        ]
        if self.sms_provider == "twilio" and twilio_missing:
            raise ValueError(f"RECOVERY_SMS_PROVIDER=twilio needs {', '.join(twilio_missing)}")
        failover = self.sms_failover_provider
        if failover is not None and failover == self.sms_provider_name:
            raise ValueError(f"RECOVERY_SMS_FAILOVER_PROVIDER={failover} is the SMS provider itself: name another")
        if failover == "webhook" and not self.sms_webhook_url:
            raise ValueError("RECOVERY_SMS_FAILOVER_PROVIDER=webhook needs RECOVERY_SMS_WEBHOOK_URL")
        if failover == "twilio" and twilio_missing:
            raise ValueError(f"RECOVERY_SMS_FAILOVER_PROVIDER=twilio needs {', '.join(twilio_missing)}")
        return self

    @property
    def sms_provider_name(self) -> str:
        """The SMS provider in use: the one set, or webhook when its URL is set, or the outbox."""
        return self.sms_provider or ("webhook" if self.sms_webhook_url else "outbox")

    @field_validator("temporal_address")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or "/" in value or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("expected host:port, e.g. localhost:7233 or my-ns.a1b2c.tmprl.cloud:7233")
        return value

    @field_validator(
        "push_webhook_url",
        "sms_webhook_url",
        "staff_webhook_url",
        "service_status_url",
        "contact_lookup_url",
        "twilio_base_url",
        "public_url",
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http:// or https:// URL with a host")
        try:
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            raise ValueError("the URL's port is not a number from 1 to 65535") from None
        return value

    @field_validator("payload_keys")
    @classmethod
    def _payload_keys(cls, value: str | None) -> str | None:
        if value is not None:
            from core.payload_codec import parse_payload_keys

            parse_payload_keys(value)  # a PayloadKeyError names the problem, never a key
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value.upper()

    @field_validator("journal_url")
    @classmethod
    def _sqlalchemy_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except (ArgumentError, ValueError):
            raise ValueError(
                "expected an SQLAlchemy URL, e.g. postgresql+psycopg://user:password@host:5432/journal"
            ) from None
        if url.get_backend_name() not in ("postgresql", "sqlite"):
            raise ValueError(f"the journal runs on postgresql or sqlite, not {url.get_backend_name()}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError(
                "RECOVERY_TEMPORAL_TLS_CERT and RECOVERY_TEMPORAL_TLS_KEY go together: set both or neither"
            )
        if self.temporal_tls_cert is not None and self.temporal_api_key:
            raise ValueError("RECOVERY_TEMPORAL_API_KEY and RECOVERY_TEMPORAL_TLS_CERT: set one, not both")
        for name in ("temporal_tls_cert", "temporal_tls_key", "temporal_tls_ca"):
            path: Path | None = getattr(self, name)
            if path is not None:
                try:
                    path.read_bytes()
                except OSError as err:
                    raise ValueError(f"{env_name(name)}: cannot read {path}: {err.strerror or err}") from None
        if self.payload_keys and self.payload_key_file is not None:
            raise ValueError("RECOVERY_PAYLOAD_KEYS and RECOVERY_PAYLOAD_KEY_FILE: set one, not both")
        if self.worker_role != "all" and not self.messaging_task_queue:
            raise ValueError(
                f"RECOVERY_WORKER_ROLE={self.worker_role} needs RECOVERY_MESSAGING_TASK_QUEUE "
                "(the queue deliveries run on)"
            )
        if self.messaging_rate_limit_per_second is not None and not self.messaging_task_queue:
            raise ValueError(
                "RECOVERY_MESSAGING_RATE_LIMIT_PER_SECOND needs RECOVERY_MESSAGING_TASK_QUEUE: "
                "the limit holds on that queue only"
            )
        return self

    @model_validator(mode="after")
    def _push_provider_configured(self) -> Self:
        for name in ("fcm_base_url", "fcm_token_url"):
            parts = urlsplit(getattr(self, name))
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{env_name(name)}: expected an http:// or https:// URL with a host")
        if self.push_provider == "webhook" and not self.push_webhook_url:
            raise ValueError("RECOVERY_PUSH_PROVIDER=webhook needs RECOVERY_PUSH_WEBHOOK_URL")
        if self.push_provider == "fcm":
            if self.fcm_service_account_file is None:
                raise ValueError("RECOVERY_PUSH_PROVIDER=fcm needs RECOVERY_FCM_SERVICE_ACCOUNT_FILE")
            try:
                self.fcm_service_account_file.read_bytes()
            except OSError as err:
                raise ValueError(
                    f"RECOVERY_FCM_SERVICE_ACCOUNT_FILE: cannot read {self.fcm_service_account_file}: "
                    f"{err.strerror or err}"
                ) from None
        return self

    @property
    def push_provider_name(self) -> str:
        """The push provider in use: the one set, or webhook when its URL is set, or the outbox."""
        return self.push_provider or ("webhook" if self.push_webhook_url else "outbox")

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
    def default_payload_key_file(self) -> Path:
        return self.data_dir / "payload-keys"


def env_name(field: str) -> str:
    return f"RECOVERY_{field.upper()}"


def settings_error_text(error: ValidationError) -> str:
    """A pydantic error as one line naming the variables: `RECOVERY_METRICS_PORT: Input should be ...; ...`.

    Never quotes the value given: it may be a secret.
    """
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        loc = [str(part) for part in item.get("loc", ()) if part != "__root__"]
        problems.append(f"{env_name(loc[0])}: {message}" if loc else message)
    return "; ".join(problems)
