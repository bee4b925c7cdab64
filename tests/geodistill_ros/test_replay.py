"""``geodistill replay``: QoS choice and schedule (pure), then real DDS playback checked by a subscriber."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

from geodistill_ros import bagio
from geodistill_ros.replay import QosChoice, ReplayConfig, choose_qos, schedule_offset_s
from tests.conftest import REPO
from tests.helpers.ros_wait import spin_until

T0_NS = 1_700_000_000_000_000_000
CHATTER_DT_NS = 100_000_000  # 10 Hz
IMAGE_DT_NS = 250_000_000  # 4 Hz
N_CHATTER = 12
N_IMAGES = 5


def _qos(reliability, durability, depth=7, history=QosHistory.KEEP_LAST) -> Qos:
    t = QosTime(0, 0)
    return Qos(history, depth, reliability, durability, t, t, QosLiveliness.AUTOMATIC, t, False)


def _image_array(i: int) -> np.ndarray:
    return ((np.arange(6 * 8 * 3).reshape(6, 8, 3) * (i + 3)) % 251).astype(np.uint8)


def write_test_bag(path, storage: str = "mcap"):
    """A bag: /chatter String every 100 ms (recorded reliable + transient-local QoS), /camera/image_raw
    rgb8 Image every 250 ms (no recorded QoS). Returns the expected (topic, offset_ns, payload) list."""
    ts = bagio.typestore()
    String = ts.types["std_msgs/msg/String"]
    Image = ts.types["sensor_msgs/msg/Image"]
    Header = ts.types["std_msgs/msg/Header"]
    expected = []
    with bagio.open_writer(path, storage=storage) as writer:
        chatter = writer.add_connection(
            "/chatter", "std_msgs/msg/String", typestore=ts,
            offered_qos_profiles=[_qos(QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL)])
        camera = writer.add_connection("/camera/image_raw", "sensor_msgs/msg/Image", typestore=ts)
        msgs = []
        for i in range(N_CHATTER):
            msgs.append((T0_NS + i * CHATTER_DT_NS, chatter, String(data=f"message {i}"), f"message {i}"))
        for i in range(N_IMAGES):
            t = T0_NS + 50_000_000 + i * IMAGE_DT_NS
            arr = _image_array(i)
            img = Image(header=Header(stamp=bagio.time_msg(t), frame_id=f"camera_link/{i}"), height=6, width=8,
                        encoding="rgb8", is_bigendian=0, step=24, data=arr.reshape(-1))
            msgs.append((t, camera, img, arr.tobytes()))
        for t, conn, msg, payload in sorted(msgs, key=lambda m: m[0]):
            writer.write(conn, t, bagio.serialize(msg, conn.msgtype))
            expected.append((conn.topic, t - T0_NS, payload))
    return expected


# --- pure ----------------------------------------------------------------------------------------------
def test_choose_qos_follows_recorded_profiles():
    rel_tl = _qos(QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL, depth=3)
    be_vol = _qos(QosReliability.BEST_EFFORT, QosDurability.VOLATILE, depth=9)
    assert choose_qos([rel_tl], "std_msgs/msg/String") == QosChoice(True, True, 3)
    # mixed publishers: the weakest wins so every recorded subscriber could still match
    assert choose_qos([rel_tl, be_vol], "std_msgs/msg/String") == QosChoice(False, False, 9)
    keep_all = _qos(QosReliability.RELIABLE, QosDurability.VOLATILE, depth=0, history=QosHistory.KEEP_ALL)
    assert choose_qos([keep_all], "std_msgs/msg/String") == QosChoice(True, False, 10, keep_all=True)


def test_choose_qos_defaults_without_metadata():
    assert choose_qos([], "sensor_msgs/msg/Image") == QosChoice(False, False, 5)
    assert choose_qos([], "sensor_msgs/CompressedImage") == QosChoice(False, False, 5)
    assert choose_qos([], "nav_msgs/msg/Odometry") == QosChoice(True, False, 10)


def test_schedule_offset_scales_by_rate():
    assert schedule_offset_s(T0_NS + 3_000_000_000, T0_NS, 1.0) == pytest.approx(3.0)
    assert schedule_offset_s(T0_NS + 3_000_000_000, T0_NS, 2.0) == pytest.approx(1.5)
    assert schedule_offset_s(T0_NS, T0_NS, 0.5) == 0.0


def test_order_equal_times_puts_chosen_topics_last_within_a_timestamp():
    msgs = [("/cam", "T", 1, b"c1"), ("/gps", "T", 1, b"g1"), ("/imu", "T", 1, b"i1"), ("/cam", "T", 2, b"c2"),
            ("/gps", "T", 3, b"g3"), ("/cam", "T", 3, b"c3")]
    got = [m[3] for m in bagio.order_equal_times(iter(msgs), ["/cam"])]
    assert got == [b"g1", b"i1", b"c1", b"c2", b"g3", b"c3"]
    assert list(bagio.order_equal_times(iter(msgs))) == msgs


def test_config_rejects_bad_rate(tmp_path):
    with pytest.raises(ValueError, match="rate"):
        ReplayConfig(bag=tmp_path, rate=0.0)


def test_missing_bag_is_a_clear_error(tmp_path):
    with pytest.raises(bagio.BagError, match="not found"):
        with bagio.open_reader(tmp_path / "nope"):
            pass


# --- DDS -----------------------------------------------------------------------------------------------
class _Collector:
    """Subscribes to the test bag's topics (and /clock) and records (topic, arrival time, payload)."""

    def __init__(self, node, clock: bool = False):
        from rclpy.qos import QoSProfile, qos_profile_sensor_data
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import Image
        from std_msgs.msg import String

        self.got: list[tuple[str, float, bytes | str]] = []
        self.clock_ns: list[int] = []
        self.lock = threading.Lock()
        self.subs = [
            node.create_subscription(String, "/chatter", lambda m: self._add("/chatter", m.data), QoSProfile(depth=50)),
            node.create_subscription(Image, "/camera/image_raw",
                                     lambda m: self._add("/camera/image_raw", bytes(m.data)),
                                     qos_profile_sensor_data),
        ]
        if clock:
            self.subs.append(node.create_subscription(
                Clock, "/clock", lambda m: self.clock_ns.append(bagio.stamp_to_ns(m.clock)), QoSProfile(depth=50)))

    def _add(self, topic, payload):
        with self.lock:
            self.got.append((topic, time.monotonic(), payload))


