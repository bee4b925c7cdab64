"""The node as its own process (started the way localize.launch.py starts it: the package's params file plus the
launch file's remaps), fed a synthetic bag's images, camera info, fixes and IMU over DDS from this process.

Asserts poses for >= 90% of the frames, ``map`` frame id, the image's stamp, an SPD covariance; with the exported
default model also the error against the bag's ground truth, and it prints image-in -> pose-out latency over
DDS (p50 / p99).  A tiny untrained model exported on the fly (torch) checks the same plumbing end to end (real
ONNX Runtime, real MBTiles tiles, real DDS) where the default model is not there yet; its accuracy is not judged.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from geodistill_ros.node_bench import latency_figures, node_status
from tests.conftest import REPO
from tests.geodistill_ros.test_localizer_model import MODEL_JSON, build_sim_world, error_bound_m, needs_model
from tests.launch.test_launch_files import _launch_remap_args

pytestmark = [pytest.mark.ros, pytest.mark.slow]
FEED_RATE = float(os.environ.get("GEODISTILL_BAG_RATE", "1.0"))  # bag playback speed factor


def run_node_on_bag(tmp_path: Path, ros_env: dict, context, model_dir: Path | None, frames: int,
                    pano_hw=(512, 1024)) -> dict:
    """Write a world + bag, start the node process, play the bag into it; returns what came back."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import PoseWithCovarianceStamped
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

    from geodistill_ros import bagio
    from geodistill_ros.ros_conversions import stamp_to_ns
    from geodistill_ros.sim.bag import BagConfig, write_bag
    from geodistill_ros.sim.trajectory import SensorConfig

    world, world_dir, meta = build_sim_world(tmp_path)
    bag = tmp_path / "bag"
    write_bag(world, bag, BagConfig(frames=frames, pano_height=pano_hw[0], pano_width=pano_hw[1]),
              SensorConfig(gps_dropout_per_min=0.0), progress=False, world_dir=world_dir)
    args = ["-p", f"tile_source:={world_dir / meta['mbtiles']}", "-p", f"datum:=[{meta['origin_lat']}, "
            f"{meta['origin_lon']}]", "-p", "heading_source:=imu", "-p", "processing_rate_hz:=0.0",
            "-p", "backend:=onnxruntime"]
    if model_dir is not None:
        args += ["-p", f"model_dir:={model_dir}"]
    cmd = [sys.executable, "-m", "geodistill_ros.node", "--ros-args", "--params-file",
           str(REPO / "config" / "localize.yaml"), *args, *_launch_remap_args()]
    proc = subprocess.Popen(cmd, env=ros_env, cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    node = rclpy.create_node("bag_feeder", context=context)
    poses, diags, received_at = [], [], {}

    def on_pose(msg):
        received_at[stamp_to_ns(msg.header.stamp)] = time.monotonic()
        poses.append(msg)

    node.create_subscription(PoseWithCovarianceStamped, "/pose", on_pose, QoSProfile(
        depth=100, reliability=ReliabilityPolicy.RELIABLE))
    node.create_subscription(DiagnosticArray, "/diagnostics", diags.append, 100)
    pubs, truth, published_at, image_stamps = {}, {}, {}, []
    with bagio.open_reader(bag) as reader:
        messages = list(bagio.iter_messages(reader))
    for topic, msgtype, _, raw in messages:
        if topic == "/ground_truth/pose":
            m = bagio.deserialize(raw, msgtype)
            truth[bagio.stamp_to_ns(m.header.stamp)] = (m.pose.pose.position.x, m.pose.pose.position.y)
        elif topic not in pubs:
            pubs[topic] = node.create_publisher(bagio.message_class(msgtype), topic, qos_profile_sensor_data)
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()

    def wait(cond, timeout_s):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and proc.poll() is None:
            if cond():
                return True
            time.sleep(0.02)
        return cond()

    def backend_loaded():
        return any((node_status(d) or {}).get("backend", "not loaded") != "not loaded" for d in list(diags))

    try:
        needed = ["/camera/image_raw", "/camera/camera_info", "/gps/fix", "/imu/data"]
        assert wait(lambda: all(pubs[t].get_subscription_count() > 0 for t in needed)
                    and node.count_publishers("/pose") > 0, 60.0), "the node's subscriptions did not match"
        assert wait(backend_loaded, 180.0), f"the model did not load: {diags[-1].status[0].message if diags else ''}"
        t_start, bag_start = time.monotonic(), messages[0][2]
        for topic, _, log_ns, raw in messages:
            if topic not in pubs:
                continue
            delay = t_start + (log_ns - bag_start) * 1e-9 / FEED_RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pubs[topic].publish(bytes(raw))
            if topic == "/camera/image_raw":
                stamp = bagio.header_stamp_ns(raw)
                published_at[stamp] = time.monotonic()
                image_stamps.append(stamp)
        wait(lambda: len(poses) >= len(image_stamps), 30.0)
    finally:
        executor.shutdown(timeout_sec=5.0)
        spinner.join(timeout=5.0)  # the spin thread must be gone before its node's handles are destroyed
        node.destroy_node()
        if proc.poll() is None:
            proc.terminate()
        try:
            out = proc.communicate(timeout=20)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            proc.kill()
            out = proc.communicate()[0].decode(errors="replace")
    latencies = [1e3 * (received_at[s] - published_at[s]) for s in received_at if s in published_at]
    return {"poses": poses, "truth": truth, "image_stamps": image_stamps, "latencies_ms": latencies,
            "log": out, "diags": diags}


def check_common(result: dict) -> list[float]:
    from geodistill_ros.ros_conversions import stamp_to_ns

    poses, stamps = result["poses"], set(result["image_stamps"])
    answered = {stamp_to_ns(p.header.stamp) for p in poses}
    assert len(answered & stamps) >= 0.9 * len(stamps), (
        f"poses for {len(answered & stamps)} of {len(stamps)} frames; log:\n{result['log'][-3000:]}")
    errors = []
    for p in poses:
        s = stamp_to_ns(p.header.stamp)
        assert p.header.frame_id == "map" and s in stamps
        cov = np.asarray(p.pose.covariance, dtype=np.float64).reshape(6, 6)
        assert np.all(np.isfinite(cov)) and np.allclose(cov, cov.T) and np.all(np.linalg.eigvalsh(cov) > 0)
        tx, ty = result["truth"][s]
        errors.append(math.hypot(p.pose.pose.position.x - tx, p.pose.pose.position.y - ty))
    assert "Traceback" not in result["log"], result["log"][-3000:]
    return errors


def report_latency(result: dict, label: str, out_dir: Path) -> dict:
    figures = {"model": label, "frames": len(result["image_stamps"]), "poses": len(result["poses"]),
               **latency_figures(np.asarray(result["latencies_ms"]) / 1e3)}
    print(json.dumps(figures))
    (out_dir / "latency.json").write_text(json.dumps(figures, indent=2))
    return figures


def test_node_process_plumbing_with_a_tiny_exported_model(tmp_path, rclpy_context, ros_env, tiny_export):
    model_dir = tiny_export[0]
    result = run_node_on_bag(tmp_path, ros_env, rclpy_context, model_dir, frames=20, pano_hw=(256, 512))
    errors = check_common(result)
    assert max(errors) < 200.0  # untrained: only that the pose lies in the world around the prior
    report_latency(result, "tiny (untrained)", tmp_path)


@needs_model
def test_node_process_with_the_default_model(tmp_path, rclpy_context, ros_env):
    assert MODEL_JSON.is_file()
    result = run_node_on_bag(tmp_path, ros_env, rclpy_context, None, frames=40)
    errors = check_common(result)
    bound, why = error_bound_m([5.0])  # the bag's GPS sigma, when the model has no figures
    assert float(np.median(errors)) <= bound, f"median error {np.median(errors):.2f} m > {bound:.2f} ({why})"
    report_latency(result, "default", tmp_path)
