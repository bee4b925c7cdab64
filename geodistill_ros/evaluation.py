"""``geodistill eval-bag BAG``: score the localizer on a rosbag2 against its ground truth, next to the GPS prior.

Two modes:

- **direct** (default): run :class:`geodistill_ros.localizer.Localizer` over the bag's frames without ROS
  (images, camera_info, GPS and IMU read with ``rosbags``, converted to numpy; each frame uses the latest
  fix / heading received before it, as the node does);
- **recorded** (``--outputs REC_BAG``): score the poses a running node published (recorded with
  :mod:`geodistill_ros.recorder`), latency from the recorded arrival time of each frame.

Ground truth (``/ground_truth/pose``) is interpolated at each estimate's stamp. The GPS prior is scored at
every frame (the latest fix before it, the IMU heading as its yaw). Writes to ``--out``:
``metrics.json`` (figures of ``ours`` and ``gps_prior``, see :mod:`geodistill_ros.metrics`), ``report.html``
(+ ``report.png``: trajectory over the satellite map, error over time, error CDF) and ``poses_bag/`` (MCAP:
``/geodistill/pose``, ``/ground_truth/pose``, ``/gps_prior/pose``) that ``evo_ape bag2 poses_bag
/ground_truth/pose /geodistill/pose`` reads.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geodistill_ros import bagio, geometry, metrics
from geodistill_ros.camera import camera_from_info
from geodistill_ros.navsat import has_fix, navsat_cov_en

LOG = logging.getLogger("geodistill.eval")

TRUTH_TOPIC = "/ground_truth/pose"
GPS_TOPIC = "/gps/fix"
IMU_TOPIC = "/imu/data"
CAMERA_INFO_TOPIC = "/camera/camera_info"
CAMERA_TOPICS = ("/camera/image_raw", "/camera/image_raw/compressed")
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
POSE_TYPES = ("geometry_msgs/msg/PoseWithCovarianceStamped", "geometry_msgs/msg/PoseStamped",
              "nav_msgs/msg/Odometry")
OUR_TOPIC = "/geodistill/pose"
GPS_PRIOR_TOPIC = "/gps_prior/pose"
WORLD_META = "geodistill_world.json"


class EvaluationError(ValueError):
    """The bag (or recorded outputs) cannot be scored: missing topics, no ground truth, no datum."""


# --- containers ------------------------------------------------------------------------------------------
@dataclass
class Track:
    """A time series of planar poses: ``stamp_ns [N]``, ``en [N, 2]`` (ENU m), ``yaw [N]`` (rad),
    ``cov [N, 2, 2]`` (m^2, NaN when unknown), ``latency_s [N]`` (NaN when unknown)."""

    stamp_ns: np.ndarray
    en: np.ndarray
    yaw: np.ndarray
    cov: np.ndarray
    latency_s: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        n = len(self.stamp_ns)
        self.stamp_ns = np.asarray(self.stamp_ns, np.int64).reshape(n)
        self.en = np.asarray(self.en, np.float64).reshape(n, 2)
        self.yaw = np.asarray(self.yaw, np.float64).reshape(n)
        self.cov = np.asarray(self.cov, np.float64).reshape(n, 2, 2)
        lat = np.asarray(self.latency_s, np.float64)
        self.latency_s = lat.reshape(n) if lat.size == n else np.full(n, np.nan)

    def __len__(self) -> int:
        return len(self.stamp_ns)

    def take(self, idx) -> Track:
        """The rows selected by ``idx`` (a boolean mask or integer indices), in that order."""
        return Track(self.stamp_ns[idx], self.en[idx], self.yaw[idx], self.cov[idx], self.latency_s[idx])

    @classmethod
    def from_rows(cls, rows: list[tuple]) -> Track:
        """``rows``: ``(stamp_ns, east, north, yaw, cov2x2, latency_s)`` tuples (sorted by stamp here)."""
        rows = sorted(rows, key=lambda r: r[0])
        if not rows:
            return cls(np.zeros(0, np.int64), np.zeros((0, 2)), np.zeros(0), np.zeros((0, 2, 2)), np.zeros(0))
        return cls(np.array([r[0] for r in rows]), np.array([[r[1], r[2]] for r in rows]),
                   np.array([r[3] for r in rows]), np.array([r[4] for r in rows]), np.array([r[5] for r in rows]))


@dataclass
class BagSensors:
    """Everything but the images: frame stamps, ground truth, the GPS prior per frame, the datum."""

    frames_ns: np.ndarray  # camera header stamps, sorted
    truth: Track
    gps: Track  # the GPS prior at each frame (latest fix before it; yaw = latest IMU heading)
    datum: tuple[float, float]
    camera_topic: str
    world_dir: Path | None = None


# --- message conversions (rosbags objects; field names as in rclpy) -----------------------------------
def pose_from_msg(msg, msgtype: str) -> tuple[int, float, float, float, np.ndarray]:
    """``(stamp_ns, east, north, yaw, cov2x2)`` of a pose message (PoseWithCovarianceStamped, PoseStamped,
    Odometry); covariance NaN when the message has none or it is all zeros."""
    msgtype = bagio.normalize_msgtype(msgtype)
    if msgtype not in POSE_TYPES:
        raise EvaluationError(f"cannot read a pose from {msgtype}; expected one of {POSE_TYPES}")
    stamp = bagio.stamp_to_ns(msg.header.stamp)
    if msgtype == "geometry_msgs/msg/PoseStamped":
        pose, cov6 = msg.pose, None
    else:
        pose, cov6 = msg.pose.pose, np.asarray(msg.pose.covariance, np.float64).reshape(6, 6)
    q = pose.orientation
    yaw = geometry.yaw_from_quaternion(q.x, q.y, q.z, q.w)
    cov = np.full((2, 2), np.nan) if cov6 is None or not np.any(cov6[:2, :2]) else cov6[:2, :2].copy()
    return stamp, float(pose.position.x), float(pose.position.y), yaw, cov


def imu_yaw(msg) -> tuple[float, float | None]:
    """ENU yaw (rad) of an Imu orientation and its variance (None when unknown)."""
    q = msg.orientation
    var = float(np.asarray(msg.orientation_covariance, np.float64).reshape(9)[8])
    return geometry.yaw_from_quaternion(q.x, q.y, q.z, q.w), (var if var > 0 and math.isfinite(var) else None)


def image_from_msg(msg) -> np.ndarray:
    """RGB uint8 ``[H, W, 3]`` from an Image or CompressedImage (rosbags-image does the decoding)."""
    from rosbags.image import message_to_cvimage

    return np.ascontiguousarray(message_to_cvimage(msg, "rgb8"))


# --- the bag --------------------------------------------------------------------------------------------
def find_camera_topic(info: dict[str, bagio.TopicSummary], wanted: str | None = None) -> str:
    if wanted:
        if wanted not in info:
            raise EvaluationError(f"camera topic {wanted} not in bag (topics: {sorted(info)})")
        return wanted
    for topic in CAMERA_TOPICS:
        if topic in info:
            return topic
    images = sorted(t for t, s in info.items() if s.msgtype in IMAGE_TYPES)
    if not images:
        raise EvaluationError(f"no camera topic in bag (topics: {sorted(info)})")
    return images[0]


def bag_folder(bag: Path) -> Path:
    return bag if bag.is_dir() else bag.parent


def world_dir_of(bag: Path) -> Path | None:
    """The world folder the bag's ``geodistill_world.json`` names (None when absent)."""
    meta_path = bag_folder(bag) / WORLD_META
    if not meta_path.exists():
        return None
    meta = json.loads(meta_path.read_text())
    for key in ("world_dir", "world", "world_path"):
        if isinstance(meta.get(key), str):
            path = Path(meta[key])
            return path if path.is_absolute() else (meta_path.parent / path).resolve()
    return None


