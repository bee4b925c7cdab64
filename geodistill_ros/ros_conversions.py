"""ROS 2 messages <-> numpy and Localizer types, for the node (and tools that talk to it).

In: ``sensor_msgs/Image`` and ``CompressedImage`` -> RGB uint8; ``CameraInfo`` -> camera model; ``NavSatFix``
-> :class:`~geodistill_ros.localizer.GpsPrior`; ``Imu`` / ``nav_msgs/Odometry`` ->
:class:`~geodistill_ros.localizer.YawPrior`; ``Imu`` -> :class:`~geodistill_ros.localizer.Attitude`.
Out: ``PoseWithCovarianceStamped``, ``NavSatFix``, ``DiagnosticArray`` and debug ``Image``.  Every conversion of
untrusted input raises :class:`ConversionError` (a ``ValueError``) with a message saying what is wrong; nothing
here returns NaN.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseWithCovarianceStamped
from sensor_msgs.msg import Image, NavSatFix, NavSatStatus

from geodistill_ros import geometry, navsat
from geodistill_ros.camera import camera_from_info, is_panorama_info
from geodistill_ros.localizer import Attitude, Estimate, GpsPrior, LocalizerInputError, YawPrior

# encoding -> (channels, bytes per channel)
ENCODINGS = {"rgb8": (3, 1), "bgr8": (3, 1), "rgba8": (4, 1), "bgra8": (4, 1), "mono8": (1, 1), "mono16": (1, 2)}
MAX_COMPRESSED_BYTES = 64 * 1024 * 1024
POSE_INDEX = {"x": 0, "y": 1, "z": 2, "roll": 3, "pitch": 4, "yaw": 5}
DEFAULT_UNOBSERVED_VARIANCE = 1.0e3  # z / roll / pitch: large and finite (robot_localization warns on 0 or huge)


class ConversionError(ValueError):
    """A message that cannot be converted (unsupported encoding, truncated data, NaN, no fix, ...)."""


# --- time ---------------------------------------------------------------------------------------------
def stamp_to_ns(stamp) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(ns: int) -> Time:
    return Time(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


# --- images -------------------------------------------------------------------------------------------
def _check_size(height: int, width: int, max_pixels: int) -> None:
    if height < 2 or width < 2:
        raise ConversionError(f"image too small: {width}x{height} (need at least 2x2)")
    if height * width > max_pixels:
        raise ConversionError(f"image too large: {width}x{height} > {max_pixels} pixels (max_image_pixels)")


def image_to_rgb(msg: Image, max_pixels: int = 50_000_000) -> np.ndarray:
    """``sensor_msgs/Image`` (rgb8, bgr8, rgba8, bgra8, mono8, mono16) -> RGB uint8 ``[H, W, 3]`` (a copy)."""
    encoding = str(msg.encoding).lower()
    if encoding not in ENCODINGS:
        raise ConversionError(f"unsupported image encoding {msg.encoding!r} (supported: {sorted(ENCODINGS)})")
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    _check_size(height, width, max_pixels)
    channels, depth = ENCODINGS[encoding]
    row_bytes = width * channels * depth
    if step < row_bytes:
        raise ConversionError(f"image step {step} is smaller than width * pixel size = {row_bytes}")
    data = np.frombuffer(memoryview(msg.data), dtype=np.uint8)
    if data.size < step * (height - 1) + row_bytes:
        raise ConversionError(f"image data has {data.size} bytes, expected {step * height} for {width}x{height} "
                              f"{encoding} with step {step}")
    rows = np.lib.stride_tricks.as_strided(data, shape=(height, row_bytes), strides=(step, 1))
    if depth == 2:
        dtype = np.dtype(">u2" if msg.is_bigendian else "<u2")
        pixels = rows.copy().view(dtype).reshape(height, width, channels)
        pixels = (pixels >> 8).astype(np.uint8)
    else:
        pixels = rows.reshape(height, width, channels)
    if encoding in ("mono8", "mono16"):
        return np.repeat(pixels, 3, axis=2)
    if encoding.startswith("bgr"):
        return np.ascontiguousarray(pixels[..., 2::-1])
    return np.ascontiguousarray(pixels[..., :3])


def _looks_complete(data: np.ndarray) -> str | None:
    """'jpeg' / 'png' when the bytes are a complete JPEG (ends with EOI) or PNG (ends with IEND), else None."""
    head, tail = bytes(data[:8]), bytes(data[-12:])
    if head[:2] == b"\xff\xd8":
        return "jpeg" if tail.rstrip(b"\x00")[-2:] == b"\xff\xd9" else None
    if head == b"\x89PNG\r\n\x1a\n":
        return "png" if b"IEND" in tail else None
    return None


def compressed_to_rgb(msg, max_pixels: int = 50_000_000) -> np.ndarray:
    """``sensor_msgs/CompressedImage`` (JPEG or PNG) -> RGB uint8 ``[H, W, 3]``; truncated data is an error."""
    data = np.frombuffer(memoryview(msg.data), dtype=np.uint8)
    if data.size == 0:
        raise ConversionError("compressed image is empty")
    if data.size > MAX_COMPRESSED_BYTES:
        raise ConversionError(f"compressed image is {data.size} bytes (> {MAX_COMPRESSED_BYTES})")
    kind = _looks_complete(data)
    if kind is None:
        raise ConversionError(f"compressed image ({msg.format!r}, {data.size} bytes) is truncated or not JPEG/PNG")
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if decoded is None:
        raise ConversionError(f"cannot decode the compressed {kind} image ({data.size} bytes)")
    _check_size(decoded.shape[0], decoded.shape[1], max_pixels)
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


def rgb_to_image_msg(rgb: np.ndarray, stamp, frame_id: str) -> Image:
    """RGB uint8 ``[H, W, 3]`` -> ``sensor_msgs/Image`` rgb8."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    msg = Image(height=int(rgb.shape[0]), width=int(rgb.shape[1]), encoding="rgb8", is_bigendian=0,
                step=int(rgb.shape[1] * 3))
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.data = rgb.tobytes()
    return msg


