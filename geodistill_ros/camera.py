"""Camera models and the ground canvas every model input is built from.

The localizer network always sees a **north-aligned equirectangular canvas** ``[Hg, Wg, 3]`` plus a
**visibility mask** ``[Hg, Wg]`` (VIGOR layout: north at the centre column, azimuth clockwise to the right,
zenith at the top). A panorama fills the whole canvas; a pinhole image fills the part of the sphere it saw.
``yaw_rad`` is always the ENU yaw (CCW from east) of the camera's forward direction, i.e. of the panorama's
centre column or of the pinhole optical axis. ``tilt`` (optional, ``geometry.tilt_rotation``) is the camera's
attitude off level: the canvas is then built from the rays a level camera would have seen.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from geodistill_ros import geometry


@dataclass(frozen=True)
class PanoramaCamera:
    """Equirectangular 360-degree camera; forward direction at the centre column (VIGOR layout)."""

    width: int
    height: int

    def __post_init__(self):
        if self.width < 2 or self.height < 2:
            raise ValueError(f"panorama size must be at least 2x2, got {self.width}x{self.height}")


@dataclass(frozen=True)
class PinholeCamera:
    """Pinhole camera, intrinsics in OpenCV / CameraInfo convention (pixel centres at integer coordinates)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    pitch_rad: float = 0.0

    def __post_init__(self):
        if self.width < 2 or self.height < 2:
            raise ValueError(f"pinhole image size must be at least 2x2, got {self.width}x{self.height}")
        if not (self.fx > 0 and self.fy > 0 and math.isfinite(self.cx) and math.isfinite(self.cy)):
            raise ValueError(f"invalid pinhole intrinsics fx={self.fx} fy={self.fy} cx={self.cx} cy={self.cy}")

    @classmethod
    def from_k(cls, k, width: int, height: int, pitch_rad: float = 0.0) -> PinholeCamera:
        """From a row-major 3x3 ``K`` (``CameraInfo.k``)."""
        k = np.asarray(k, dtype=np.float64).reshape(3, 3)
        return cls(int(width), int(height), float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]), pitch_rad)

    @property
    def horizontal_fov_rad(self) -> float:
        return 2.0 * math.atan2(self.width / 2.0, self.fx)

    def scaled(self, factor: float) -> PinholeCamera:
        """The same camera after resizing its image by ``factor``."""
        w, h = max(2, int(round(self.width * factor))), max(2, int(round(self.height * factor)))
        sx, sy = w / self.width, h / self.height
        return PinholeCamera(w, h, self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5,
                             self.pitch_rad)


EQUIRECTANGULAR = "equirectangular"  # CameraInfo.distortion_model of a panorama


def is_panorama_info(info) -> bool:
    """Whether a ``CameraInfo``-like object (rclpy or rosbags) describes an equirectangular panorama."""
    return str(info.distortion_model).lower() == EQUIRECTANGULAR


def camera_from_info(info, pitch_rad: float = 0.0) -> PanoramaCamera | PinholeCamera:
    """The camera model of a ``CameraInfo``-like object: ``distortion_model: equirectangular`` -> panorama,
    else a pinhole from ``k`` (the models' own checks raise ``ValueError``; distortion is not undistorted)."""
    if is_panorama_info(info):
        return PanoramaCamera(int(info.width), int(info.height))
    return PinholeCamera.from_k(np.asarray(info.k, np.float64), int(info.width), int(info.height), pitch_rad)


def _as_float_image(image: np.ndarray) -> np.ndarray:
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image [H, W, 3], got shape {image.shape}")
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    return np.clip(image.astype(np.float32), 0.0, 1.0)