def datum_of(bag: Path, override: tuple[float, float] | None = None) -> tuple[float, float]:
    """The map frame's datum: ``override``, else the bag's world metadata (or the world's ``world.json``)."""
    if override is not None:
        return float(override[0]), float(override[1])
    meta_path = bag_folder(bag) / WORLD_META
    candidates = [meta_path]
    world = world_dir_of(bag)
    if world is not None:
        candidates.append(world / "world.json")
    for path in candidates:
        if path.exists():
            meta = json.loads(path.read_text())
            for lat_key, lon_key in (("origin_lat", "origin_lon"), ("datum_lat", "datum_lon")):
                if lat_key in meta and lon_key in meta:
                    return float(meta[lat_key]), float(meta[lon_key])
            if isinstance(meta.get("datum"), (list, tuple)) and len(meta["datum"]) >= 2:
                return float(meta["datum"][0]), float(meta["datum"][1])
    raise EvaluationError(f"no datum for {bag}: give --datum LAT LON (no {WORLD_META} with an origin)")


def read_sensors(bag: Path, datum: tuple[float, float] | None = None, camera_topic: str | None = None,
                 max_frames: int | None = None) -> BagSensors:
    """Frame stamps, ground truth and the GPS prior at each frame (no images decoded)."""
    datum = datum_of(bag, datum)
    with bagio.open_reader(bag) as reader:
        info = bagio.topics(reader)
        cam = find_camera_topic(info, camera_topic)
        for needed in (TRUTH_TOPIC, GPS_TOPIC):
            if needed not in info:
                raise EvaluationError(f"{needed} not in bag {bag} (topics: {sorted(info)})")
        frames, truth, fixes, yaws = [], [], [], []
        wanted = [cam, TRUTH_TOPIC, GPS_TOPIC] + ([IMU_TOPIC] if IMU_TOPIC in info else [])
        for topic, msgtype, _t, raw in bagio.iter_messages(reader, wanted):
            if topic == cam:
                frames.append(bagio.header_stamp_ns(raw))
                continue
            msg = bagio.deserialize(raw, msgtype)
            stamp = bagio.stamp_to_ns(msg.header.stamp)
            if topic == TRUTH_TOPIC:
                truth.append((*pose_from_msg(msg, msgtype), np.nan))
            elif topic == GPS_TOPIC:
                if has_fix(msg):
                    e, n, _ = geometry.geodetic_to_enu(msg.latitude, msg.longitude, 0.0, *datum)
                    fixes.append((stamp, float(e), float(n), navsat_cov_en(msg)))
            else:
                yaws.append((stamp, imu_yaw(msg)[0]))
    if not frames:
        raise EvaluationError(f"no frames on {cam}")
    if not truth:
        raise EvaluationError(f"no ground truth on {TRUTH_TOPIC}")
    if not fixes:
        raise EvaluationError(f"no valid GPS fix on {GPS_TOPIC}")
    frames_ns = np.sort(np.asarray(frames, np.int64))
    if max_frames:
        frames_ns = frames_ns[:max_frames]
    fixes.sort(key=lambda f: f[0])
    fix_idx = metrics.latest_before(frames_ns, [f[0] for f in fixes])
    if yaws:
        yaws.sort(key=lambda y: y[0])
        yaw_prior = np.array([y[1] for y in yaws])[metrics.latest_before(frames_ns, [y[0] for y in yaws])]
    else:
        yaw_prior = np.full(len(frames_ns), np.nan)
    gps = Track(frames_ns, np.array([[fixes[i][1], fixes[i][2]] for i in fix_idx]), yaw_prior,
                np.array([fixes[i][3] for i in fix_idx]))
    return BagSensors(frames_ns=frames_ns, truth=Track.from_rows(truth), gps=gps, datum=datum, camera_topic=cam,
                      world_dir=world_dir_of(bag))


