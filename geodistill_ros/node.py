"""``localizer_node``: the thin rclpy shell around :class:`~geodistill_ros.localizer.Localizer`.

Run: ``ros2 run geodistill_ros localizer_node --ros-args --params-file config/localize.yaml`` (or
``python -m geodistill_ros.node --ros-args ...``; the launch files start it the same way).

Topics (relative names; remap them in the launch file):

========================  ====================================  =============================================
``image``                 sensor_msgs/Image (sub, sensor QoS)   when ``image_transport`` is ``raw``
``image/compressed``      sensor_msgs/CompressedImage (sub)     when ``image_transport`` is ``compressed``
``camera_info``           sensor_msgs/CameraInfo (sub)          needed for ``camera_model: pinhole``
``gps/fix``               sensor_msgs/NavSatFix (sub)           the prior; matched to each image by stamp
``imu``                   sensor_msgs/Imu (sub)                 heading prior when ``heading_source: imu``
``odom``                  nav_msgs/Odometry (sub)               heading prior when ``heading_source: odometry``
``pose``                  PoseWithCovarianceStamped (pub)       ``map_frame``, the image's stamp, 6x6 covariance
``fix``                   sensor_msgs/NavSatFix (pub)           the refined fix with its ENU covariance
``/diagnostics``          diagnostic_msgs/DiagnosticArray       periodic summary + one per problem
``datum``                 sensor_msgs/NavSatFix (pub, latched)  the map frame's origin
``debug/probability``     sensor_msgs/Image (pub)               heat map over the satellite patch (optional)
========================  ====================================  =============================================

Threads: the executor only stores messages (images go into a one-slot mailbox that keeps the newest frame and
counts the ones it replaces); a worker thread takes the newest frame, matches the GPS fix and heading by
stamp, runs the Localizer (model load, tile I/O, inference) and publishes. Bad input never stops the node: the
frame is skipped and a diagnostic says why.

``map -> odom`` TF (``publish_tf: true``) needs ``tf2_ros``; where it is not importable (as in the pip-only
environment this package is developed in) the node publishes a WARN diagnostic instead and never a TF. The
TF path (:func:`map_to_odom_2d` and ``_publish_tf``) is therefore exercised only by the pure-function test.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseWithCovarianceStamped
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.exceptions import ParameterException, ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, Imu, NavSatFix

from geodistill_ros import ros_conversions as conv
from geodistill_ros.camera import PanoramaCamera
from geodistill_ros.inference.errors import InferenceError
from geodistill_ros.localizer import (
    DEFAULT_MODEL_DIR,
    CoverageError,
    Localizer,
    LocalizerConfig,
    LocalizerError,
    LocalizerInputError,
    probability_overlay,
)
from geodistill_ros.navsat import DEFAULT_GPS_SIGMA_M
from geodistill_ros.tiles.errors import TileError, TileOutOfCoverage

try:  # optional: map -> odom TF
    import tf2_ros  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the ROS install
    tf2_ros = None

NODE_NAME = "geodistill_localizer"
DIAGNOSTIC_NAME = "geodistill_localizer: localization"
BACKENDS = ("auto", "tensorrt", "onnxruntime", "onnxruntime-cuda", "torch")


# --- parameters -----------------------------------------------------------------------------------------
def _positive(v) -> str | None:
    return None if _is_number(v) and math.isfinite(float(v)) and float(v) > 0 else "must be a positive number"


def _non_negative(v) -> str | None:
    return None if _is_number(v) and math.isfinite(float(v)) and float(v) >= 0 else "must be a number >= 0"


def _finite(v) -> str | None:
    return None if _is_number(v) and math.isfinite(float(v)) else "must be a finite number"


def _unit_interval(v) -> str | None:
    return None if _is_number(v) and 0.0 <= float(v) <= 1.0 else "must be in [0, 1]"


def _one_of(*choices: str) -> Callable[[object], str | None]:
    def check(v) -> str | None:
        return None if v in choices else f"must be one of {list(choices)}"

    return check


def _int_at_least(lo: int) -> Callable[[object], str | None]:
    def check(v) -> str | None:
        return None if isinstance(v, int) and not isinstance(v, bool) and v >= lo else f"must be an integer >= {lo}"

    return check


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _datum(v) -> str | None:
    if v is None:
        return None
    values = list(v)
    if len(values) != 2 or not all(_is_number(x) and math.isfinite(x) for x in values):
        return "must be [lat_deg, lon_deg]"
    if not (-90.0 <= values[0] <= 90.0 and -180.0 <= values[1] <= 180.0):
        return "latitude must be in [-90, 90] and longitude in [-180, 180]"
    return None


def _frame(v) -> str | None:
    return None if isinstance(v, str) and v.strip() and " " not in v else "must be a non-empty frame id"


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter: default, description, validation, and whether a change reloads model/tiles."""

    name: str
    default: object  # a value, or a Parameter.Type for a parameter without a default
    description: str
    check: Callable[[object], str | None] | None = None
    rebuild: bool = False  # a change reloads the model and re-opens the tile source
    read_only: bool = False  # fixed at start-up (topic choices)


PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("datum", Parameter.Type.DOUBLE_ARRAY,
              "[lat_deg, lon_deg] of the map frame origin (ENU); unset: the first good GPS fix", _datum),
    ParamSpec("tile_source", "", "satellite imagery: URL template (https://host/{z}/{x}/{y}.jpg), XYZ folder, "
              "file:// template, .mbtiles or GeoTIFF", None, rebuild=True),
    ParamSpec("tile_cache_dir", "", "disk cache for remote tiles ('' = the tiles library default)", rebuild=True),
    ParamSpec("tile_user_agent", "", "HTTP User-Agent for tile servers ('' = the tiles library default)",
              rebuild=True),
    ParamSpec("tile_offline", False, "never touch the network: tiles only from the cache / local files",
              rebuild=True),
    ParamSpec("tile_timeout_s", 5.0, "timeout of one tile request, seconds", _positive, rebuild=True),
    ParamSpec("model_dir", "", "model folder (ONNX graphs + model.json); '' = the packaged default model",
              rebuild=True),
    ParamSpec("backend", "auto", f"inference backend, one of {list(BACKENDS)}", _one_of(*BACKENDS), rebuild=True),
    ParamSpec("inference_threads", 0, "CPU threads for inference (0 = the backend's default)", _int_at_least(0),
              rebuild=True),
    ParamSpec("camera_model", "panorama", "'panorama' (equirectangular, forward at the centre column) or "
              "'pinhole' (intrinsics from camera_info)", _one_of("panorama", "pinhole")),
    ParamSpec("map_frame", "map", "frame of the published pose (ENU about the datum)", _frame),
    ParamSpec("base_frame", "base_link", "robot body frame the pose describes", _frame),
    ParamSpec("odom_frame", "odom", "odometry frame for the optional map->odom TF", _frame),
    ParamSpec("camera_height_m", 0.0, "camera height above the ground, m (0 = the model's training height)",
              _non_negative),
    ParamSpec("camera_x_m", 0.0, "camera position in base_frame, forward, m", _finite),
    ParamSpec("camera_y_m", 0.0, "camera position in base_frame, left, m", _finite),
    ParamSpec("camera_yaw_rad", 0.0, "camera forward direction relative to base_frame x, CCW, rad", _finite),
    ParamSpec("camera_pitch_rad", 0.0, "pinhole camera pitch, positive up, rad", _finite),
    ParamSpec("max_gps_age_s", 1.0, "largest |GPS stamp - image stamp| accepted, s", _positive),
    ParamSpec("gps_sigma_m", DEFAULT_GPS_SIGMA_M, "GPS 1-sigma per axis when the fix has no covariance, m", _positive),
    ParamSpec("gps_sigma_floor_m", 1.0, "never trust a GPS fix more than this 1-sigma, m", _positive),
    ParamSpec("fuse_gps_prior", True, "multiply the probability map by the GPS prior's Gaussian"),
    ParamSpec("heading_source", "none", "heading prior: 'none' (coarse yaw search), 'imu' or 'odometry'",
              _one_of("none", "imu", "odometry"), read_only=True),
    ParamSpec("level_with_imu", False, "level the image by the roll and pitch of sensor_msgs/Imu on 'imu' before "
              "matching (camera rigid on base_link, IMU frame aligned with it)", read_only=True),
    ParamSpec("max_attitude_age_s", 0.1, "largest |IMU stamp - image stamp| for levelling, s", _positive),
    ParamSpec("max_heading_age_s", 0.5, "largest |heading stamp - image stamp| accepted, s", _positive),
    ParamSpec("heading_sigma_deg", 5.0, "heading prior 1-sigma when the message has no variance, deg", _positive),
    ParamSpec("yaw_hypotheses", 12, "headings tried by the coarse yaw search (no heading prior)",
              _int_at_least(1)),
    ParamSpec("recrop_distance_m", 10.0, "re-crop / re-encode the satellite patch when the prior moves this far, m",
              _non_negative),
    ParamSpec("min_confidence", 0.0, "publish only estimates with at least this confidence (0..1)",
              _unit_interval),
    ParamSpec("position_variance_floor_m2", 0.04, "floor of the position variances, m^2", _positive),
    ParamSpec("yaw_variance_floor_rad2", 7.6e-5, "floor of the yaw variance, rad^2", _positive),
    ParamSpec("unobserved_variance", 1000.0, "variance published for z, roll and pitch (not estimated)",
              _positive),
    ParamSpec("processing_rate_hz", 10.0, "most frames localized per second (0 = as fast as possible)",
              _non_negative),
    ParamSpec("max_image_pixels", 50_000_000, "larger images are rejected", _int_at_least(4)),
    ParamSpec("image_transport", "raw", "'raw' subscribes to image, 'compressed' to image/compressed",
              _one_of("raw", "compressed"), read_only=True),
    ParamSpec("publish_debug_image", False, "publish debug/probability (heat map over the satellite patch)"),
    ParamSpec("publish_tf", False, "publish map->odom (needs tf2_ros; a WARN diagnostic where it is missing)"),
    ParamSpec("diagnostics_period_s", 1.0, "period of the summary diagnostic, s", _positive),
)
PARAMETER_NAMES = frozenset(p.name for p in PARAMETERS)
_SPECS = {p.name: p for p in PARAMETERS}


