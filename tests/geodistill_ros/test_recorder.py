"""Recorder: subscribes on discovery, writes raw messages and arrival stamps to an MCAP bag that reads back."""

from __future__ import annotations

import threading
import time

import pytest

from geodistill_ros import bagio
from geodistill_ros.recorder import Recorder, RecorderConfig, arrival_topic

pytestmark = pytest.mark.ros

N = 6


def test_arrival_topic_name():
    assert arrival_topic("/camera/image_raw") == "/recorder/arrival/camera/image_raw"
    assert arrival_topic("camera") == "/recorder/arrival/camera"


def test_recorder_writes_outputs_and_arrivals(tmp_path, rclpy_context):
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
    from geometry_msgs.msg import PoseWithCovarianceStamped
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import Image, NavSatFix

    pub_node = rclpy.create_node("recorder_test_pub", namespace="/loc", context=rclpy_context)
    rec_node = rclpy.create_node("recorder_test_rec", namespace="/loc", context=rclpy_context)
    reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    pub_pose = pub_node.create_publisher(PoseWithCovarianceStamped, "pose", reliable)
    pub_fix = pub_node.create_publisher(NavSatFix, "fix", qos_profile_sensor_data)
    pub_diag = pub_node.create_publisher(DiagnosticArray, "/diagnostics", reliable)
    pub_img = pub_node.create_publisher(Image, "/camera/image_raw", qos_profile_sensor_data)

    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(rec_node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    out = tmp_path / "rec"
    recorder = Recorder(rec_node, RecorderConfig(out=out, arrival_topics=["/camera/image_raw"]))
    spinner.start()
    try:
        assert recorder.wait_until_matched(20.0), f"still pending: {recorder.pending}"
        # the publishers see the recorder too, so nothing is lost to discovery
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(
                p.get_subscription_count() for p in (pub_pose, pub_fix, pub_diag, pub_img)):
            time.sleep(0.01)
        for i in range(N):
            stamp = rclpy.time.Time(seconds=100 + i, nanoseconds=0).to_msg()
            pose = PoseWithCovarianceStamped()
            pose.header.stamp, pose.header.frame_id = stamp, "map"
            pose.pose.pose.position.x, pose.pose.pose.position.y = float(i), -2.0 * i
            pose.pose.pose.orientation.w = 1.0
            pub_pose.publish(pose)
            fix = NavSatFix()
            fix.header.stamp, fix.latitude, fix.longitude = stamp, 37.0 + i * 1e-5, -122.0
            pub_fix.publish(fix)
            diag = DiagnosticArray()
            diag.header.stamp = stamp
            diag.status = [DiagnosticStatus(name="geodistill", message=f"frame {i}")]
            pub_diag.publish(diag)
            img = Image(height=2, width=2, encoding="rgb8", step=6, data=bytes(range(12)))
            img.header.stamp = stamp
            pub_img.publish(img)
            time.sleep(0.02)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and min(recorder.stats.counts.values(), default=0) < N:
            time.sleep(0.02)
    finally:
        executor.shutdown()
        spinner.join(timeout=5)
        stats = recorder.stop()
        pub_node.destroy_node()
        rec_node.destroy_node()
    assert len(stats.counts) == 4 and all(c == N for c in stats.counts.values()), stats.counts

    with bagio.open_reader(out) as reader:
        topics = bagio.topics(reader)
        assert {t: s.msgtype for t, s in topics.items()} == {
            "/loc/pose": "geometry_msgs/msg/PoseWithCovarianceStamped",
            "/loc/fix": "sensor_msgs/msg/NavSatFix",
            "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
            "/recorder/arrival/camera/image_raw": "std_msgs/msg/Header",
        }
        fix_conn = next(c for c in reader.connections if c.topic == "/loc/fix")
        assert fix_conn.ext.offered_qos_profiles[0].reliability.name == "BEST_EFFORT"
        got: dict[str, list] = {t: [] for t in topics}
        log_times = []
        for topic, msgtype, t_ns, raw in bagio.iter_messages(reader):
            got[topic].append(bagio.deserialize(raw, msgtype))
            log_times.append(t_ns)
    assert log_times == sorted(log_times)
    assert [m.pose.pose.position.x for m in got["/loc/pose"]] == [float(i) for i in range(N)]
    assert [m.pose.pose.position.y for m in got["/loc/pose"]] == [-2.0 * i for i in range(N)]
    assert [m.latitude for m in got["/loc/fix"]] == pytest.approx([37.0 + i * 1e-5 for i in range(N)])
    assert [m.status[0].message for m in got["/diagnostics"]] == [f"frame {i}" for i in range(N)]
    assert [bagio.stamp_to_ns(m.stamp) for m in got["/recorder/arrival/camera/image_raw"]] == [
        (100 + i) * 1_000_000_000 for i in range(N)]
