"""A separate process for the DDS transport test: once a subscriber matches, it publishes a 640x480 rgb8
Image and a PoseWithCovarianceStamped (deterministic content) every 100 ms until killed or 60 s pass."""

from __future__ import annotations

import sys
import time

import numpy as np
import rclpy
from geometry_msgs.msg import PoseWithCovarianceStamped
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image


def expected_image() -> np.ndarray:
    rows = np.arange(480, dtype=np.uint32)[:, None, None]
    cols = np.arange(640, dtype=np.uint32)[None, :, None]
    chans = np.arange(3, dtype=np.uint32)[None, None, :]
    return ((rows * 7 + cols * 3 + chans * 101) % 256).astype(np.uint8)


def main() -> int:
    rclpy.init()
    node = rclpy.create_node("geodistill_test_peer")
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    pub_img = node.create_publisher(Image, "peer/image", qos)
    pub_pose = node.create_publisher(PoseWithCovarianceStamped, "peer/pose", qos)
    img = Image(height=480, width=640, encoding="rgb8", is_bigendian=0, step=640 * 3)
    img.header.frame_id = "camera_link"
    img.data = expected_image().tobytes()
    pose = PoseWithCovarianceStamped()
    pose.header.frame_id = "map"
    pose.pose.pose.position.x, pose.pose.pose.position.y = 12.5, -3.25
    pose.pose.pose.orientation.z, pose.pose.pose.orientation.w = 0.6, 0.8
    pose.pose.covariance = [float(i) for i in range(36)]
    deadline = time.monotonic() + 60.0
    def matched() -> bool:
        return pub_img.get_subscription_count() > 0 and pub_pose.get_subscription_count() > 0

    while time.monotonic() < deadline and not matched():
        rclpy.spin_once(node, timeout_sec=0.05)
    seq = 0
    while time.monotonic() < deadline:
        stamp = node.get_clock().now().to_msg()
        img.header.stamp = stamp
        pose.header.stamp = stamp
        img.header.frame_id = f"camera_link/{seq}"
        pub_img.publish(img)
        pub_pose.publish(pose)
        seq += 1
        rclpy.spin_once(node, timeout_sec=0.1)
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