def canvas_directions(canvas_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth (CW from north) and zenith angle of every canvas pixel centre, each ``[Hg, Wg]``."""
    hg, wg = canvas_hw
    u = np.arange(wg, dtype=np.float64) + 0.5
    v = np.arange(hg, dtype=np.float64) + 0.5
    uu, vv = np.meshgrid(u, v)
    return geometry.panorama_direction(uu, vv, wg, hg)


@functools.lru_cache(maxsize=8)
def _canvas_rays_enu(canvas_hw: tuple[int, int]) -> np.ndarray:
    """Unit ENU direction ``[Hg, Wg, 3]`` of every canvas pixel (read-only; the same for every frame)."""
    azimuth, zenith = canvas_directions(canvas_hw)
    d_enu = np.stack([np.sin(zenith) * np.sin(azimuth), np.sin(zenith) * np.cos(azimuth), np.cos(zenith)], axis=-1)
    d_enu.flags.writeable = False
    return d_enu


def level_panorama(pano: np.ndarray, tilt: np.ndarray) -> np.ndarray:
    """The forward-centred panorama a level camera at the same place and heading would take.

    Args:
        pano: equirectangular ``[H, W, C]`` (forward at the centre column, azimuth clockwise to the right).
        tilt: ``R_level_cam`` 3x3, the camera's axes (x forward, y left, z up) in the level frame with its heading
            (``geometry.tilt_rotation``).
    Returns:
        the levelled panorama, same shape and dtype (bilinear).
    """
    h, w = pano.shape[:2]
    alpha, theta = canvas_directions((h, w))  # the canvas layout, azimuth clockwise from the centre column
    st = np.sin(theta)
    d_level = np.stack([st * np.cos(alpha), -st * np.sin(alpha), np.cos(theta)], axis=-1)  # forward, left, up
    d_cam = d_level @ np.asarray(tilt, dtype=np.float64)  # rows: (R^T d)^T = d^T R
    u, v = geometry.panorama_uv(np.arctan2(-d_cam[..., 1], d_cam[..., 0]),
                                np.arccos(np.clip(d_cam[..., 2], -1.0, 1.0)), w, h)
    map_x = ((u - 0.5) % w).astype(np.float32)  # continuous coordinates -> pixel-centre indices
    map_x[map_x >= w] = 0.0  # w - 1e-14 rounds up to w in float32: that is column 0, not past the last one
    return cv2.remap(pano, map_x, (v - 0.5).astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _panorama_canvas(image: np.ndarray, yaw_rad: float, canvas_hw: tuple[int, int], tilt=None):
    hg, wg = canvas_hw
    # shrink first (uint8 stays uint8: 4x less memory traffic than converting the full image to float)
    small = cv2.resize(image, (wg, hg), interpolation=cv2.INTER_AREA) if image.shape[:2] != (hg, wg) else image
    if tilt is not None:
        small = level_panorama(small, tilt)
    small = _as_float_image(small)
    # canvas column u (north-aligned) shows the direction that the forward-centred image has at u - shift
    shift = geometry.north_align_shift_px(yaw_rad, wg)
    map_x = ((np.arange(wg, dtype=np.float64) - shift) % wg).astype(np.float32)
    map_x = np.broadcast_to(map_x, (hg, wg)).copy()
    map_y = np.broadcast_to(np.arange(hg, dtype=np.float32)[:, None], (hg, wg)).copy()
    canvas = cv2.remap(small, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    return canvas, np.ones((hg, wg), dtype=np.float32)


def _pinhole_canvas(image: np.ndarray, camera: PinholeCamera, yaw_rad: float, canvas_hw: tuple[int, int],
                    tilt=None):
    hg, wg = canvas_hw
    if image.shape[:2] != (camera.height, camera.width):
        raise ValueError(f"image is {image.shape[1]}x{image.shape[0]} but the camera is {camera.width}x{camera.height}")
    # Pre-shrink the image to about the canvas's angular resolution so the warp does not alias.
    canvas_rad_per_px = 2.0 * math.pi / wg
    image_rad_per_px = camera.horizontal_fov_rad / camera.width
    factor = min(1.0, image_rad_per_px / canvas_rad_per_px * 2.0)
    if factor < 1.0:
        camera = camera.scaled(factor)
        image = cv2.resize(image, (camera.width, camera.height), interpolation=cv2.INTER_AREA)
    d_enu = _canvas_rays_enu(canvas_hw)
    rot = geometry.optical_to_enu_rotation(yaw_rad, camera.pitch_rad)
    if tilt is not None:  # the level heading frame is Rz(yaw) of (forward, left, up); tilt acts inside it
        rot = geometry.rot_z(yaw_rad) @ np.asarray(tilt, dtype=np.float64) @ geometry.rot_z(-yaw_rad) @ rot
    d_opt = d_enu @ rot  # rows: (R^T d)^T = d^T R
    z = d_opt[..., 2]
    in_front = z > 1e-6
    z_safe = np.where(in_front, z, 1.0)
    map_x = camera.fx * d_opt[..., 0] / z_safe + camera.cx
    map_y = camera.fy * d_opt[..., 1] / z_safe + camera.cy
    seen = in_front & (map_x >= -0.5) & (map_x <= camera.width - 0.5) & (map_y >= -0.5) & (map_y <= camera.height - 0.5)
    map_x = np.where(seen, map_x, -10.0).astype(np.float32)
    map_y = np.where(seen, map_y, -10.0).astype(np.float32)
    canvas = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    canvas[~seen] = 0.0
    return canvas, seen.astype(np.float32)


def ground_canvas(image: np.ndarray, camera, yaw_rad: float, canvas_hw: tuple[int, int], tilt=None):
    """Build the north-aligned equirectangular canvas and its visibility mask.

    Args:
        image: RGB ``[H, W, 3]`` (uint8, or float in [0, 1]).
        camera: :class:`PanoramaCamera` or :class:`PinholeCamera` describing ``image``.
        yaw_rad: ENU yaw (CCW from east) of the camera's forward direction.
        canvas_hw: ``(Hg, Wg)`` of the canvas.
        tilt: None (a level camera) or ``R_level_cam`` 3x3 (``geometry.tilt_rotation``) to level the image first.
    Returns:
        ``canvas`` float32 ``[Hg, Wg, 3]`` in [0, 1] and ``mask`` float32 ``[Hg, Wg]`` (1 = seen).
    """
    if not math.isfinite(yaw_rad):
        raise ValueError(f"yaw_rad must be finite, got {yaw_rad}")
    hg, wg = int(canvas_hw[0]), int(canvas_hw[1])
    if hg < 2 or wg < 2:
        raise ValueError(f"canvas must be at least 2x2, got {canvas_hw}")
    image = np.asarray(image)
    if isinstance(camera, PanoramaCamera):
        _as_float_image(image[:1, :1])  # shape check before any work
        return _panorama_canvas(image, yaw_rad, (hg, wg), tilt)
    if isinstance(camera, PinholeCamera):
        return _pinhole_canvas(_as_float_image(image), camera, yaw_rad, (hg, wg), tilt)
    raise TypeError(f"unsupported camera model {type(camera).__name__}")


def fov_mask(canvas_hw: tuple[int, int], center_azimuth_rad: float, fov_rad: float) -> np.ndarray:
    """Mask ``[Hg, Wg]`` of one contiguous azimuth sector (``fov_rad`` wide, centred on ``center_azimuth_rad``)."""
    azimuth, _ = canvas_directions(canvas_hw)
    delta = geometry.wrap_angle(azimuth - center_azimuth_rad)
    return (np.abs(delta) <= fov_rad / 2.0).astype(np.float32)