def validate_parameter(name: str, value) -> str | None:
    """Why ``value`` is invalid for parameter ``name``, or None."""
    spec = _SPECS.get(name)
    if spec is None or spec.check is None:
        return None
    problem = spec.check(value)
    return f"{name}: {problem} (got {value!r})" if problem else None


# --- small pieces ------------------------------------------------------------------------------------------
class LatestSlot:
    """A one-item mailbox: ``put`` replaces what is there (counting the dropped item), ``take`` waits for one."""

    def __init__(self):
        self._cond = threading.Condition()
        self._item = None
        self.dropped = 0

    def put(self, item) -> None:
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify()

    def take(self, timeout_s: float):
        with self._cond:
            if self._item is None:
                self._cond.wait(timeout_s)
            item, self._item = self._item, None
            return item

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


def nearest_by_stamp(history, stamp_ns: int, max_age_s: float):
    """The ``(stamp_ns, value)`` in ``history`` closest in time to ``stamp_ns`` and its age in seconds; the value
    is None when nothing is within ``max_age_s`` (the age is then that of the closest, or inf)."""
    best, best_dt = None, math.inf
    for item in list(history):
        dt = abs(item[0] - stamp_ns) * 1e-9
        if dt < best_dt:
            best, best_dt = item, dt
    if best is None or best_dt > max_age_s:
        return None, best_dt
    return best[1], best_dt


def map_to_odom_2d(map_base: tuple[float, float, float], odom_base: tuple[float, float, float]):
    """``map->odom`` (x, y, yaw) from ``map->base`` and ``odom->base`` in the plane: ``T_mo = T_mb * T_ob^-1``."""
    xm, ym, tm = map_base
    xo, yo, to = odom_base
    yaw = math.atan2(math.sin(tm - to), math.cos(tm - to))
    c, s = math.cos(yaw), math.sin(yaw)
    return xm - (c * xo - s * yo), ym - (s * xo + c * yo), yaw


