"""Files that hold customers' data (the journal, the outbox) are created readable by their owner only."""

import os
from pathlib import Path


def create_owner_only(path: Path) -> None:
    """Creates the file 0600 unless it exists; whatever opens it later keeps that mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
