"""Data files only their owner reads: tokens, secrets, keys, the journal and the outbox hold what outsiders must not.

Created with mode 0600 from the start (not chmod-ed after writing, which leaves a moment where the
umask's wider mode applies), whatever the process umask.
"""

import os
import secrets
from pathlib import Path

PRIVATE = 0o600


def write_private(path: Path, text: str) -> None:
    """Writes `text` to `path` (replacing it atomically) as a file readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(draft, PRIVATE)  # os.open's mode is masked by the umask; 0600 is never widened by it, but be exact
        os.replace(draft, path)
    except BaseException:
        draft.unlink(missing_ok=True)
        raise


def create_owner_only(path: Path) -> None:
    """Creates the file 0600 unless it exists (the journal, the outbox); whatever opens it later keeps that mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))
    except FileExistsError:
        pass
