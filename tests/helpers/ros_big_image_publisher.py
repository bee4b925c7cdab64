"""A separate process: once a subscriber matches, publish 20 large rgb8 images (H W from argv) with the
sensor-data QoS (best effort), 100 ms apart, each filled with its sequence number."""

from __future__ import annotations

import sys
import time

import numpy as np
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image


def main() -> int:
    height, width = int(sys.argv[1]), int(sys.argv[2])
    rclpy.init()
    node = rclpy.create_node("geodistill_big_image_peer")
    pub = node.create_publisher(Image, "peer/big_image", qos_profile_sensor_data)
    deadline = time.monotonic() + 60.0
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    msg = Image(height=height, width=width, encoding="rgb8", is_bigendian=0, step=width * 3)
    for seq in range(20):
        msg.header.frame_id = str(seq)
        msg.data = np.full((height, width, 3), seq, np.uint8).tobytes()
        pub.publish(msg)
        time.sleep(0.1)
    time.sleep(1.0)
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