@dataclass
class _Frame:
    msg: object
    compressed: bool
    received_ns: int  # monotonic time the executor received it


class LocalizerNode(Node):
    """See the module docstring. ``localizer_factory(config) -> Localizer`` may be injected (tests)."""

    def __init__(self, *, localizer_factory: Callable[[LocalizerConfig], Localizer] | None = None,
                 node_name: str = NODE_NAME, **node_kwargs):
        super().__init__(node_name, **node_kwargs)
        self._factory = localizer_factory or (lambda config: Localizer(config))
        for spec in PARAMETERS:
            typed = isinstance(spec.default, Parameter.Type)
            descriptor = ParameterDescriptor(description=spec.description, read_only=spec.read_only,
                                             dynamic_typing=not typed and isinstance(spec.default, float))
            self.declare_parameter(spec.name, spec.default, descriptor)
        problems = [p for p in (validate_parameter(n, self._param(n)) for n in PARAMETER_NAMES) if p]
        if problems:
            raise ValueError("invalid parameters: " + "; ".join(sorted(problems)))
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.add_post_set_parameters_callback(self._after_set_parameters)

        self._lock = threading.Lock()
        self._slot = LatestSlot()
        self._gps = collections.deque(maxlen=200)  # (stamp_ns, GpsPrior)
        self._heading = collections.deque(maxlen=200)  # (stamp_ns, YawPrior)
        self._attitude = collections.deque(maxlen=400)  # (stamp_ns, Attitude), with level_with_imu
        self._camera_info = None
        self._latencies_ms = collections.deque(maxlen=200)
        self._done_times = collections.deque(maxlen=50)
        self._stats = collections.Counter()
        self._state = {"level": "OK", "message": "waiting for images", "gps_age_s": float("nan"),
                       "tile_status": "not loaded", "confidence": float("nan"), "last_error": "",
                       "last_image_stamp_ns": 0}
        self._localizer: Localizer | None = None
        self._rebuild = True
        self._soft_update = False
        self._datum_changed = False
        self._next_build_s = 0.0
        self._datum = None
        datum = self._param("datum")
        if datum is not None:
            self._datum = (float(datum[0]), float(datum[1]))

        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.pub_pose = self.create_publisher(PoseWithCovarianceStamped, "pose", 10)
        self.pub_fix = self.create_publisher(NavSatFix, "fix", 10)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.pub_datum = self.create_publisher(NavSatFix, "datum", latched)
        self.pub_debug = self.create_publisher(Image, "debug/probability", 1)

        sensor = qos_profile_sensor_data
        if self._param("image_transport") == "compressed":
            self.create_subscription(CompressedImage, "image/compressed", self._on_compressed, sensor)
        else:
            self.create_subscription(Image, "image", self._on_image, sensor)
        self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, sensor)
        self.create_subscription(NavSatFix, "gps/fix", self._on_gps, sensor)
        heading = self._param("heading_source")
        if heading == "imu" or self._param("level_with_imu"):
            self.create_subscription(Imu, "imu", self._on_imu, sensor)
        if heading == "odometry":
            self.create_subscription(Odometry, "odom", self._on_odometry, sensor)

        self._tf_broadcaster = self._tf_buffer = None
        self._setup_tf()
        if self._datum is not None:
            self._publish_datum()
        self._diag_timer = self.create_timer(float(self._param("diagnostics_period_s")), self.publish_diagnostics)
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name="geodistill_localizer_worker", daemon=True)
        self._worker.start()

    # --- parameters ------------------------------------------------------------------------------------
    def _param(self, name: str):
        try:
            return self.get_parameter(name).value
        except ParameterUninitializedException:
            return None

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        for p in params:
            problem = validate_parameter(p.name, p.value)
            if problem:
                self._problem("WARN", f"rejected parameter update: {problem}", count="bad_parameters")
                return SetParametersResult(successful=False, reason=problem)
        return SetParametersResult(successful=True)

    def _after_set_parameters(self, params: list[Parameter]) -> None:
        with self._lock:
            for p in params:
                spec = _SPECS.get(p.name)
                if p.name == "datum" and p.value is not None:
                    self._datum = (float(p.value[0]), float(p.value[1]))
                    self._datum_changed = True
                elif spec is not None and spec.rebuild:
                    self._rebuild = True
                else:
                    self._soft_update = True
                if p.name == "diagnostics_period_s":
                    self._diag_timer.timer_period_ns = int(float(p.value) * 1e9)
            if any(p.name == "datum" for p in params):
                self._publish_datum()
            if any(p.name == "publish_tf" for p in params):
                self._setup_tf()

    def localizer_config(self) -> LocalizerConfig:
        """The :class:`LocalizerConfig` the current parameters describe."""
        g = self._param
        return LocalizerConfig(
            model_dir=g("model_dir") or DEFAULT_MODEL_DIR, backend=g("backend"),
            threads=g("inference_threads") or None, tile_source=g("tile_source"),
            tile_cache_dir=g("tile_cache_dir") or None, tile_offline=bool(g("tile_offline")),
            tile_user_agent=g("tile_user_agent") or None, tile_timeout_s=float(g("tile_timeout_s")),
            datum=self._datum, recrop_distance_m=float(g("recrop_distance_m")),
            fuse_gps_prior=bool(g("fuse_gps_prior")), gps_sigma_floor_m=float(g("gps_sigma_floor_m")),
            yaw_hypotheses=int(g("yaw_hypotheses")), yaw_prior_sigma_rad=math.radians(float(g("heading_sigma_deg"))),
            position_variance_floor_m2=float(g("position_variance_floor_m2")),
            yaw_variance_floor_rad2=float(g("yaw_variance_floor_rad2")),
            camera_height_m=float(g("camera_height_m")) or None, camera_x_m=float(g("camera_x_m")),
            camera_y_m=float(g("camera_y_m")), camera_yaw_rad=float(g("camera_yaw_rad")),
            max_image_pixels=int(g("max_image_pixels")),
        )

    # --- executor callbacks: store only ------------------------------------------------------------------
    def _on_image(self, msg: Image) -> None:
        self._stats["frames_received"] += 1
        self._slot.put(_Frame(msg, False, time.monotonic_ns()))

    def _on_compressed(self, msg: CompressedImage) -> None:
        self._stats["frames_received"] += 1
        self._slot.put(_Frame(msg, True, time.monotonic_ns()))

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    def _on_gps(self, msg: NavSatFix) -> None:
        try:
            prior = conv.navsat_to_prior(msg, float(self._param("gps_sigma_m")))
        except conv.ConversionError as exc:
            self._problem("WARN", f"GPS fix rejected: {exc}", count="gps_rejected")
            return
        self._gps.append((conv.stamp_to_ns(msg.header.stamp), prior))
        if self._datum is None:
            with self._lock:
                self._datum = (prior.lat_deg, prior.lon_deg)
                self._datum_changed = True
            self.get_logger().info(f"datum from the first good fix: {self._datum}")
            self._publish_datum()

    def _on_imu(self, msg: Imu) -> None:
        if self._param("heading_source") == "imu":
            self._on_heading(msg, conv.imu_to_yaw_prior)
        if self._param("level_with_imu"):
            try:
                self._attitude.append((conv.stamp_to_ns(msg.header.stamp), conv.imu_to_attitude(msg)))
            except (conv.ConversionError, LocalizerInputError) as exc:
                self._problem("WARN", f"IMU attitude rejected: {exc}", count="attitude_rejected")

    def _on_odometry(self, msg: Odometry) -> None:
        self._on_heading(msg, conv.odometry_to_yaw_prior)

    def _on_heading(self, msg, convert) -> None:
        try:
            self._heading.append((conv.stamp_to_ns(msg.header.stamp), convert(msg)))
        except (conv.ConversionError, LocalizerInputError) as exc:
            self._problem("WARN", f"heading rejected: {exc}", count="heading_rejected")

    # --- worker ------------------------------------------------------------------------------------------
    def _work(self) -> None:
        last_start = 0.0
        while not self._stop.is_set():
            rate = float(self._param("processing_rate_hz") or 0.0)
            if rate > 0:
                wait = last_start + 1.0 / rate - time.monotonic()
                if wait > 0 and self._stop.wait(wait):
                    break
            frame = self._slot.take(timeout_s=0.2)
            if frame is None:
                if self._localizer is None and self._param("tile_source"):
                    self._ensure_localizer()  # load the model before the first frame (not counted as latency)
                continue
            last_start = time.monotonic()
            try:
                self._process(frame)
            except Exception as exc:  # noqa: BLE001 - the node must survive anything a frame does
                self.get_logger().error(f"internal error: {exc}\n{traceback.format_exc()}")
                self._problem("ERROR", f"internal error: {type(exc).__name__}: {exc}", count="internal_errors")

    def _ensure_localizer(self) -> Localizer | None:
        with self._lock:
            rebuild, soft, datum_changed = self._rebuild, self._soft_update, self._datum_changed
            self._rebuild = self._soft_update = self._datum_changed = False
        if rebuild or self._localizer is None:
            if time.monotonic() < self._next_build_s:
                with self._lock:
                    self._rebuild = True
                return None
            config = self.localizer_config()
            try:
                old = self._localizer
                self._localizer = None
                if old is not None and hasattr(old.model, "close"):
                    old.model.close()
                self._localizer = self._factory(config)
                self._state["tile_status"] = "ok"
                self.get_logger().info(f"localizer ready (backend {self._localizer.backend_name})")
            except Exception as exc:  # noqa: BLE001 - model / tile source failures become diagnostics
                self._next_build_s = time.monotonic() + 2.0
                with self._lock:
                    self._rebuild = True
                kind = "tile source" if isinstance(exc, TileError) else "model"
                self._state["tile_status"] = f"error: {exc}" if kind == "tile source" else self._state["tile_status"]
                self._problem("ERROR", f"cannot start the localizer ({kind}): {type(exc).__name__}: {exc}",
                              count="localizer_start_failures")
                return None
        else:
            if soft:
                self._localizer.config = dataclasses.replace(self.localizer_config(), datum=self._localizer.datum)
            if datum_changed and self._datum is not None:  # a new map origin: same model, new patch
                self._localizer.set_datum(*self._datum)
                self._localizer.reset_cache()
        return self._localizer

    def _process(self, frame: _Frame) -> None:
        msg = frame.msg
        stamp_ns = conv.stamp_to_ns(msg.header.stamp)
        self._state["last_image_stamp_ns"] = stamp_ns
        max_pixels = int(self._param("max_image_pixels"))
        try:
            image = conv.compressed_to_rgb(msg, max_pixels) if frame.compressed else conv.image_to_rgb(msg, max_pixels)
        except conv.ConversionError as exc:
            return self._problem("ERROR", f"bad image: {exc}", count="bad_images")
        if self._param("camera_model") == "pinhole":
            if self._camera_info is None:
                return self._problem("ERROR", "camera_model is pinhole but no CameraInfo has arrived on camera_info",
                                     count="no_camera_info")
            try:
                camera = conv.camera_info_to_camera(self._camera_info, float(self._param("camera_pitch_rad")))
            except conv.ConversionError as exc:
                return self._problem("ERROR", f"bad CameraInfo: {exc}", count="bad_camera_info")
            if (camera.height, camera.width) != image.shape[:2]:
                return self._problem("ERROR", f"CameraInfo is {camera.width}x{camera.height} but the image is "
                                     f"{image.shape[1]}x{image.shape[0]}", count="bad_camera_info")
        else:
            camera = PanoramaCamera(width=image.shape[1], height=image.shape[0])
        prior, gps_age = nearest_by_stamp(self._gps, stamp_ns, float(self._param("max_gps_age_s")))
        self._state["gps_age_s"] = gps_age
        if prior is None:
            what = "no GPS fix received yet" if not self._gps else f"stale GPS: nearest fix is {gps_age:.2f} s away"
            return self._problem("WARN", f"{what} (max_gps_age_s {self._param('max_gps_age_s')})", count="no_gps")
        yaw_prior = None
        if self._param("heading_source") != "none":
            yaw_prior, _ = nearest_by_stamp(self._heading, stamp_ns, float(self._param("max_heading_age_s")))
        attitude = None
        if self._param("level_with_imu"):
            attitude, att_age = nearest_by_stamp(self._attitude, stamp_ns, float(self._param("max_attitude_age_s")))
            if attitude is None:  # still localized, as a level camera
                self._problem("WARN", f"image not levelled: no IMU attitude within max_attitude_age_s "
                              f"{self._param('max_attitude_age_s')} (nearest {att_age:.2f} s)", count="no_attitude")
        localizer = self._ensure_localizer()
        if localizer is None:
            return None
        try:
            est = localizer.localize(image, camera, prior, yaw_prior, attitude=attitude)
        except LocalizerInputError as exc:
            return self._problem("ERROR", f"bad input: {exc}", count="bad_input")
        except CoverageError as exc:
            self._state["tile_status"] = f"no coverage: {exc}"
            return self._problem("ERROR", f"GPS outside tile coverage: {exc}", count="tile_errors")
        except LocalizerError as exc:
            return self._problem("ERROR", f"localizer: {exc}", count="localizer_errors")
        except TileError as exc:
            self._state["tile_status"] = f"{type(exc).__name__}: {exc}"
            prefix = "GPS outside tile coverage" if isinstance(exc, TileOutOfCoverage) else "tile source"
            return self._problem("ERROR", f"{prefix}: {type(exc).__name__}: {exc}", count="tile_errors")
        except InferenceError as exc:
            return self._problem("ERROR", f"inference: {type(exc).__name__}: {exc}", count="inference_errors")
        self._state["tile_status"] = "ok"
        self._state["confidence"] = est.confidence
        if est.confidence < float(self._param("min_confidence")):
            return self._problem("WARN", f"confidence {est.confidence:.3f} below min_confidence "
                                 f"{self._param('min_confidence')}: not published", count="low_confidence")
        self._publish(est, msg.header.stamp, frame)
        return None

    def _publish(self, est, stamp, frame: _Frame) -> None:
        map_frame = self._param("map_frame")
        self.pub_pose.publish(conv.estimate_to_pose(est, stamp, map_frame, float(self._param("unobserved_variance"))))
        prior_alt = self._gps[-1][1].alt_m if self._gps else 0.0
        self.pub_fix.publish(conv.estimate_to_navsat(est, stamp, map_frame, prior_alt))
        if self._param("publish_debug_image"):
            self.pub_debug.publish(conv.rgb_to_image_msg(probability_overlay(est), stamp, map_frame))
        if self._param("publish_tf"):
            self._publish_tf(est, stamp)
        now = time.monotonic_ns()
        self._latencies_ms.append((now - frame.received_ns) * 1e-6)
        self._done_times.append(now * 1e-9)
        self._stats["poses_published"] += 1
        self._state.update(level="OK", message="localizing")

    # --- TF (only with tf2_ros) -----------------------------------------------------------------------------
    def _setup_tf(self) -> None:
        if not self._param("publish_tf") or self._tf_broadcaster is not None:
            return
        if tf2_ros is None:
            self._problem("WARN", "publish_tf is true but tf2_ros is not importable: map->odom is not published",
                          count="tf_unavailable")
            return
        self._tf_buffer = tf2_ros.Buffer()  # pragma: no cover - needs tf2_ros
        self._tf_listener = tf2_ros.TransformListener(self._tf_buffer, self)  # pragma: no cover
        self._tf_broadcaster = tf2_ros.TransformBroadcaster(self)  # pragma: no cover

    def _publish_tf(self, est, stamp) -> None:  # pragma: no cover - needs tf2_ros
        if self._tf_broadcaster is None:
            return
        from geometry_msgs.msg import TransformStamped

        from geodistill_ros import geometry

        try:
            t = self._tf_buffer.lookup_transform(self._param("odom_frame"), self._param("base_frame"),
                                                 rclpy.time.Time.from_msg(stamp),
                                                 rclpy.duration.Duration(seconds=0.1))
        except Exception as exc:  # noqa: BLE001 - tf2 raises several lookup exceptions
            self._problem("WARN", f"map->odom not published: no {self._param('odom_frame')}->"
                          f"{self._param('base_frame')} at the image stamp ({exc})", count="tf_lookup_failures")
            return
        r = t.transform.rotation
        odom_base = (t.transform.translation.x, t.transform.translation.y,
                     geometry.yaw_from_quaternion(r.x, r.y, r.z, r.w))
        x, y, yaw = map_to_odom_2d((est.x_m, est.y_m, est.yaw_rad), odom_base)
        out = TransformStamped()
        out.header.stamp = stamp
        out.header.frame_id = self._param("map_frame")
        out.child_frame_id = self._param("odom_frame")
        out.transform.translation.x, out.transform.translation.y = x, y
        qx, qy, qz, qw = geometry.quaternion_from_yaw(yaw)
        out.transform.rotation.x, out.transform.rotation.y = qx, qy
        out.transform.rotation.z, out.transform.rotation.w = qz, qw
        self._tf_broadcaster.sendTransform(out)

    # --- diagnostics -----------------------------------------------------------------------------------------
    def _publish_datum(self) -> None:
        if self._datum is not None:
            self.pub_datum.publish(conv.datum_to_navsat(*self._datum, self.get_clock().now().to_msg(),
                                                        self._param("map_frame")))

    def _problem(self, level: str, message: str, count: str | None = None) -> None:
        if count:
            self._stats[count] += 1
        self._state.update(level=level, message=message, last_error=message)
        self.get_logger().warning(message, throttle_duration_sec=2.0)
        self.publish_diagnostics()

    def diagnostic_values(self) -> dict:
        done = list(self._done_times)
        rate = (len(done) - 1) / (done[-1] - done[0]) if len(done) > 1 and done[-1] > done[0] else 0.0
        lat = np.asarray(self._latencies_ms, dtype=np.float64)
        values = {
            "rate_hz": rate,
            "latency_ms_p50": float(np.percentile(lat, 50)) if lat.size else float("nan"),
            "latency_ms_p99": float(np.percentile(lat, 99)) if lat.size else float("nan"),
            "gps_age_s": self._state["gps_age_s"],
            "tile_status": self._state["tile_status"],
            "confidence": self._state["confidence"],
            "backend": self._localizer.backend_name if self._localizer is not None else "not loaded",
            "datum": list(self._datum) if self._datum is not None else "unset",
            "frames_dropped": self._slot.dropped,
            "last_error": self._state["last_error"],
        }
        for key in ("frames_received", "poses_published"):
            values[key] = self._stats[key]
        values.update({k: v for k, v in self._stats.items() if k not in values})
        return values

    def publish_diagnostics(self) -> None:
        try:
            self.pub_diag.publish(conv.diagnostic_array(self.get_clock().now().to_msg(), DIAGNOSTIC_NAME,
                                                        self.get_name(), self._state["level"],
                                                        self._state["message"], self.diagnostic_values()))
        except Exception as exc:  # noqa: BLE001 - e.g. publishing during shutdown
            self.get_logger().debug(f"diagnostics not published: {exc}")

    # --- lifecycle --------------------------------------------------------------------------------------------
    @property
    def frames_dropped(self) -> int:
        return self._slot.dropped

    def destroy_node(self):
        self._stop.set()
        self._slot.wake()
        if self._worker.is_alive():
            self._worker.join(timeout=10.0)
        if self._localizer is not None and hasattr(self._localizer.model, "close"):
            try:
                self._localizer.model.close()
            except Exception:  # noqa: BLE001
                pass
        return super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point of ``localizer_node`` (``ros2 run`` / ``python -m geodistill_ros.node --ros-args ...``)."""
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=args if args is not None else sys.argv)
    node = None
    try:
        node = LocalizerNode()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ValueError, ParameterException) as exc:  # invalid parameters at start-up
        print(f"localizer_node: {exc}", file=sys.stderr)
        return 2
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
