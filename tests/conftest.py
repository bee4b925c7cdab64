"""Shared test fixtures: an isolated ROS 2 domain per test session and an rclpy context per test.

ROS tests are marked ``ros``. Where rclpy is missing they skip with the reason, except when
``GEODISTILL_REQUIRE_ROS=1`` (set by ``make test`` and CI), where a missing rclpy is an error.
"""

from __future__ import annotations

import os
import pathlib
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
# the tiny torch models that tests export (tests/geodistill_ros/inference/fixtures/tiny_torch_models.py)
sys.path.insert(0, str(REPO / "tests" / "geodistill_ros" / "inference" / "fixtures"))


def _session_domain_id() -> int:
    # Linux-safe domain ids are 0..101; keep clear of 0 (the default other tools use).
    return 1 + os.getpid() % 100


def pytest_configure(config):
    os.environ.setdefault("ROS_DOMAIN_ID", str(_session_domain_id()))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    profile = str(REPO / "config" / "fastdds_shm.xml")
    os.environ.setdefault("FASTRTPS_DEFAULT_PROFILES_FILE", profile)
    os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", profile)
    os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")


def _rclpy_or_skip():
    try:
        import rclpy  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the machine
        if os.environ.get("GEODISTILL_REQUIRE_ROS") == "1":
            raise
        pytest.skip(f"rclpy is not importable ({exc}); source a ROS 2 install to run ROS tests")
    import rclpy

    return rclpy


@pytest.fixture(scope="session")
def ros_domain_id() -> int:
    """The ROS_DOMAIN_ID this test session (and every process it starts) uses."""
    return int(os.environ["ROS_DOMAIN_ID"])


@pytest.fixture
def ros_env(ros_domain_id) -> dict:
    """Environment for child processes that take part in this session's ROS graph."""
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(ros_domain_id)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    return env


@pytest.fixture
def rclpy_context(ros_domain_id):
    """A fresh, initialised rclpy context for one test; shut down afterwards."""
    rclpy = _rclpy_or_skip()
    context = rclpy.context.Context()
    rclpy.init(context=context, domain_id=ros_domain_id)
    try:
        yield context
    finally:
        if context.ok():
            rclpy.shutdown(context=context)


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory):
    """(model_dir, export report) of the tiny torch models, exported once per session (about 5 s; read only)."""
    pytest.importorskip("torch", reason="exporting the test model needs torch")
    import tiny_torch_models

    out = tmp_path_factory.mktemp("tiny_model")
    return out, tiny_torch_models.export_tiny_model(out)
