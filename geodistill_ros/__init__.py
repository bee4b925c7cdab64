"""geodistill_ros: cross-view (ground-to-satellite) metric localization for ROS 2.

The runtime package: geometry, satellite tiles, inference backends, the pure-Python ``Localizer``, the rclpy
node, bag replay/evaluation and the synthetic world. It never imports PyTorch or ``training``.
"""

__version__ = "0.1.0"
