"""``geodistill eval-bag`` on small hand-made bags: recorded and direct modes, exact figures, report, and evo
reading the output bag."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from geodistill_ros import bagio, evaluation, geometry
from geodistill_ros.recorder import arrival_topic

S = 1_000_000_000
T0 = 1_700_000_000 * S
DATUM = (37.7793, -122.4193)
N_FRAMES = 6
SPEED_E = 2.0  # m/s east, yaw 0
# our estimates for frames 0..4 (frame 5 not localized): offsets from the truth, metres
OUR_OFFSETS = np.array([[3.0, 4.0], [0.0, 0.5], [2.0, 0.0], [0.0, -1.0], [0.3, 0.4]])
OUR_ERRORS = np.array([5.0, 0.5, 2.0, 1.0, 0.5])
OUR_YAW_DEG = np.array([2.0, -1.0, 0.0, 4.0, -3.0])
OUR_COV = np.diag([4.0, 1.0])
GPS_OFFSET = np.array([0.0, 6.0])  # every fix 6 m north of the truth
GPS_SIGMA = 2.0  # NEES 9 > 5.99: outside the 95% ellipse
IMU_YAW_DEG = 10.0
LATENCY_S = 0.25


def truth_en(t_s):
    return np.array([SPEED_E * t_s, 0.0])


def frame_ns(i: int) -> int:
    return T0 + i * S + S // 10  # frames at 0.1, 1.1, ... s


def _header(ts, stamp_ns, frame_id):
    return ts["std_msgs/msg/Header"](stamp=bagio.time_msg(stamp_ns), frame_id=frame_id)


def image_array(i: int) -> np.ndarray:
    return ((np.arange(8 * 16 * 3).reshape(8, 16, 3) + 17 * i) % 256).astype(np.uint8)


def write_input_bag(path: Path) -> Path:
    """Truth at 4 Hz, GPS (6 m north) at 1 Hz just before each frame, IMU heading, panorama frames."""
    ts = bagio.typestore().types
    msgs = []
    for k in range(0, 4 * N_FRAMES + 1):
        t = T0 + k * S // 4
        e, n = truth_en(k / 4)
        pose = evaluation.pose_msg(t, e, n, 0.0)
        msgs.append((t, "/ground_truth/pose", "geometry_msgs/msg/PoseWithCovarianceStamped", pose))
    for i in range(N_FRAMES):
        t_fix = frame_ns(i) - S // 20
        e, n = truth_en((t_fix - T0) / S) + GPS_OFFSET
        lat, lon, _ = geometry.enu_to_geodetic(e, n, 0.0, *DATUM)
        cov = np.zeros(9)
        cov[0] = cov[4] = GPS_SIGMA**2
        cov[8] = 25.0
        fix = ts["sensor_msgs/msg/NavSatFix"](
            header=_header(ts, t_fix, "gps_link"), status=ts["sensor_msgs/msg/NavSatStatus"](status=0, service=1),
            latitude=float(lat), longitude=float(lon), altitude=0.0, position_covariance=cov,
            position_covariance_type=2)
        msgs.append((t_fix, "/gps/fix", "sensor_msgs/msg/NavSatFix", fix))
        qx, qy, qz, qw = geometry.quaternion_from_yaw(math.radians(IMU_YAW_DEG))
        ocov = np.zeros(9)
        ocov[8] = math.radians(3.0) ** 2
        quat = ts["geometry_msgs/msg/Quaternion"](x=qx, y=qy, z=qz, w=qw)
        imu = ts["sensor_msgs/msg/Imu"](
            header=_header(ts, t_fix, "imu_link"), orientation=quat,
            orientation_covariance=ocov, angular_velocity=ts["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=0.0),
            angular_velocity_covariance=np.zeros(9), linear_acceleration=ts["geometry_msgs/msg/Vector3"](
                x=0.0, y=0.0, z=0.0), linear_acceleration_covariance=np.zeros(9))
        msgs.append((t_fix, "/imu/data", "sensor_msgs/msg/Imu", imu))
        info = ts["sensor_msgs/msg/CameraInfo"](
            header=_header(ts, frame_ns(i), "camera_link"), height=8, width=16, distortion_model="equirectangular",
            d=np.zeros(0), k=np.zeros(9), r=np.zeros(9), p=np.zeros(12), binning_x=0, binning_y=0,
            roi=ts["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))
        msgs.append((frame_ns(i), "/camera/camera_info", "sensor_msgs/msg/CameraInfo", info))
        img = ts["sensor_msgs/msg/Image"](header=_header(ts, frame_ns(i), "camera_link"), height=8, width=16,
                                          encoding="rgb8", is_bigendian=0, step=48, data=image_array(i).reshape(-1))
        msgs.append((frame_ns(i) + 1, "/camera/image_raw", "sensor_msgs/msg/Image", img))
    msgs.sort(key=lambda m: m[0])
    with bagio.open_writer(path) as writer:
        conns = {}
        for t, topic, msgtype, msg in msgs:
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msgtype, typestore=bagio.typestore())
            writer.write(conns[topic], t, bagio.serialize(msg, msgtype))
    (path / evaluation.WORLD_META).write_text(json.dumps({"origin_lat": DATUM[0], "origin_lon": DATUM[1]}))
    return path


def write_outputs_bag(path: Path) -> Path:
    """What the recorder would write: our poses (+ one duplicate) and the camera arrival times."""
    msgtype = "geometry_msgs/msg/PoseWithCovarianceStamped"
    with bagio.open_writer(path) as writer:
        arr = writer.add_connection(arrival_topic("/camera/image_raw"), "std_msgs/msg/Header",
                                    typestore=bagio.typestore())
        pose_conn = writer.add_connection("/geodistill/pose", msgtype, typestore=bagio.typestore())
        header_cls = bagio.typestore().types["std_msgs/msg/Header"]
        wall0 = 5 * S
        for i in range(N_FRAMES):
            arrival = wall0 + i * S
            writer.write(arr, arrival, bagio.serialize(header_cls(stamp=bagio.time_msg(frame_ns(i)), frame_id=""),
                                                       "std_msgs/msg/Header"))
            if i < len(OUR_OFFSETS):
                e, n = truth_en((frame_ns(i) - T0) / S) + OUR_OFFSETS[i]
                msg = evaluation.pose_msg(frame_ns(i), e, n, math.radians(OUR_YAW_DEG[i]), OUR_COV)
                for dup in range(2 if i == 2 else 1):  # frame 2 published twice: counted once
                    writer.write(pose_conn, arrival + int(LATENCY_S * S) + dup, bagio.serialize(msg, msgtype))
    return path


def check_figures(result: dict):
    ours, gps = result["ours"], result["gps_prior"]
    assert ours["frames"] == N_FRAMES and ours["localized"] == len(OUR_ERRORS)
    assert ours["mean_m"] == pytest.approx(OUR_ERRORS.mean(), abs=1e-6)
    assert ours["median_m"] == pytest.approx(1.0, abs=1e-6)
    assert ours["rmse_m"] == pytest.approx(math.sqrt(np.mean(OUR_ERRORS**2)), abs=1e-6)
    assert (ours["recall_1m"], ours["recall_3m"], ours["recall_5m"]) == pytest.approx((3 / 6, 4 / 6, 5 / 6))
    assert ours["yaw_median_deg"] == pytest.approx(2.0, abs=1e-6)
    assert ours["yaw_mean_deg"] == pytest.approx(np.abs(OUR_YAW_DEG).mean(), abs=1e-6)
    nees = (OUR_OFFSETS[:, 0] ** 2 / 4.0 + OUR_OFFSETS[:, 1] ** 2 / 1.0)
    assert ours["nees_mean"] == pytest.approx(nees.mean(), abs=1e-6)
    assert ours["in_95_ellipse"] == pytest.approx(np.mean(nees <= 5.991464547107979))
    # GPS prior: 6 m north of the truth 50 ms before the frame, truth moving 2 m/s east -> hypot(0.1, 6)
    gps_err = math.hypot(SPEED_E * 0.05, 6.0)
    assert gps["frames"] == N_FRAMES and gps["localized"] == N_FRAMES
    assert gps["mean_m"] == pytest.approx(gps_err, abs=1e-6) and gps["recall_5m"] == 0.0
    assert gps["yaw_median_deg"] == pytest.approx(IMU_YAW_DEG, abs=1e-6)
    assert gps["nees_mean"] == pytest.approx(gps_err**2 / GPS_SIGMA**2, abs=1e-5)
    assert gps["in_95_ellipse"] == 0.0


def test_recorded_mode_exact_figures_report_and_bag(tmp_path):
    bag = write_input_bag(tmp_path / "input")
    outputs = write_outputs_bag(tmp_path / "rec")
    out = tmp_path / "report"
    rc = evaluation.main([str(bag), "--outputs", str(outputs), "--out", str(out)])
    assert rc == 0
    result = json.loads((out / "metrics.json").read_text())
    assert result["mode"] == "recorded"
    check_figures(result)
    assert result["ours"]["latency_median_ms"] == pytest.approx(LATENCY_S * 1e3, abs=1e-3)
    page = (out / "report.html").read_text()
    assert "data:image/png;base64," in page and "GPS prior" in page
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with bagio.open_reader(out / "poses_bag") as reader:
        counts = {t: s.count for t, s in bagio.topics(reader).items()}
    assert counts == {"/geodistill/pose": 5, "/ground_truth/pose": N_FRAMES, "/gps_prior/pose": N_FRAMES}


def test_evo_reads_the_output_bag(tmp_path):
    bag = write_input_bag(tmp_path / "input")
    outputs = write_outputs_bag(tmp_path / "rec")
    sensors = evaluation.read_sensors(bag)
    result = evaluation.evaluate(sensors, evaluation.read_recorded(outputs), tmp_path / "r", plots=False)
    evo_ape = shutil.which("evo_ape") or str(Path(__file__).resolve().parents[2] / ".venv/bin/evo_ape")
    proc = subprocess.run([evo_ape, "bag2", str(tmp_path / "r" / "poses_bag"), "/ground_truth/pose",
                           "/geodistill/pose", "--no_warnings"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={"MPLBACKEND": "Agg", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stats = dict(re.findall(r"^\s*(\w+)\s+([-\d.e+]+)\s*$", proc.stdout, flags=re.M))
    assert float(stats["rmse"]) == pytest.approx(result["ours"]["rmse_m"], abs=1e-4), proc.stdout
    assert float(stats["max"]) == pytest.approx(5.0, abs=1e-4)


class FakeLocalizer:
    """Stands in for the Localizer: records its inputs, answers truth + the known offsets."""

    def __init__(self):
        self.calls = []

    def localize(self, image, camera, gps_prior, yaw_prior, attitude=None):
        i = len(self.calls)
        self.calls.append(SimpleNamespace(image=image, camera=camera, prior=gps_prior, yaw=yaw_prior,
                                          attitude=attitude))
        if i >= len(OUR_OFFSETS):
            from geodistill_ros.localizer import CoverageError

            raise CoverageError("no imagery")
        e, n = truth_en((frame_ns(i) - T0) / S) + OUR_OFFSETS[i]
        cov = np.zeros((3, 3))
        cov[:2, :2] = OUR_COV
        cov[2, 2] = 0.01
        return SimpleNamespace(x_m=e, y_m=n, yaw_rad=math.radians(OUR_YAW_DEG[i]), covariance=cov)


def test_direct_mode_feeds_the_localizer_and_scores_it(tmp_path):
    from geodistill_ros.camera import PanoramaCamera

    bag = write_input_bag(tmp_path / "input")
    sensors = evaluation.read_sensors(bag)
    fake = FakeLocalizer()
    ours, failures = evaluation.run_localizer(bag, fake, sensors, progress=False)
    assert failures == {"CoverageError": 1}
    assert len(fake.calls) == N_FRAMES
    for i, call in enumerate(fake.calls):
        np.testing.assert_array_equal(call.image, image_array(i))
        assert call.camera == PanoramaCamera(16, 8)
        e, n, _ = geometry.geodetic_to_enu(call.prior.lat_deg, call.prior.lon_deg, 0.0, *DATUM)
        np.testing.assert_allclose([e, n], truth_en(i + 0.05) + GPS_OFFSET, atol=1e-6)
        np.testing.assert_allclose(call.prior.cov_en_m2, np.eye(2) * GPS_SIGMA**2)
        assert call.yaw.yaw_rad == pytest.approx(math.radians(IMU_YAW_DEG))
        assert call.yaw.variance_rad2 == pytest.approx(math.radians(3.0) ** 2)
        assert call.attitude is None  # levelling is opt-in
    assert np.all(ours.latency_s >= 0)
    levelled = FakeLocalizer()
    evaluation.run_localizer(bag, levelled, sensors, progress=False, level_with_imu=True)
    for call in levelled.calls:  # the bag's IMU is level (a pure-yaw orientation)
        assert (call.attitude.roll_rad, call.attitude.pitch_rad) == pytest.approx((0.0, 0.0), abs=1e-12)
    result = evaluation.evaluate(sensors, ours, tmp_path / "r", plots=False)
    check_figures(result)


def test_missing_datum_or_ground_truth_is_a_clear_error(tmp_path):
    bag = tmp_path / "bag"
    with bagio.open_writer(bag) as writer:
        writer.add_connection("/gps/fix", "sensor_msgs/msg/NavSatFix", typestore=bagio.typestore())
    with pytest.raises(evaluation.EvaluationError, match="datum"):
        evaluation.read_sensors(bag)
    with pytest.raises(evaluation.EvaluationError, match="ground_truth"):
        evaluation.read_sensors(write_input_bag_without_truth(tmp_path / "nt"))


def write_input_bag_without_truth(path: Path) -> Path:
    full = write_input_bag(path.with_name(path.name + "_full"))
    with bagio.open_reader(full) as reader, bagio.open_writer(path) as writer:
        conns = {}
        for topic, msgtype, t, raw in bagio.iter_messages(reader):
            if topic == "/ground_truth/pose":
                continue
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msgtype, typestore=bagio.typestore())
            writer.write(conns[topic], t, raw)
    shutil.copy(full / evaluation.WORLD_META, path / evaluation.WORLD_META)
    return path