# --- our estimates: direct -------------------------------------------------------------------------------
def frames_with_sensors(reader, camera_topic: str):
    """Yield ``(msgtype, raw, last)`` per camera frame in recorded order. ``last`` holds the latest ``info``
    (CameraInfo), ``fix`` (a valid NavSatFix) and ``imu`` message recorded before the frame or at the same instant,
    None until one arrives: what the node has when the frame comes in. ``last`` is the same dict each time."""
    info = bagio.topics(reader)
    wanted = [camera_topic] + [t for t in (CAMERA_INFO_TOPIC, GPS_TOPIC, IMU_TOPIC) if t in info]
    last = {"info": None, "fix": None, "imu": None}
    # a frame comes after the fix / heading / camera_info recorded at the same instant (the node has them)
    for topic, msgtype, _t, raw in bagio.order_equal_times(bagio.iter_messages(reader, wanted), [camera_topic]):
        if topic == CAMERA_INFO_TOPIC:
            last["info"] = bagio.deserialize(raw, msgtype)
        elif topic == GPS_TOPIC:
            fix = bagio.deserialize(raw, msgtype)
            if has_fix(fix):
                last["fix"] = fix
        elif topic == IMU_TOPIC:
            last["imu"] = bagio.deserialize(raw, msgtype)
        else:
            yield msgtype, raw, last


