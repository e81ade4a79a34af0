"""Shared fixtures: golden output files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.fixture
def golden() -> Callable[[str, str], None]:
    """Compare text with tests/golden/NAME; BSPROF_UPDATE_GOLDEN=1 rewrites the file instead
    (then read the diff before committing it)."""

    def compare(name: str, text: str) -> None:
        path = GOLDEN / name
        if os.environ.get("BSPROF_UPDATE_GOLDEN") == "1":
            path.write_text(text, encoding="utf-8")
        assert path.exists(), f"{path} is missing: run with BSPROF_UPDATE_GOLDEN=1 to create it"
        assert text == path.read_text(encoding="utf-8")

    return compare
