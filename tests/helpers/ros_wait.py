"""Waiting on a ROS graph without sleep-and-hope: spin until a condition holds or a deadline passes."""

from __future__ import annotations

import time


def spin_until(executor, condition, timeout_s: float, step_s: float = 0.05) -> bool:
    """Spin ``executor`` until ``condition()`` is true; returns whether it became true in time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        executor.spin_once(timeout_sec=step_s)
    return bool(condition())