def run_localizer(bag: Path, localizer, sensors: BagSensors, max_frames: int | None = None,
                  progress: bool = True, level_with_imu: bool = False) -> tuple[Track, dict]:
    """Run ``localizer`` (a :class:`~geodistill_ros.localizer.Localizer`) over every frame of the bag.
    ``level_with_imu``: level each image by the IMU's roll and pitch too (the node's ``level_with_imu``).

    Each frame uses the latest camera_info, fix and IMU heading received before it (log order, as the node
    does). Returns the estimates and a dict of failure counts by exception type.
    """
    from geodistill_ros.inference import InferenceError
    from geodistill_ros.localizer import Attitude, GpsPrior, LocalizerError, YawPrior
    from geodistill_ros.tiles import TileError

    recoverable = (LocalizerError, TileError, InferenceError)
    cam_topic = sensors.camera_topic
    rows, failures = [], {}
    n_frames = min(len(sensors.frames_ns), max_frames or len(sensors.frames_ns))
    with bagio.open_reader(bag) as reader:
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=n_frames, unit="frame", desc="localize", leave=False)
        done = 0
        for msgtype, raw, last in frames_with_sensors(reader, cam_topic):
            if done >= n_frames:
                break
            done += 1
            if bar is not None:
                bar.update(1)
            msg = bagio.deserialize(raw, msgtype)
            stamp = bagio.stamp_to_ns(msg.header.stamp)
            if last["info"] is None or last["fix"] is None:
                failures["no camera_info or fix yet"] = failures.get("no camera_info or fix yet", 0) + 1
                continue
            image = image_from_msg(msg)
            camera = camera_from_info(last["info"])
            fix = last["fix"]
            prior = GpsPrior(float(fix.latitude), float(fix.longitude), navsat_cov_en(fix))
            yaw_prior = attitude = None
            if last["imu"] is not None:
                yaw, var = imu_yaw(last["imu"])
                yaw_prior = YawPrior(yaw, var)
                if level_with_imu:
                    q = last["imu"].orientation
                    attitude = Attitude(*geometry.roll_pitch_from_quaternion(q.x, q.y, q.z, q.w))
            t0 = time.perf_counter()
            try:
                est = localizer.localize(image, camera, prior, yaw_prior, attitude=attitude)
            except recoverable as exc:
                failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                LOG.debug("frame %d: %s", stamp, exc)
                continue
            latency = time.perf_counter() - t0
            rows.append((stamp, est.x_m, est.y_m, est.yaw_rad, np.asarray(est.covariance)[:2, :2], latency))
        if bar is not None:
            bar.close()
    return Track.from_rows(rows), failures


def make_localizer(model_dir: str | None, tiles: str, datum: tuple[float, float], backend: str = "auto",
                   threads: int | None = None):
    from geodistill_ros.localizer import DEFAULT_MODEL_DIR, Localizer, LocalizerConfig

    config = LocalizerConfig(model_dir=str(model_dir or DEFAULT_MODEL_DIR), backend=backend, threads=threads,
                             tile_source=str(tiles), tile_offline=True, datum=tuple(datum))
    return Localizer(config)


