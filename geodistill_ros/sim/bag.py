"""Write a synthetic drive as a rosbag2 (format version 8, MCAP or sqlite3) with the project's topics and frames.

Topics (docs/ARCHITECTURE.md): ``/camera/image_raw`` (rgb8) or ``/camera/image_raw/compressed`` (jpeg),
``/camera/camera_info``, ``/gps/fix``, ``/imu/data`` (absolute ENU yaw: the heading source), ``/odom``
(odom -> base_link, drifting, starting at the origin) and ``/ground_truth/pose`` (map frame).
Panoramas are robot-mounted: forward at the centre column. ``geodistill_world.json`` inside the bag folder names
the world folder and the datum.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from .. import bagio
from .. import geometry as geo
from .config import SimError, pinhole_focal_px
from .fsutil import atomic_dir
from .render import tilt_to_rep103
from .trajectory import SensorConfig, make_trajectory
from .world import World

T0_NS = 1_700_000_000 * 1_000_000_000
WORLD_JSON = "geodistill_world.json"


@dataclass
class BagConfig:
    frames: int = 100
    camera: str = "panorama"  # panorama | pinhole
    pano_height: int = 512
    pano_width: int = 1024
    pinhole_width: int = 640
    pinhole_height: int = 480
    pinhole_hfov_deg: float = 90.0
    camera_height_m: float = 2.0
    compressed: bool = False
    jpeg_quality: int = 90
    storage: str = "mcap"
    seed: int = 0
    # the world gap's vehicle tilt per frame (roll / pitch up to GapConfig.max_tilt_deg; panoramas only). The IMU
    # orientation then carries the REP-103 roll / pitch with imu_tilt_sigma_deg of noise (for level_with_imu)
    tilt: bool = False
    imu_tilt_sigma_deg: float = 0.1


def _types():
    return bagio.typestore().types


def _header(stamp_ns, frame):
    T = _types()
    return T["std_msgs/msg/Header"](stamp=bagio.time_msg(stamp_ns), frame_id=frame)


def _quat(yaw, roll=0.0, pitch=0.0):
    T = _types()
    x, y, z, w = geo.quaternion_from_rpy(float(roll), float(pitch), float(yaw))
    return T["geometry_msgs/msg/Quaternion"](x=x, y=y, z=z, w=w)


def _pose(x, y, yaw):
    T = _types()
    return T["geometry_msgs/msg/Pose"](position=T["geometry_msgs/msg/Point"](x=float(x), y=float(y), z=0.0),
                                       orientation=_quat(yaw))


def camera_info(stamp_ns, cfg: BagConfig):
    T = _types()
    roi = T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    if cfg.camera == "panorama":
        return T["sensor_msgs/msg/CameraInfo"](
            header=_header(stamp_ns, "camera_link"), height=cfg.pano_height, width=cfg.pano_width,
            distortion_model="equirectangular", d=np.zeros(0), k=np.zeros(9), r=np.eye(3).ravel(), p=np.zeros(12),
            binning_x=0, binning_y=0, roi=roi)
    f = pinhole_focal_px(cfg.pinhole_width, cfg.pinhole_hfov_deg)
    cx, cy = cfg.pinhole_width / 2.0, cfg.pinhole_height / 2.0
    k = np.array([f, 0, cx, 0, f, cy, 0, 0, 1.0])
    p = np.array([f, 0, cx, 0, 0, f, cy, 0, 0, 0, 1.0, 0])
    return T["sensor_msgs/msg/CameraInfo"](
        header=_header(stamp_ns, "camera_link"), height=cfg.pinhole_height, width=cfg.pinhole_width,
        distortion_model="plumb_bob", d=np.zeros(5), k=k, r=np.eye(3).ravel(), p=p, binning_x=0, binning_y=0,
        roi=roi)


def write_bag(world: World, out_path, cfg: BagConfig, sensors: SensorConfig | None = None,
              overwrite: bool = False, progress: bool = True, world_dir=None) -> dict:
    """Render ``cfg.frames`` frames along a road trajectory and write the bag; returns a summary."""
    if cfg.camera not in ("panorama", "pinhole"):
        raise SimError(f"unknown camera {cfg.camera!r}; choose panorama or pinhole")
    if cfg.frames <= 0:
        raise SimError(f"--frames must be > 0, got {cfg.frames}")
    if cfg.storage not in bagio.STORAGES:
        raise SimError(f"unknown storage {cfg.storage!r}; choose one of {', '.join(bagio.STORAGES)}")
    out = Path(out_path)
    if out.exists() and not overwrite:
        raise SimError(f"{out} already exists; pass --overwrite to replace it")
    sensors = sensors or SensorConfig()
    if cfg.tilt and cfg.camera != "panorama":
        raise SimError("a tilted camera is rendered for panoramas only (--tilt needs --camera panorama)")
    traj = make_trajectory(world, cfg.frames, sensors, seed=cfg.seed)
    tilt_rng = np.random.default_rng([cfg.seed, 29])  # its own stream: the trajectory does not depend on it
    tilts = [world.gap.draw_attitude(tilt_rng)[:2] if cfg.tilt else (0.0, 0.0) for _ in traj.t]
    T = _types()
    counts: dict[str, int] = {}
    try:
        with atomic_dir(out, "the bag", nested=True) as tmp:  # nested: the storage file is named after the bag
            with bagio.open_writer(tmp, storage=cfg.storage) as writer:
                img_topic = "/camera/image_raw/compressed" if cfg.compressed else "/camera/image_raw"
                img_type = "sensor_msgs/msg/CompressedImage" if cfg.compressed else "sensor_msgs/msg/Image"
                conns = {}
                for topic, mt in ((img_topic, img_type), ("/camera/camera_info", "sensor_msgs/msg/CameraInfo"),
                                  ("/gps/fix", "sensor_msgs/msg/NavSatFix"), ("/imu/data", "sensor_msgs/msg/Imu"),
                                  ("/odom", "nav_msgs/msg/Odometry"),
                                  ("/ground_truth/pose", "geometry_msgs/msg/PoseWithCovarianceStamped")):
                    conns[topic] = writer.add_connection(topic, mt, typestore=bagio.typestore())
                    counts[topic] = 0

                def put(topic, stamp, msg):
                    writer.write(conns[topic], stamp, bagio.serialize(msg))
                    counts[topic] += 1

                events = [(int(round(tt * 1e9)), 0, i) for i, tt in enumerate(traj.t)]
                events += [(int(round(tt * 1e9)), 1, i) for i, tt in enumerate(traj.gps_t)]
                events.sort()
                f = pinhole_focal_px(cfg.pinhole_width, cfg.pinhole_hfov_deg)
                hs = math.radians(sensors.heading_sigma_deg)
                cov6 = np.diag([0.01, 0.01, 1e-4, 1e-4, 1e-4, 1e-4]).ravel()
                for rel_ns, kind, i in tqdm(events, desc="bag", unit="msg", disable=not progress):
                    stamp = T0_NS + rel_ns
                    if kind == 1:
                        lat, lon = world.enu_to_latlon(traj.gps_east[i], traj.gps_north[i])
                        ok = traj.gps_status[i] >= 0
                        s2 = float(traj.gps_sigma[i]) ** 2
                        put("/gps/fix", stamp, T["sensor_msgs/msg/NavSatFix"](
                            header=_header(stamp, "gps_link"),
                            status=T["sensor_msgs/msg/NavSatStatus"](status=0 if ok else -1, service=1),
                            latitude=float(lat) if ok else float("nan"), longitude=float(lon) if ok else float("nan"),
                            altitude=0.0 if ok else float("nan"),
                            position_covariance=np.array([s2, 0, 0, 0, s2, 0, 0, 0, 4 * s2]) if ok else np.zeros(9),
                            position_covariance_type=2 if ok else 0))
                        continue
                    e, n, yaw = traj.east[i], traj.north[i], traj.yaw[i]
                    if cfg.camera == "panorama":
                        img = world.render_panorama(e, n, yaw, cfg.pano_height, cfg.pano_width, cfg.camera_height_m,
                                                    roll_rad=tilts[i][0], pitch_rad=tilts[i][1])
                    else:
                        img = world.render_pinhole(e, n, yaw, cfg.pinhole_width, cfg.pinhole_height, f, f,
                                                   cfg.pinhole_width / 2.0, cfg.pinhole_height / 2.0,
                                                   cfg.camera_height_m)
                    if cfg.compressed:
                        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                                               [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality])
                        put(img_topic, stamp, T["sensor_msgs/msg/CompressedImage"](
                            header=_header(stamp, "camera_link"), format="rgb8; jpeg compressed bgr8",
                            data=np.frombuffer(buf.tobytes(), np.uint8)))
                    else:
                        put(img_topic, stamp, T["sensor_msgs/msg/Image"](
                            header=_header(stamp, "camera_link"), height=img.shape[0], width=img.shape[1],
                            encoding="rgb8", is_bigendian=0, step=img.shape[1] * 3, data=img.reshape(-1)))
                    put("/camera/camera_info", stamp, camera_info(stamp, cfg))
                    vec = T["geometry_msgs/msg/Vector3"]
                    roll = pitch = 0.0
                    tilt_var = 1e-3
                    if cfg.tilt:  # the camera's REP-103 attitude as the IMU measures it
                        tilt_var = math.radians(cfg.imu_tilt_sigma_deg) ** 2
                        noise = tilt_rng.normal(0.0, math.sqrt(tilt_var), 2)
                        roll, pitch = (a + b for a, b in zip(tilt_to_rep103(*tilts[i]), noise))
                    put("/imu/data", stamp, T["sensor_msgs/msg/Imu"](
                        header=_header(stamp, "imu_link"), orientation=_quat(traj.heading_meas[i], roll, pitch),
                        orientation_covariance=np.diag([tilt_var, tilt_var, hs * hs]).ravel(),
                        angular_velocity=vec(x=0.0, y=0.0, z=float(traj.yaw_rate[i])),
                        angular_velocity_covariance=np.diag([1e-4] * 3).ravel(),
                        linear_acceleration=vec(x=0.0, y=0.0, z=9.81),
                        linear_acceleration_covariance=np.diag([1e-2] * 3).ravel()))
                    twist = T["geometry_msgs/msg/Twist"](linear=vec(x=float(traj.speed[i]), y=0.0, z=0.0),
                                                         angular=vec(x=0.0, y=0.0, z=float(traj.yaw_rate[i])))
                    put("/odom", stamp, T["nav_msgs/msg/Odometry"](
                        header=_header(stamp, "odom"), child_frame_id="base_link",
                        pose=T["geometry_msgs/msg/PoseWithCovariance"](
                            pose=_pose(traj.odom_x[i], traj.odom_y[i], traj.odom_yaw[i]), covariance=cov6),
                        twist=T["geometry_msgs/msg/TwistWithCovariance"](twist=twist, covariance=cov6)))
                    put("/ground_truth/pose", stamp, T["geometry_msgs/msg/PoseWithCovarianceStamped"](
                        header=_header(stamp, "map"), pose=T["geometry_msgs/msg/PoseWithCovariance"](
                            pose=_pose(e, n, yaw), covariance=np.zeros(36))))
            wd = world_dir if world_dir is not None else getattr(world, "path", None)
            info = dict(world_dir=str(Path(wd).resolve()) if wd else None, origin_lat=world.origin_lat,
                        origin_lon=world.origin_lon, origin_alt=0.0, frame="map (ENU about the origin)",
                        seed=world.seed, style=world.style, size_m=world.size_m, gap=world.meta["gap"],
                        camera=cfg.camera, camera_height_m=cfg.camera_height_m, bag=asdict(cfg),
                        sensors=asdict(sensors), t0_ns=T0_NS)
            (tmp / WORLD_JSON).write_text(json.dumps(info, indent=2))
    except bagio.BagError as exc:
        raise SimError(str(exc)) from None
    return dict(bag=str(out), frames=cfg.frames, messages=counts, duration_s=float(traj.t[-1]),
                path_length_m=float(np.sum(np.hypot(np.diff(traj.east), np.diff(traj.north)))), trajectory=traj)
