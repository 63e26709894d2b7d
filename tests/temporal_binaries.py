"""Where the Temporal binaries that the project's dependencies install live: next to this Python."""

import sys
from pathlib import Path

BIN_DIR = Path(sys.executable).parent
DEV_SERVER = BIN_DIR / "temporal"
TEST_SERVER = BIN_DIR / "temporal-test-server"