# --- our estimates: recorded -----------------------------------------------------------------------------
def read_recorded(outputs: Path, pose_topic: str = OUR_TOPIC, camera_topic: str | None = None) -> Track:
    """Poses from a recorder bag; latency = pose arrival - the arrival of the frame with the same stamp."""
    from geodistill_ros.recorder import arrival_topic

    with bagio.open_reader(outputs) as reader:
        info = bagio.topics(reader)
        if pose_topic not in info:
            poses = sorted(t for t, s in info.items() if s.msgtype in POSE_TYPES)
            raise EvaluationError(f"{pose_topic} not in {outputs}; pose topics there: {poses}")
        arrivals = [t for t in info if t.startswith(arrival_topic(""))]
        if camera_topic is not None:
            arrivals = [t for t in arrivals if t == arrival_topic(camera_topic)]
        arrived: dict[int, int] = {}
        rows = []
        for topic, msgtype, t_ns, raw in bagio.iter_messages(reader, [pose_topic, *arrivals]):
            if topic == pose_topic:
                stamp, e, n, yaw, cov = pose_from_msg(bagio.deserialize(raw, msgtype), msgtype)
                latency = (t_ns - arrived[stamp]) / 1e9 if stamp in arrived else np.nan
                rows.append((stamp, e, n, yaw, cov, latency))
            else:
                arrived.setdefault(bagio.header_stamp_ns(raw), t_ns)
    return Track.from_rows(rows)


# --- scoring --------------------------------------------------------------------------------------------
@dataclass
class Scored:
    """An estimator's track with the truth at its stamps and per-sample errors (valid samples only)."""

    track: Track
    truth_en: np.ndarray
    truth_yaw: np.ndarray
    errors_m: np.ndarray
    yaw_err_deg: np.ndarray
    nees: np.ndarray
    figures: dict


def score(track: Track, truth: Track, frames: int, max_gap_s: float = 1.0) -> Scored:
    """Errors of ``track`` against ``truth`` interpolated at its stamps, summarised over ``frames`` frames.
    Estimates outside the truth's time span are dropped (they count as not localized)."""
    en, yaw, valid = metrics.interpolate_pose(track.stamp_ns, truth.stamp_ns, truth.en[:, 0], truth.en[:, 1],
                                              truth.yaw, max_gap_s=max_gap_s)
    if len(track) and not valid.any():
        raise EvaluationError("no estimate falls within the ground truth's time span (stamps do not match)")
    kept = track.take(valid)
    err = metrics.position_errors_m(kept.en, en[valid])
    yaw_err = metrics.yaw_errors_deg(kept.yaw, yaw[valid])
    nees = metrics.nees(kept.en - en[valid], kept.cov)
    fig = metrics.summarize(err, frames=frames, yaw_err_deg=yaw_err[np.isfinite(yaw_err)], nees_values=nees,
                            latency_s=kept.latency_s)
    return Scored(kept, en[valid], yaw[valid], err, yaw_err, nees, fig)


def dedupe(track: Track) -> Track:
    """One estimate per stamp (the first), so a republished pose is not counted twice."""
    _, first = np.unique(track.stamp_ns, return_index=True)
    first = np.sort(first)
    return track.take(first)


def restrict_to_frames(track: Track, frames_ns: np.ndarray) -> Track:
    """Keep the estimates stamped like a frame of the sequence (outputs carry their image's stamp); when none
    does (a node stamping with its own clock), keep those within the frames' time span instead."""
    if not len(track):
        return track
    keep = np.isin(track.stamp_ns, frames_ns)
    if not keep.any():
        LOG.warning("no estimate carries a frame's stamp; scoring those within the frames' time span")
        keep = (track.stamp_ns >= frames_ns[0]) & (track.stamp_ns <= frames_ns[-1])
    elif not keep.all():
        LOG.info("ignoring %d estimates not stamped like a frame of this sequence", int((~keep).sum()))
    return track.take(keep)


