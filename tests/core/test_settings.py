"""Settings: a missing or malformed one is a clear one-line error at start, naming the variable."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.client import TLSConfig

from core.settings import Settings, settings_error_text
from core.temporal_client import tls_config

RECOVERY = Path(sys.executable).parent / "recovery"


def error_of(**values: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, **values)
    return settings_error_text(caught.value)


@pytest.fixture
def pem(tmp_path: Path) -> Path:
    path = tmp_path / "client.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n")
    return path


def test_defaults_are_the_embedded_stack() -> None:
    settings = Settings(_env_file=None)
    assert settings.temporal_address == "localhost:7233"
    assert (
        settings.worker_role == "all"
        and settings.metrics_port is None
        and settings.messaging_rate_limit_per_second is None
    )
    assert tls_config(settings) is False


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"temporal_address": "http://temporal:7233"}, "RECOVERY_TEMPORAL_ADDRESS: expected host:port"),
        ({"temporal_address": "temporal"}, "RECOVERY_TEMPORAL_ADDRESS: expected host:port"),
        ({"temporal_address": "temporal:99999"}, "RECOVERY_TEMPORAL_ADDRESS: expected host:port"),
        ({"metrics_port": "nine"}, "RECOVERY_METRICS_PORT: Input should be a valid integer"),
        ({"metrics_port": 70000}, "RECOVERY_METRICS_PORT: Input should be less than or equal to 65535"),
        ({"sms_webhook_url": "sms.example.com/send"}, "RECOVERY_SMS_WEBHOOK_URL: expected an http:// or https:// URL"),
        (
            {"push_webhook_url": "https://push.example.com:80x/"},
            "RECOVERY_PUSH_WEBHOOK_URL: the URL's port is not a number",
        ),
        ({"journal_url": "not a url"}, "RECOVERY_JOURNAL_URL: expected an SQLAlchemy URL"),
        ({"journal_url": "mysql://u@h/db"}, "RECOVERY_JOURNAL_URL: the journal runs on postgresql or sqlite"),
        ({"worker_role": "everything"}, "RECOVERY_WORKER_ROLE: Input should be 'all', 'journeys' or 'messaging'"),
        ({"worker_role": "messaging"}, "RECOVERY_WORKER_ROLE=messaging needs RECOVERY_MESSAGING_TASK_QUEUE"),
        (
            {"messaging_rate_limit_per_second": 5},
            "RECOVERY_MESSAGING_RATE_LIMIT_PER_SECOND needs RECOVERY_MESSAGING_TASK_QUEUE",
        ),
        (
            {"messaging_task_queue": "sms", "messaging_rate_limit_per_second": 0},
            "RECOVERY_MESSAGING_RATE_LIMIT_PER_SECOND: Input should be greater than 0",
        ),
        ({"log_level": "loud"}, "RECOVERY_LOG_LEVEL: expected DEBUG, INFO"),
    ],
)
def test_a_malformed_setting_names_its_variable(values: dict[str, object], expected: str) -> None:
    message = error_of(**values)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_a_certificate_needs_its_key_and_both_must_be_readable(pem: Path, tmp_path: Path) -> None:
    assert "RECOVERY_TEMPORAL_TLS_CERT and RECOVERY_TEMPORAL_TLS_KEY go together" in error_of(temporal_tls_cert=pem)
    assert "RECOVERY_TEMPORAL_TLS_CERT and RECOVERY_TEMPORAL_TLS_KEY go together" in error_of(temporal_tls_key=pem)
    missing = tmp_path / "nowhere.key"
    assert error_of(temporal_tls_cert=pem, temporal_tls_key=missing) == (
        f"RECOVERY_TEMPORAL_TLS_KEY: cannot read {missing}: No such file or directory"
    )
    assert "set one, not both" in error_of(temporal_tls_cert=pem, temporal_tls_key=pem, temporal_api_key="k")


def test_tls_for_mtls_for_an_api_key_and_for_a_private_ca(pem: Path) -> None:
    mtls = tls_config(Settings(_env_file=None, temporal_tls_cert=pem, temporal_tls_key=pem, temporal_tls_ca=pem))
    assert (
        isinstance(mtls, TLSConfig)
        and mtls.client_cert == pem.read_bytes()
        and mtls.server_root_ca_cert == pem.read_bytes()
    )
    cloud = Settings(_env_file=None, temporal_address="my-ns.a1b2c.tmprl.cloud:7233", temporal_api_key="secret-key")
    assert tls_config(cloud) is True
    assert "secret-key" not in repr(cloud)
    private_ca = tls_config(Settings(_env_file=None, temporal_tls_ca=pem))
    assert isinstance(private_ca, TLSConfig) and private_ca.client_cert is None


def test_the_values_sent_are_never_quoted_back() -> None:
    message = error_of(metrics_port="hunter2-secret")
    assert "hunter2" not in message


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"RECOVERY_METRICS_PORT": "nine"},
            "error: bad RECOVERY_* setting: RECOVERY_METRICS_PORT: Input should be a valid integer",
        ),
        (
            {"RECOVERY_TEMPORAL_TLS_CERT": "/nowhere/client.pem", "RECOVERY_TEMPORAL_TLS_KEY": "/nowhere/client.key"},
            "error: bad RECOVERY_* setting: RECOVERY_TEMPORAL_TLS_CERT: cannot read /nowhere/client.pem",
        ),
    ],
)
def test_recovery_worker_refuses_a_bad_setting_in_one_line(env: dict[str, str], expected: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(RECOVERY), "worker"],
        env={**os.environ, "RECOVERY_ENV_FILE": os.devnull, "RECOVERY_DATA_DIR": str(tmp_path), "COLUMNS": "60", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(expected), lines[0]
    assert "Traceback" not in result.stderr


def test_recovery_worker_refuses_a_role_without_its_queue(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(RECOVERY), "worker", "--role", "messaging"],
        env={**os.environ, "RECOVERY_ENV_FILE": os.devnull, "RECOVERY_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: bad RECOVERY_* setting: RECOVERY_WORKER_ROLE=messaging needs RECOVERY_MESSAGING_TASK_QUEUE "
        "(the queue deliveries run on)"
    )


def test_the_env_file_is_looked_up_when_settings_are_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stack running in the checkout writes var/recovery.env: tests (which name os.devnull after importing
    core.settings) must not read it, and a file named later is obeyed."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "recovery.env").write_text("RECOVERY_TEMPORAL_ADDRESS=127.0.0.1:7233\nRECOVERY_API_TOKEN=t\n")
    assert os.environ["RECOVERY_ENV_FILE"] == os.devnull  # tests/conftest.py, set after core.settings was imported
    assert Settings().temporal_address == "localhost:7233" and Settings().api_token is None
    named = tmp_path / "named.env"
    named.write_text("RECOVERY_NAMESPACE=from-the-file\n")
    monkeypatch.setenv("RECOVERY_ENV_FILE", str(named))
    assert Settings().namespace == "from-the-file"
    monkeypatch.delenv("RECOVERY_ENV_FILE")
    assert Settings().temporal_address == "127.0.0.1:7233"  # the stack's file, for the CLI in a second terminal
    assert Settings(_env_file=None).temporal_address == "localhost:7233"


def test_a_test_never_points_at_the_checkouts_data_folder() -> None:
    """`make up` keeps its journal, outbox and keys in ./var: a test that sets no data_dir must not share them."""
    checkout_var = (Path(__file__).resolve().parents[2] / "var").resolve()
    settings = Settings()
    assert settings.data_dir.resolve() != checkout_var and checkout_var not in settings.data_dir.resolve().parents
    assert str(checkout_var) not in settings.journal_database_url
