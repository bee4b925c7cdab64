"""``geodistill demo`` end to end at a reduced size: world + bag built, the node as its own process with the
shipped model, replay over DDS, recording, evaluation, summary.json and the report."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from geodistill_ros import bagio, demo
from geodistill_ros.demo import NAMESPACE, node_command, node_inputs
from tests.conftest import REPO
from tests.geodistill_ros.test_evaluation import write_input_bag

FRAMES = 8

# The reduced demo runs the shipped default model end to end (and must then beat the GPS prior). Until a model
# is shipped in geodistill_ros/models it runs the tiny test model instead (untrained: the pipeline is checked,
# not the accuracy). GEODISTILL_DEMO_TEST_MODEL=DIR tries another model folder.
MODEL = os.environ.get("GEODISTILL_DEMO_TEST_MODEL")
SHIPPED = demo.default_model_dir()


def test_demo_without_a_model_fails_fast_with_what_to_do(tmp_path, caplog):
    caplog.set_level(logging.ERROR)
    t0 = time.monotonic()
    rc = demo.main(["--out", str(tmp_path / "r"), "--cache", str(tmp_path / "c"), "--model", str(tmp_path / "none")])
    assert rc == 1 and time.monotonic() - t0 < 10.0
    assert not (tmp_path / "c").exists(), "nothing is built before the model is checked"
    assert "no usable model" in caplog.text and "--model DIR" in caplog.text and "geodistill export" in caplog.text
    (tmp_path / "empty").mkdir()
    with pytest.raises(demo.DemoError, match="model.json is missing"):
        demo.check_model(tmp_path / "empty")


def test_model_dir_from_the_params_file(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("/**/geodistill_localizer:\n  ros__parameters:\n    model_dir: /m/x\n    backend: auto\n")
    assert demo.params_model_dir(path) == "/m/x"
    assert demo.params_model_dir(REPO / "config" / "localize.yaml") == ""  # "": the shipped model
    assert SHIPPED == REPO / "geodistill_ros" / "models"


def test_node_command_is_the_launch_files_command_with_the_demo_parameters(tmp_path):
    cmd = node_command(tmp_path / "localize.yaml", "/w/tiles", None, (37.5, -122.25), remaps={"image": "/cam"})
    assert cmd[1:4] == ["-m", "geodistill_ros.node", "--ros-args"]
    assert cmd[cmd.index("--params-file") + 1] == str(tmp_path / "localize.yaml")
    params = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-p"]
    assert "tile_source:=/w/tiles" in params and "datum:=[37.5, -122.25]" in params
    assert not any(p.startswith("model_dir:=") for p in params)  # the shipped model: the node's default
    remaps = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-r"]
    assert f"__ns:={NAMESPACE}" in remaps and "image:=/cam" in remaps


def test_node_inputs_follow_the_bag(tmp_path):
    remaps, params = node_inputs(write_input_bag(tmp_path / "pano"), "/camera/image_raw")
    assert remaps == {"image": "/camera/image_raw", "camera_info": "/camera/camera_info", "gps/fix": "/gps/fix",
                      "imu": "/imu/data"}
    assert params == {"image_transport": "raw", "camera_model": "panorama", "heading_source": "imu"}
    # a pinhole camera with JPEG frames and no IMU
    ts = bagio.typestore().types
    info = ts["sensor_msgs/msg/CameraInfo"](
        header=ts["std_msgs/msg/Header"](stamp=bagio.time_msg(1), frame_id="camera_link"), height=4, width=6,
        distortion_model="plumb_bob", d=np.zeros(5), k=np.array([3.0, 0, 3, 0, 3, 2, 0, 0, 1]), r=np.eye(3).ravel(),
        p=np.zeros(12), binning_x=0, binning_y=0,
        roi=ts["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))
    with bagio.open_writer(tmp_path / "pinhole") as writer:
        conn = writer.add_connection("/camera/camera_info", "sensor_msgs/msg/CameraInfo", typestore=bagio.typestore())
        writer.write(conn, 1, bagio.serialize(info))
        writer.add_connection("/front/compressed", "sensor_msgs/msg/CompressedImage", typestore=bagio.typestore())
        writer.add_connection("/gps/fix", "sensor_msgs/msg/NavSatFix", typestore=bagio.typestore())
    remaps, params = node_inputs(tmp_path / "pinhole", "/front/compressed")
    assert remaps == {"image/compressed": "/front/compressed", "camera_info": "/camera/camera_info",
                      "gps/fix": "/gps/fix"}
    assert params == {"image_transport": "compressed", "camera_model": "pinhole", "heading_source": "none"}


@pytest.mark.ros
@pytest.mark.slow
def test_demo_end_to_end_reduced(tmp_path, ros_env, request):
    out = tmp_path / "report"
    cmd = [sys.executable, "-m", "geodistill_ros", "demo", "--out", str(out), "--cache", str(tmp_path / "cache"),
           "--frames", str(FRAMES), "--world-size", "300"]
    shipped = not MODEL and (SHIPPED / "model.json").exists()
    if MODEL:
        cmd += ["--model", MODEL]
    elif not shipped:
        cmd += ["--model", str(request.getfixturevalue("tiny_export")[0])]
    proc = subprocess.run(cmd, cwd=REPO, env=ros_env, capture_output=True, text=True, timeout=280)
    node_log = (out / "node.log").read_text(errors="replace")[-3000:] if (out / "node.log").exists() else ""
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:] + node_log
    assert "report:" in proc.stdout and "GPS prior" in proc.stdout

    summary = json.loads((out / "summary.json").read_text())
    keys = {"mean_m", "median_m", "rmse_m", "recall_1m", "recall_5m", "yaw_median_deg", "in_95_ellipse", "frames",
            "localized"}
    for name in ("ours", "gps_prior"):
        assert keys <= set(summary[name]), summary[name]
        assert summary[name]["frames"] == FRAMES
    assert summary["gps_prior"]["localized"] == FRAMES
    # the node answered (nearly) every frame over DDS, and its poses were recorded and scored
    assert summary["ours"]["localized"] >= FRAMES - 1, summary
    assert summary["ours"]["median_m"] is not None and summary["ours"]["in_95_ellipse"] is not None
    if shipped:  # the shipped model must beat the raw GPS prior, even on a few frames
        assert summary["ours"]["median_m"] < summary["gps_prior"]["median_m"], summary

    page = (out / "report.html").read_text()
    assert "data:image/png;base64," in page
    with bagio.open_reader(out / "poses_bag") as reader:
        counts = {t: s.count for t, s in bagio.topics(reader).items()}
    assert counts["/geodistill/pose"] == summary["ours"]["localized"]
    assert counts["/ground_truth/pose"] >= FRAMES
    with bagio.open_reader(out / "recorded") as reader:
        recorded = bagio.topics(reader)
    assert recorded[f"{NAMESPACE}/pose"].count >= summary["ours"]["localized"]
    assert recorded["/diagnostics"].count >= 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["ours"]["latency_median_ms"] > 0


def test_tilt_and_level_with_imu_options_reach_the_bag_and_the_node(tmp_path, monkeypatch):
    import argparse

    calls = []
    monkeypatch.setattr(demo, "_synth", calls.append)
    world = tmp_path / "world_suburb_s2025_600m"
    level = demo.ensure_bag(demo.DemoConfig(cache=tmp_path), world)
    tilted = demo.ensure_bag(demo.DemoConfig(cache=tmp_path, tilt=True), world)
    assert level != tilted and tilted.name.endswith("_tilt")  # cached apart
    assert "--tilt" not in calls[0] and calls[1][calls[1].index("--out") + 1] == str(tilted) and "--tilt" in calls[1]
    parser = argparse.ArgumentParser()
    demo.add_arguments(parser)
    args = parser.parse_args(["--tilt", "--level-with-imu"])
    assert args.tilt and args.level_with_imu
    seen = {}
    monkeypatch.setattr(demo, "run_demo", lambda cfg: seen.setdefault("cfg", cfg) and (_ for _ in ()).throw(
        demo.DemoError("stop")))
    assert demo.run(args) == 1
    assert seen["cfg"].tilt and seen["cfg"].level_with_imu