# --- the evo-readable output bag ----------------------------------------------------------------------
def pose_msg(stamp_ns: int, east: float, north: float, yaw: float, cov2=None, yaw_var: float | None = None,
             frame_id: str = "map"):
    """A rosbags ``geometry_msgs/PoseWithCovarianceStamped`` in the map frame."""
    ts = bagio.typestore().types
    qx, qy, qz, qw = geometry.quaternion_from_yaw(float(yaw) if np.isfinite(yaw) else 0.0)
    cov6 = np.zeros((6, 6))
    if cov2 is not None and np.all(np.isfinite(cov2)):
        cov6[:2, :2] = cov2
    if yaw_var is not None and np.isfinite(yaw_var):
        cov6[5, 5] = yaw_var
    return ts["geometry_msgs/msg/PoseWithCovarianceStamped"](
        header=ts["std_msgs/msg/Header"](stamp=bagio.time_msg(int(stamp_ns)), frame_id=frame_id),
        pose=ts["geometry_msgs/msg/PoseWithCovariance"](
            pose=ts["geometry_msgs/msg/Pose"](
                position=ts["geometry_msgs/msg/Point"](x=float(east), y=float(north), z=0.0),
                orientation=ts["geometry_msgs/msg/Quaternion"](x=qx, y=qy, z=qz, w=qw)),
            covariance=cov6.reshape(36)))


def write_poses_bag(path: Path, ours: Track, truth: Track, gps: Track, overwrite: bool = True) -> Path:
    """MCAP bag with our poses, the ground truth at our stamps and every frame's, and the GPS prior."""
    msgtype = "geometry_msgs/msg/PoseWithCovarianceStamped"
    stamps = np.unique(np.concatenate([ours.stamp_ns, gps.stamp_ns]))
    t_en, t_yaw, t_valid = metrics.interpolate_pose(stamps, truth.stamp_ns, truth.en[:, 0], truth.en[:, 1],
                                                    truth.yaw)
    records = []
    for i in range(len(ours)):
        records.append((int(ours.stamp_ns[i]), OUR_TOPIC, pose_msg(ours.stamp_ns[i], *ours.en[i], ours.yaw[i],
                                                                  ours.cov[i])))
    for i in np.flatnonzero(t_valid):
        records.append((int(stamps[i]), TRUTH_TOPIC, pose_msg(stamps[i], *t_en[i], t_yaw[i])))
    for i in range(len(gps)):
        records.append((int(gps.stamp_ns[i]), GPS_PRIOR_TOPIC, pose_msg(gps.stamp_ns[i], *gps.en[i],
                                                                       gps.yaw[i], gps.cov[i])))
    records.sort(key=lambda r: (r[0], r[1]))
    with bagio.open_writer(path, storage="mcap", overwrite=overwrite) as writer:
        conns = {topic: writer.add_connection(topic, msgtype, typestore=bagio.typestore())
                 for topic in (OUR_TOPIC, TRUTH_TOPIC, GPS_PRIOR_TOPIC)}
        for t, topic, msg in records:
            writer.write(conns[topic], t, bagio.serialize(msg, msgtype))
    return path


