"""Real DDS through the venv: a publisher in another process, a subscriber here."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO
from tests.helpers.ros_peer_publisher import expected_image
from tests.helpers.ros_wait import spin_until

pytestmark = pytest.mark.ros


def test_image_and_pose_cross_process(rclpy_context, ros_env):
    import rclpy
    from geometry_msgs.msg import PoseWithCovarianceStamped
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    node = rclpy.create_node("geodistill_test_sub", context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    got = {"image": [], "pose": []}
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    node.create_subscription(Image, "peer/image", lambda m: got["image"].append(m), qos)
    node.create_subscription(PoseWithCovarianceStamped, "peer/pose", lambda m: got["pose"].append(m), qos)
    peer = subprocess.Popen([sys.executable, str(REPO / "tests/helpers/ros_peer_publisher.py")], env=ros_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        ok = spin_until(executor, lambda: len(got["image"]) >= 3 and len(got["pose"]) >= 3, timeout_s=60.0)
        assert ok, f"received {len(got['image'])} images and {len(got['pose'])} poses from the other process"
    finally:
        peer.kill()
        out = peer.communicate(timeout=10)[0].decode(errors="replace")
        executor.shutdown()
        node.destroy_node()
    img = got["image"][-1]
    assert (img.height, img.width, img.encoding, img.step) == (480, 640, "rgb8", 1920)
    arr = np.frombuffer(bytes(img.data), np.uint8).reshape(480, 640, 3)
    np.testing.assert_array_equal(arr, expected_image()), out
    # frames arrive in order
    seqs = [int(m.header.frame_id.split("/")[1]) for m in got["image"]]
    assert seqs == sorted(seqs)
    pose = got["pose"][-1]
    assert pose.header.frame_id == "map"
    assert (pose.pose.pose.position.x, pose.pose.pose.position.y) == (12.5, -3.25)
    assert list(pose.pose.covariance) == [float(i) for i in range(36)]


def test_full_size_panorama_over_best_effort(rclpy_context, ros_env):
    """A 2048x1024 rgb8 panorama (6 MB) over sensor-data QoS between processes. Without the enlarged Fast DDS
    shared-memory segment (config/fastdds_shm.xml) none of these arrive."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    assert ros_env["FASTDDS_DEFAULT_PROFILES_FILE"].endswith("fastdds_shm.xml")
    assert ros_env["FASTRTPS_DEFAULT_PROFILES_FILE"].endswith("fastdds_shm.xml")
    node = rclpy.create_node("geodistill_big_sub", context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    got = []
    node.create_subscription(Image, "peer/big_image", got.append, qos_profile_sensor_data)
    peer = subprocess.Popen([sys.executable, str(REPO / "tests/helpers/ros_big_image_publisher.py"), "1024", "2048"],
                            env=ros_env)
    try:
        spin_until(executor, lambda: len(got) >= 20 or peer.poll() is not None, timeout_s=60.0)
        spin_until(executor, lambda: len(got) >= 20, timeout_s=2.0)
    finally:
        peer.kill()
        peer.wait(timeout=10)
        executor.shutdown()
        node.destroy_node()
    assert len(got) >= 18, f"only {len(got)} of 20 full-size images arrived over best effort"
    last = got[-1]
    assert (last.height, last.width, len(last.data)) == (1024, 2048, 1024 * 2048 * 3)
    assert bytes(last.data[:3]) == bytes([int(last.header.frame_id)] * 3)
