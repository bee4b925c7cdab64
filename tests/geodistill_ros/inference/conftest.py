"""Fixtures of the inference tests (the session's tiny model export, ``tiny_export``, is in tests/conftest.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def model_copy(tiny_export, tmp_path) -> Path:
    """A private copy of the tiny model folder that a test may damage."""
    return Path(shutil.copytree(tiny_export[0], tmp_path / "model"))