# --- cameras, GPS, heading ----------------------------------------------------------------------------
def camera_info_to_camera(msg, pitch_rad: float = 0.0):
    """``CameraInfo`` -> :class:`PinholeCamera` (or :class:`PanoramaCamera` for ``distortion_model:
    equirectangular``), validated (:func:`geodistill_ros.camera.camera_from_info` is the rule). Distortion other
    than none / plumb_bob with zero coefficients is not undistorted."""
    width, height = int(msg.width), int(msg.height)
    if width < 2 or height < 2:
        raise ConversionError(f"CameraInfo has no usable size ({width}x{height})")
    if not is_panorama_info(msg):
        k = np.asarray(msg.k, dtype=np.float64)
        if k.size != 9 or not np.all(np.isfinite(k)) or k[0] <= 0 or k[4] <= 0:
            raise ConversionError(f"CameraInfo K is not a valid pinhole matrix: {k.tolist()}")
    try:
        return camera_from_info(msg, pitch_rad)
    except ValueError as exc:
        raise ConversionError(str(exc)) from exc


def navsat_to_prior(msg: NavSatFix, default_sigma_m: float = navsat.DEFAULT_GPS_SIGMA_M) -> GpsPrior:
    """``NavSatFix`` -> :class:`GpsPrior`; no fix, NaN or out-of-range positions are errors. The ENU covariance
    is the message's (when known and finite) or ``default_sigma_m`` per axis (:mod:`geodistill_ros.navsat`)."""
    problem = navsat.fix_problem(msg)
    if problem is not None:
        raise ConversionError(problem)
    alt = float(msg.altitude)
    try:
        return GpsPrior(float(msg.latitude), float(msg.longitude), navsat.navsat_cov_en(msg, default_sigma_m),
                        alt if math.isfinite(alt) else 0.0)
    except LocalizerInputError as exc:
        raise ConversionError(str(exc)) from exc


def _yaw_of(q) -> float:
    quat = np.array([q.x, q.y, q.z, q.w], dtype=np.float64)
    norm = float(np.linalg.norm(quat))
    if not np.all(np.isfinite(quat)) or norm < 1e-6:
        raise ConversionError(f"orientation quaternion is invalid: {quat.tolist()}")
    quat /= norm
    return geometry.yaw_from_quaternion(*quat)


def imu_to_yaw_prior(msg) -> YawPrior:
    """``sensor_msgs/Imu`` with an absolute ENU orientation -> :class:`YawPrior` (variance from
    ``orientation_covariance[8]`` when given). The IMU frame is taken as aligned with base_link."""
    cov = np.asarray(msg.orientation_covariance, dtype=np.float64)
    if cov.size == 9 and cov[0] == -1.0:
        raise ConversionError("Imu carries no orientation (orientation_covariance[0] == -1)")
    var = float(cov[8]) if cov.size == 9 and math.isfinite(cov[8]) and cov[8] > 0 else None
    return YawPrior(_yaw_of(msg.orientation), var)


def imu_to_attitude(msg) -> Attitude:
    """``sensor_msgs/Imu`` -> base_link's :class:`Attitude` (REP-103 roll and pitch of its orientation; the IMU
    frame is taken as aligned with base_link). Roll and pitch are gravity-referenced, so an IMU without an
    absolute heading still gives them."""
    cov = np.asarray(msg.orientation_covariance, dtype=np.float64)
    if cov.size == 9 and cov[0] == -1.0:
        raise ConversionError("Imu carries no orientation (orientation_covariance[0] == -1)")
    q = msg.orientation
    try:
        roll, pitch = geometry.roll_pitch_from_quaternion(q.x, q.y, q.z, q.w)
    except ValueError as exc:
        raise ConversionError(str(exc)) from None
    return Attitude(roll, pitch)