# --- the whole evaluation ----------------------------------------------------------------------------------
def evaluate(sensors: BagSensors, ours: Track, out_dir: Path, tiles: str | None = None, title: str = "",
             extra: dict | None = None, plots: bool = True) -> dict:
    """Score ``ours`` and the GPS prior; write metrics.json, the poses bag and the report into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = len(sensors.frames_ns)
    ours = restrict_to_frames(dedupe(ours), sensors.frames_ns)
    scored_ours = score(ours, sensors.truth, frames)
    scored_gps = score(sensors.gps, sensors.truth, frames)
    result = {"title": title, "frames": frames, "datum": list(sensors.datum), "ours": scored_ours.figures,
              "gps_prior": scored_gps.figures, **(extra or {})}
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=2))
    write_poses_bag(out_dir / "poses_bag", scored_ours.track, sensors.truth, sensors.gps)
    if plots:
        from geodistill_ros.eval_report import write_report

        write_report(out_dir, result, scored_ours, scored_gps, sensors, tiles=tiles)
    return result


def default_tiles(sensors: BagSensors) -> str | None:
    """The world's tiles (XYZ folder, else MBTiles) for the bag's world, if the bag names one."""
    return world_tiles(sensors.world_dir)


def world_tiles(world: Path | None) -> str | None:
    """The tiles (XYZ folder, else MBTiles) of a synthetic world folder; None without one."""
    if world is None or not (world / "world.json").exists():
        return None
    meta = json.loads((world / "world.json").read_text())
    tiles = meta.get("tiles") or {}
    folder = world / tiles.get("dir", "tiles")
    if folder.is_dir():
        return str(folder)
    if meta.get("mbtiles") and (world / meta["mbtiles"]).exists():
        return str(world / meta["mbtiles"])
    return None


def format_summary(result: dict) -> str:
    """A few lines comparing ours with the GPS prior."""
    lines = [f"{'':12s}{'mean':>8s}{'median':>8s}{'rmse':>8s}{'<1m':>7s}{'<5m':>7s}{'yaw med':>9s}{'in95%':>7s}"
             f"{'localized':>11s}"]
    for key, name in (("ours", "geodistill"), ("gps_prior", "GPS prior")):
        f = result[key]

        def num(v, fmt):
            return format(v, fmt) if v is not None else "-"

        lines.append(f"{name:12s}{num(f['mean_m'], '7.2f')}m{num(f['median_m'], '7.2f')}m{num(f['rmse_m'], '7.2f')}m"
                     f"{num(f['recall_1m'], '7.0%')}{num(f['recall_5m'], '7.0%')}{num(f['yaw_median_deg'], '8.1f')}°"
                     f"{num(f['in_95_ellipse'], '7.0%')}{f['localized']:>6d}/{f['frames']:<4d}")
    ours = result["ours"]
    if ours.get("latency_median_ms") is not None:
        lines.append(f"latency: median {ours['latency_median_ms']:.0f} ms, 95th percentile "
                     f"{ours['latency_p95_ms']:.0f} ms")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", type=Path, help="input rosbag2 (camera, camera_info, gps, imu, ground truth)")
    parser.add_argument("--outputs", type=Path, default=None,
                        help="score this recorded output bag instead of running the localizer")
    parser.add_argument("--pose-topic", default=OUR_TOPIC, help=f"pose topic in --outputs (default {OUR_TOPIC})")
    parser.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    parser.add_argument("--tiles", default=None, help="tile source (default: the bag's world tiles)")
    parser.add_argument("--backend", default="auto", help="inference backend (default auto)")
    parser.add_argument("--threads", type=int, default=None, help="inference threads")
    parser.add_argument("--datum", type=float, nargs=2, default=None, metavar=("LAT", "LON"),
                        help="map-frame datum (default: from the bag's world)")
    parser.add_argument("--camera-topic", default=None, help="camera topic (default: auto)")
    parser.add_argument("--frames", type=int, default=None, help="only the first N frames")
    parser.add_argument("--out", type=Path, default=None, help="report folder (default out/eval/<bag name>)")
    parser.add_argument("--no-plots", action="store_true", help="metrics and bag only")
    parser.add_argument("--level-with-imu", action="store_true",
                        help="direct mode: level each image by the IMU's roll and pitch (the node's level_with_imu)")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out_dir = args.out or Path("out") / "eval" / args.bag.resolve().name
    try:
        sensors = read_sensors(args.bag, args.datum, args.camera_topic, args.frames)
        tiles = args.tiles or default_tiles(sensors)
        extra: dict = {"bag": str(args.bag)}
        if args.outputs is not None:
            ours = read_recorded(args.outputs, args.pose_topic, sensors.camera_topic)
            extra.update(mode="recorded", outputs=str(args.outputs))
        else:
            if tiles is None:
                raise EvaluationError("no tile source: give --tiles (the bag names no world with tiles)")
            localizer = make_localizer(args.model, tiles, sensors.datum, args.backend, args.threads)
            ours, failures = run_localizer(args.bag, localizer, sensors, args.frames,
                                           level_with_imu=args.level_with_imu)
            extra.update(mode="direct", model=str(localizer.config.model_dir), backend=localizer.backend_name,
                         failures=failures)
        result = evaluate(sensors, ours, out_dir, tiles=tiles, title=args.bag.name, extra=extra,
                          plots=not args.no_plots)
    except (EvaluationError, bagio.BagError) as exc:
        LOG.error("%s", exc)
        return 2
    print(format_summary(result))
    print(f"report: {out_dir / ('metrics.json' if args.no_plots else 'report.html')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="geodistill eval-bag", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
