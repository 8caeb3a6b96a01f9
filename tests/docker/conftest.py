"""Fixtures for the deployment files under ``docker/``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

DOCKER = Path(__file__).resolve().parents[2] / "docker"


@pytest.fixture
def promtool() -> str:
    """Path of ``promtool`` (Debian's ``prometheus`` package; ``make prometheus`` installs it)."""
    found = shutil.which("promtool")
    if found is None:
        pytest.skip(
            "promtool not installed: `make prometheus` installs Debian's prometheus package"
        )
    return found
