"""Data files are the owner's alone (0600) from the moment they exist, whatever the umask: the API
token, the console secret, the stack's env file and the journal (with its WAL files) hold secrets or
customers' funnel facts."""

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.sessions import console_secret
from core.settings import Settings
from journal.store import migrate, open_journal
from starters.embedded_stack import _write_stack_env, api_token_for


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_files_are_created_readable_by_the_owner_only(tmp_path: Path, permissive_umask: None) -> None:
    data_dir = tmp_path / "var"
    settings = Settings(_env_file=None, data_dir=data_dir)
    api_token_for(data_dir, None)
    console_secret(settings)
    _write_stack_env(data_dir, {"RECOVERY_API_TOKEN": "secret"})
    journal = open_journal(settings.journal_database_url)
    migrate(journal)
    with journal.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
        files = {path.name: mode(path) for path in data_dir.iterdir()}
    journal.dispose()
    assert {"api-token", "console-secret", "recovery.env", "journal.db", "journal.db-wal"} <= set(files), files
    assert files == dict.fromkeys(files, 0o600), {name: oct(m) for name, m in files.items()}


def test_a_world_readable_token_or_secret_left_by_an_older_version_is_tightened(
    tmp_path: Path, permissive_umask: None
) -> None:
    for name in ("api-token", "console-secret"):
        (tmp_path / name).write_text("kept-value")
        (tmp_path / name).chmod(0o644)
    assert api_token_for(tmp_path, None) == "kept-value"
    assert console_secret(Settings(_env_file=None, data_dir=tmp_path)) == "kept-value"
    assert mode(tmp_path / "api-token") == mode(tmp_path / "console-secret") == 0o600
