"""The linter, the formatter and the type checker, as part of the test suite (`make test`, `.ci/run`).

Their configuration is in pyproject.toml ([tool.ruff], [tool.mypy]); `make lint` runs this file alone.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CHECKS = {
    "ruff check": [sys.executable, "-m", "ruff", "check", "--no-fix", "--output-format", "concise", "."],
    "ruff format --check": [sys.executable, "-m", "ruff", "format", "--check", "."],
    "mypy": [sys.executable, "-m", "mypy"],
}


@pytest.mark.parametrize("name", list(CHECKS))
def test_the_code_passes(name: str) -> None:
    result = subprocess.run(CHECKS[name], cwd=ROOT, capture_output=True, text=True, timeout=170)
    assert result.returncode == 0, f"`{name}` failed:\n{result.stdout}{result.stderr}"
