"""Synthetic worlds with exact ground truth: ground panoramas/pinhole views, satellite imagery, datasets, bags.

``from geodistill_ros.sim import World`` (numpy + OpenCV only; no torch).
"""

from .config import STYLES, GapConfig, SimError
from .world import World

__all__ = ["World", "GapConfig", "SimError", "STYLES"]