def odometry_to_yaw_prior(msg) -> YawPrior:
    """``nav_msgs/Odometry`` whose pose is in an ENU-aligned frame -> :class:`YawPrior` of its child frame."""
    cov = np.asarray(msg.pose.covariance, dtype=np.float64)
    var = float(cov[35]) if cov.size == 36 and math.isfinite(cov[35]) and cov[35] > 0 else None
    return YawPrior(_yaw_of(msg.pose.pose.orientation), var)


# --- outputs ------------------------------------------------------------------------------------------
def pose_covariance_6x6(cov3: np.ndarray, unobserved_variance: float = DEFAULT_UNOBSERVED_VARIANCE) -> list[float]:
    """3x3 (x, y, yaw) covariance -> the 36 row-major values of (x, y, z, roll, pitch, yaw), with
    ``unobserved_variance`` on z / roll / pitch."""
    cov = np.zeros((6, 6))
    idx = [POSE_INDEX["x"], POSE_INDEX["y"], POSE_INDEX["yaw"]]
    cov[np.ix_(idx, idx)] = np.asarray(cov3, dtype=np.float64)
    for name in ("z", "roll", "pitch"):
        cov[POSE_INDEX[name], POSE_INDEX[name]] = unobserved_variance
    if not np.all(np.isfinite(cov)):
        raise ConversionError("covariance is not finite")
    return [float(v) for v in cov.reshape(-1)]


def estimate_to_pose(est: Estimate, stamp, frame_id: str,
                     unobserved_variance: float = DEFAULT_UNOBSERVED_VARIANCE) -> PoseWithCovarianceStamped:
    msg = PoseWithCovarianceStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.pose.pose.position.x = float(est.x_m)
    msg.pose.pose.position.y = float(est.y_m)
    msg.pose.pose.position.z = 0.0
    qx, qy, qz, qw = geometry.quaternion_from_yaw(float(est.yaw_rad))
    o = msg.pose.pose.orientation
    o.x, o.y, o.z, o.w = qx, qy, qz, qw
    msg.pose.covariance = pose_covariance_6x6(est.covariance, unobserved_variance)
    return msg


def estimate_to_navsat(est: Estimate, stamp, frame_id: str, altitude_m: float = 0.0,
                       status: int = NavSatStatus.STATUS_FIX, service: int = NavSatStatus.SERVICE_GPS,
                       altitude_variance_m2: float = DEFAULT_UNOBSERVED_VARIANCE) -> NavSatFix:
    """The refined fix (ENU covariance, known) at the image's stamp."""
    msg = NavSatFix()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.status.status = int(status)
    msg.status.service = int(service)
    msg.latitude, msg.longitude = float(est.lat_deg), float(est.lon_deg)
    msg.altitude = float(altitude_m) if math.isfinite(altitude_m) else 0.0
    cov = np.zeros((3, 3))
    cov[:2, :2] = est.covariance[:2, :2]
    cov[2, 2] = altitude_variance_m2
    msg.position_covariance = [float(v) for v in cov.reshape(-1)]
    msg.position_covariance_type = NavSatFix.COVARIANCE_TYPE_KNOWN
    return msg


def datum_to_navsat(lat_deg: float, lon_deg: float, stamp, frame_id: str, alt_m: float = 0.0) -> NavSatFix:
    """The map frame's datum as a ``NavSatFix`` (covariance unknown)."""
    msg = NavSatFix()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.status.status = NavSatStatus.STATUS_FIX
    msg.latitude, msg.longitude, msg.altitude = float(lat_deg), float(lon_deg), float(alt_m)
    msg.position_covariance_type = NavSatFix.COVARIANCE_TYPE_UNKNOWN
    return msg


LEVELS = {"OK": DiagnosticStatus.OK, "WARN": DiagnosticStatus.WARN, "ERROR": DiagnosticStatus.ERROR,
          "STALE": DiagnosticStatus.STALE}


def diagnostic_array(stamp, name: str, hardware_id: str, level: str, message: str, values: dict) -> DiagnosticArray:
    """One ``DiagnosticStatus`` (level ``OK`` / ``WARN`` / ``ERROR`` / ``STALE``) in a ``DiagnosticArray``."""
    status = DiagnosticStatus(level=LEVELS[level], name=name, message=str(message)[:1000], hardware_id=hardware_id)
    status.values = [KeyValue(key=str(k), value=_format_value(v)) for k, v in values.items()]
    arr = DiagnosticArray()
    arr.header.stamp = stamp
    arr.status = [status]
    return arr


def _format_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