def _check_playback(got, expected, rate: float):
    assert [(t, p) for t, _, p in got] == [(t, p) for t, _, p in expected], "order or content differs"
    arrival = np.array([a for _, a, _ in got]) - got[0][1]
    planned = np.array([off for _, off, _ in expected]) / 1e9 / rate
    lag = arrival - planned
    # relative timing: every message within 60 ms of its slot (2 loaded cores), and no drift
    assert np.abs(lag - np.median(lag)).max() < 0.06, lag


@pytest.mark.ros
def test_replay_cli_over_dds_keeps_order_content_timing_and_clock(tmp_path, rclpy_context, ros_env):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    bag = tmp_path / "bag"
    expected = write_test_bag(bag, "mcap")
    node = rclpy.create_node("replay_test_sub", context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    col = _Collector(node, clock=True)
    rate = 2.0
    proc = subprocess.Popen(
        [sys.executable, "-m", "geodistill_ros", "replay", str(bag), "--rate", str(rate), "--clock", "50",
         "--wait-topics", "/chatter", "/camera/image_raw", "/clock", "--quiet"],
        cwd=REPO, env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        ok = spin_until(executor, lambda: len(col.got) >= len(expected) or proc.poll() is not None, 60.0)
        spin_until(executor, lambda: len(col.got) >= len(expected), 2.0)  # drain after the player exits
        out = proc.communicate(timeout=30)[0].decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
        executor.shutdown()
        node.destroy_node()
    assert ok and proc.returncode == 0, out
    assert f"replayed {len(expected)} messages" in out, out
    _check_playback(col.got, expected, rate)
    clock = np.array(col.clock_ns)
    assert len(clock) >= 20, "expected /clock at 50 Hz over ~0.6 s"
    assert np.all(np.diff(clock) >= 0)
    last_offset = expected[-1][1]
    assert clock.min() >= T0_NS and clock.max() <= T0_NS + last_offset + 100_000_000


@pytest.mark.ros
def test_replay_in_process_sqlite3_recorded_qos_topic_filter_and_loops(tmp_path, rclpy_context):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, ReliabilityPolicy

    from geodistill_ros.replay import BagPlayer

    bag = tmp_path / "bag"
    expected = [e for e in write_test_bag(bag, "sqlite3") if e[0] == "/chatter"]
    sub_node = rclpy.create_node("replay_test_sub2", context=rclpy_context)
    col = _Collector(sub_node)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(sub_node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    pub_node = rclpy.create_node("replay_test_player", context=rclpy_context)
    try:
        player = BagPlayer(pub_node, ReplayConfig(bag=bag, rate=4.0, topics=["/chatter"], loops=2, wait_s=20.0))
        info = pub_node.get_publishers_info_by_topic("/chatter")
        assert len(info) == 1
        assert info[0].qos_profile.reliability == ReliabilityPolicy.RELIABLE
        assert info[0].qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
        assert pub_node.get_publishers_info_by_topic("/camera/image_raw") == []  # filtered out
        stats = player.play(progress=False)
        deadline = time.monotonic() + 5.0
        while len(col.got) < 2 * len(expected) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        executor.shutdown()
        spinner.join(timeout=5)
        pub_node.destroy_node()
        sub_node.destroy_node()
    assert stats.loops == 2 and stats.published["/chatter"] == 2 * len(expected)
    assert [p for _, _, p in col.got] == [p for _, _, p in expected] * 2
    _check_playback(col.got[: len(expected)], expected, 4.0)


@pytest.mark.ros
def test_after_publish_hook_pauses_the_schedule(tmp_path, rclpy_context):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from geodistill_ros.replay import BagPlayer

    bag = tmp_path / "bag"
    expected = [e for e in write_test_bag(bag, "mcap") if e[0] == "/chatter"]
    sub_node = rclpy.create_node("replay_test_sub3", context=rclpy_context)
    col = _Collector(sub_node)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(sub_node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    pub_node = rclpy.create_node("replay_test_player3", context=rclpy_context)
    hold_s, rate = 0.3, 4.0

    def hold_after_third(topic, t_ns, raw):
        if bagio.deserialize(raw, "std_msgs/msg/String").data == "message 3":
            time.sleep(hold_s)

    try:
        player = BagPlayer(pub_node, ReplayConfig(bag=bag, rate=rate, topics=["/chatter"], wait_s=20.0))
        player.play(progress=False, after_publish=hold_after_third)
        deadline = time.monotonic() + 5.0
        while len(col.got) < len(expected) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        executor.shutdown()
        spinner.join(timeout=5)
        pub_node.destroy_node()
        sub_node.destroy_node()
    shifted = [(t, off + (int(hold_s * rate * 1e9) if i > 3 else 0), p) for i, (t, off, p) in enumerate(expected)]
    _check_playback(col.got, shifted, rate)
