"""Shared fixtures of the inference tests: a tiny model exported once per session (about 5 s)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory):
    """(model_dir, export report) of the tiny torch models."""
    pytest.importorskip("torch", reason="exporting the test model needs torch")
    import tiny_torch_models

    out = tmp_path_factory.mktemp("tiny_model")
    return out, tiny_torch_models.export_tiny_model(out)


@pytest.fixture
def model_copy(tiny_export, tmp_path) -> Path:
    """A private copy of the tiny model folder that a test may damage."""
    return Path(shutil.copytree(tiny_export[0], tmp_path / "model"))
