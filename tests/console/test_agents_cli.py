"""`recovery agents` as an operator runs it: the password on stdin, the accounts in the journal of
the data folder the API reads. One real process, the other cases in-process for speed."""

import asyncio
import os
import sys
from pathlib import Path

from typer.testing import CliRunner

from console.accounts import Role, authenticate
from journal.store import migrate, open_journal
from starters.cli import app

RECOVERY = str(Path(sys.executable).parent / "recovery")
PASSWORD = "a-long-enough-password"


def migrated(data_dir: Path) -> Path:
    """The data folder with its journal's schema, as `recovery migrate` leaves it.

    `recovery agents` migrates nothing.
    """
    migrate(open_journal(f"sqlite:///{data_dir / 'journal.db'}"))
    return data_dir


def agents(data_dir: Path, *args: str, stdin: str = "") -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app, ["agents", *args], input=stdin, env={"RECOVERY_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    )
    return result.exit_code, result.stdout, result.stderr


async def test_an_agent_is_added_by_a_real_process_reading_the_password_from_stdin(tmp_path: Path) -> None:
    migrated(tmp_path)
    process = await asyncio.create_subprocess_exec(
        RECOVERY,
        "agents",
        "add",
        "sue",
        "--role",
        "supervisor",
        env={"RECOVERY_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "RECOVERY_ENV_FILE": os.devnull},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(f"{PASSWORD}\n".encode())
    assert (process.returncode, out.decode().strip()) == (0, "agent sue added (supervisor)"), err.decode()
    assert PASSWORD not in (out + err).decode()
    journal = open_journal(f"sqlite:///{tmp_path / 'journal.db'}")
    sue = authenticate(journal, "sue", PASSWORD)
    assert sue is not None and sue.role is Role.SUPERVISOR
    assert authenticate(journal, "sue", PASSWORD + "\n") is None, (
        "the newline that ends the line is not part of the password"
    )


def test_agents_are_listed_and_removed_and_duplicates_refused(tmp_path: Path) -> None:
    migrated(tmp_path)
    assert agents(tmp_path, "add", "ana", stdin=f"{PASSWORD}\n")[:2] == (0, "agent ana added (agent)\n")
    assert agents(tmp_path, "add", "ana", stdin=f"{PASSWORD}\n")[::2] == (1, "error: agent ana already exists\n")
    code, out, _ = agents(tmp_path, "list")
    assert code == 0 and "ana" in out and "agent" in out and "$argon2" not in out
    assert agents(tmp_path, "remove", "ana")[:2] == (0, "agent ana removed\n")
    assert agents(tmp_path, "remove", "ana")[::2] == (1, "error: no agent ana\n")
    assert "no agents" in agents(tmp_path, "list")[1]
    assert authenticate(open_journal(f"sqlite:///{tmp_path / 'journal.db'}"), "ana", PASSWORD) is None


def test_empty_or_short_passwords_and_bad_usernames_or_roles_are_refused(tmp_path: Path) -> None:
    migrated(tmp_path)
    assert agents(tmp_path, "add", "ana", stdin="")[::2] == (1, "error: the password is empty\n")
    assert agents(tmp_path, "add", "ana", stdin="short\n")[::2] == (
        1,
        "error: the password is too short: use at least 12 characters\n",
    )
    code, _, err = agents(tmp_path, "add", "ana smith", stdin=f"{PASSWORD}\n")
    assert code == 1 and "a username is 1-64 characters" in err
    code, _, err = agents(tmp_path, "add", "ana", "--role", "admin", stdin=f"{PASSWORD}\n")
    assert code == 2 and "admin" in err
    assert "no agents" in agents(tmp_path, "list")[1]


def test_a_journal_without_its_schema_is_a_one_line_error_naming_recovery_migrate(tmp_path: Path) -> None:
    code, _, err = agents(tmp_path, "list")
    assert code == 1 and err.startswith("error: the journal") and "`recovery migrate`" in err and "Traceback" not in err
