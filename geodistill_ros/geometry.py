"""Geometry conventions of the whole project, written once, as pure numpy functions.

Frames and units (REP-103 / REP-105)
------------------------------------
- ``map`` frame: ENU (x east, y north, z up), metres, a local tangent plane about a WGS84 datum
  ``(lat0_deg, lon0_deg, alt0_m)``.
- ``yaw_rad``: heading of the robot's x axis, counter-clockwise from east.
  ``azimuth_rad`` (a compass bearing): clockwise from north.  ``azimuth = pi/2 - yaw``.
- Camera optical frame (pinhole): z forward, x right, y down. Pinhole intrinsics (fx, fy, cx, cy) follow
  OpenCV / CameraInfo: pixel centres at integer coordinates.

Images
------
- Continuous pixel coordinates everywhere: pixel ``(row, col)`` covers ``[row, row+1) x [col, col+1)``,
  so its centre is ``(row + 0.5, col + 0.5)``; the centre of an ``S x S`` patch is the point ``(S/2, S/2)``.
- Satellite / orthophoto patches are north-up: rows grow southwards, columns grow eastwards.
- Panoramas follow VIGOR: equirectangular ``H x W``, north at the centre column, azimuth increasing to the
  right (clockwise), zenith at the top edge, horizon at mid-height, nadir at the bottom edge:
  ``u = ((azimuth / 2pi + 0.5) mod 1) * W``, ``v = zenith_angle / pi * H``.
  A robot-mounted panorama has its *forward* direction at the centre column; rolling it by the heading
  (:func:`north_align_shift_px`) makes it north-centred.
- VIGOR label offsets ``[d_north, d_east]`` are (satellite centre - camera) in pixels, so the camera sits at
  ``row = S/2 + d_north``, ``col = S/2 - d_east``.

Web Mercator (XYZ tiles)
------------------------
EPSG:3857 on a sphere of radius 6378137 m, 256-px tiles, tile ``(x, y)`` counted from the north-west corner
(XYZ / "slippy map"); MBTiles stores TMS rows ``2**z - 1 - y``.
"""

from __future__ import annotations

import math

import numpy as np

# --- WGS84 ellipsoid ---------------------------------------------------------------------------------
WGS84_A = 6378137.0
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)
WGS84_B = WGS84_A * (1.0 - WGS84_F)
# Web Mercator sphere radius and extent.
MERCATOR_RADIUS = 6378137.0
MERCATOR_MAX_LAT_DEG = 85.0511287798066
TILE_SIZE_PX = 256


# --- angles ------------------------------------------------------------------------------------------
def wrap_angle(angle_rad):
    """Wrap angles to ``[-pi, pi)``."""
    return (np.asarray(angle_rad, dtype=np.float64) + np.pi) % (2.0 * np.pi) - np.pi


def yaw_to_azimuth(yaw_rad):
    """ENU yaw (CCW from east) -> compass azimuth (CW from north), in ``[0, 2pi)``."""
    return (np.pi / 2.0 - np.asarray(yaw_rad, dtype=np.float64)) % (2.0 * np.pi)


def azimuth_to_yaw(azimuth_rad):
    """Compass azimuth (CW from north) -> ENU yaw (CCW from east), in ``[-pi, pi)``."""
    return wrap_angle(np.pi / 2.0 - np.asarray(azimuth_rad, dtype=np.float64))


def yaw_from_quaternion(x, y, z, w) -> float:
    """Yaw (rotation about +z) of a quaternion, radians."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def roll_pitch_from_quaternion(x: float, y: float, z: float, w: float) -> tuple[float, float]:
    """REP-103 ``(roll_rad, pitch_rad)`` (ZYX Euler) of an orientation quaternion (e.g. ``sensor_msgs/Imu``)."""
    n = math.sqrt(x * x + y * y + z * z + w * w)
    if not math.isfinite(n) or n < 1e-9:
        raise ValueError(f"not a rotation quaternion: ({x}, {y}, {z}, {w})")
    x, y, z, w = x / n, y / n, z / n, w / n
    roll = math.atan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    pitch = math.asin(max(-1.0, min(1.0, 2.0 * (w * y - z * x))))
    return roll, pitch


def quaternion_from_rpy(roll_rad: float, pitch_rad: float, yaw_rad: float) -> tuple[float, float, float, float]:
    """Quaternion ``(x, y, z, w)`` of the REP-103 ZYX Euler angles: ``Rz(yaw) Ry(pitch) Rx(roll)``."""
    cr, sr = math.cos(roll_rad / 2.0), math.sin(roll_rad / 2.0)
    cp, sp = math.cos(pitch_rad / 2.0), math.sin(pitch_rad / 2.0)
    cy, sy = math.cos(yaw_rad / 2.0), math.sin(yaw_rad / 2.0)
    return (sr * cp * cy - cr * sp * sy, cr * sp * cy + sr * cp * sy, cr * cp * sy - sr * sp * cy,
            cr * cp * cy + sr * sp * sy)


def quaternion_from_yaw(yaw_rad: float) -> tuple[float, float, float, float]:
    """Quaternion ``(x, y, z, w)`` of a pure rotation by ``yaw_rad`` about +z."""
    return (0.0, 0.0, math.sin(yaw_rad / 2.0), math.cos(yaw_rad / 2.0))


# --- geodetic <-> ECEF <-> ENU -----------------------------------------------------------------------
def geodetic_to_ecef(lat_deg, lon_deg, alt_m=0.0):
    """WGS84 geodetic -> ECEF metres. Arrays broadcast; returns ``(x, y, z)``."""
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    alt = np.asarray(alt_m, dtype=np.float64)
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * np.sin(lat) ** 2)
    x = (n + alt) * np.cos(lat) * np.cos(lon)
    y = (n + alt) * np.cos(lat) * np.sin(lon)
    z = (n * (1.0 - WGS84_E2) + alt) * np.sin(lat)
    return x, y, z


def ecef_to_geodetic(x, y, z):
    """ECEF metres -> WGS84 ``(lat_deg, lon_deg, alt_m)`` (Bowring, then two Newton refinements)."""
    x, y, z = (np.asarray(v, dtype=np.float64) for v in (x, y, z))
    lon = np.arctan2(y, x)
    p = np.hypot(x, y)
    ep2 = (WGS84_A**2 - WGS84_B**2) / WGS84_B**2
    theta = np.arctan2(z * WGS84_A, p * WGS84_B)
    lat = np.arctan2(z + ep2 * WGS84_B * np.sin(theta) ** 3, p - WGS84_E2 * WGS84_A * np.cos(theta) ** 3)
    for _ in range(2):
        n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * np.sin(lat) ** 2)
        alt = p / np.cos(lat) - n
        lat = np.arctan2(z, p * (1.0 - WGS84_E2 * n / (n + alt)))
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * np.sin(lat) ** 2)
    alt = p / np.cos(lat) - n
    return np.degrees(lat), np.degrees(lon), alt


def _enu_rotation(lat0_deg, lon0_deg) -> np.ndarray:
    lat0, lon0 = math.radians(lat0_deg), math.radians(lon0_deg)
    sl, cl, so, co = math.sin(lat0), math.cos(lat0), math.sin(lon0), math.cos(lon0)
    return np.array([[-so, co, 0.0], [-sl * co, -sl * so, cl], [cl * co, cl * so, sl]])


def geodetic_to_enu(lat_deg, lon_deg, alt_m, lat0_deg, lon0_deg, alt0_m=0.0):
    """WGS84 geodetic -> ENU ``(east_m, north_m, up_m)`` about the datum ``(lat0, lon0, alt0)``."""
    x, y, z = geodetic_to_ecef(lat_deg, lon_deg, alt_m)
    x0, y0, z0 = geodetic_to_ecef(lat0_deg, lon0_deg, alt0_m)
    d = np.stack(np.broadcast_arrays(x - x0, y - y0, z - z0), axis=0)
    enu = np.tensordot(_enu_rotation(lat0_deg, lon0_deg), d, axes=1)
    return enu[0], enu[1], enu[2]


def enu_to_geodetic(east_m, north_m, up_m, lat0_deg, lon0_deg, alt0_m=0.0):
    """ENU metres about the datum -> WGS84 ``(lat_deg, lon_deg, alt_m)``."""
    d = np.stack(np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (east_m, north_m, up_m))))
    xyz = np.tensordot(_enu_rotation(lat0_deg, lon0_deg).T, d, axes=1)
    x0, y0, z0 = geodetic_to_ecef(lat0_deg, lon0_deg, alt0_m)
    return ecef_to_geodetic(xyz[0] + x0, xyz[1] + y0, xyz[2] + z0)


# --- Web Mercator ------------------------------------------------------------------------------------
def mercator_meters_per_pixel(lat_deg, zoom, tile_size: int = TILE_SIZE_PX):
    """Ground metres per Web-Mercator pixel at ``zoom`` and latitude (the cos(lat) scale correction)."""
    return np.cos(np.radians(lat_deg)) * 2.0 * np.pi * MERCATOR_RADIUS / (tile_size * 2.0**zoom)


def zoom_for_resolution(meters_per_pixel: float, lat_deg: float, tile_size: int = TILE_SIZE_PX) -> int:
    """Smallest integer zoom whose ground resolution is at least as fine as ``meters_per_pixel``."""
    if meters_per_pixel <= 0:
        raise ValueError(f"meters_per_pixel must be > 0, got {meters_per_pixel}")
    z = math.log2(math.cos(math.radians(lat_deg)) * 2 * math.pi * MERCATOR_RADIUS / (tile_size * meters_per_pixel))
    return max(0, int(math.ceil(z - 1e-9)))


def latlon_to_world_pixel(lat_deg, lon_deg, zoom, tile_size: int = TILE_SIZE_PX):
    """Lat/lon -> continuous global pixel ``(px, py)`` at ``zoom`` (origin: north-west corner of the world)."""
    lat = np.clip(np.asarray(lat_deg, dtype=np.float64), -MERCATOR_MAX_LAT_DEG, MERCATOR_MAX_LAT_DEG)
    lon = np.asarray(lon_deg, dtype=np.float64)
    scale = tile_size * 2.0**zoom
    px = (lon + 180.0) / 360.0 * scale
    s = np.sin(np.radians(lat))
    py = (0.5 - np.log((1.0 + s) / (1.0 - s)) / (4.0 * np.pi)) * scale
    return px, py


def world_pixel_to_latlon(px, py, zoom, tile_size: int = TILE_SIZE_PX):
    """Continuous global pixel at ``zoom`` -> ``(lat_deg, lon_deg)``."""
    scale = tile_size * 2.0**zoom
    lon = np.asarray(px, dtype=np.float64) / scale * 360.0 - 180.0
    y = 0.5 - np.asarray(py, dtype=np.float64) / scale
    lat = 90.0 - 360.0 * np.arctan(np.exp(-y * 2.0 * np.pi)) / np.pi
    return lat, lon


def latlon_to_tile(lat_deg: float, lon_deg: float, zoom: int) -> tuple[int, int]:
    """XYZ tile ``(x, y)`` holding the point."""
    px, py = latlon_to_world_pixel(lat_deg, lon_deg, zoom)
    n = 2**zoom
    return int(min(max(px // TILE_SIZE_PX, 0), n - 1)), int(min(max(py // TILE_SIZE_PX, 0), n - 1))


def tms_row(y: int, zoom: int) -> int:
    """XYZ row <-> TMS row (MBTiles ``tile_row``); the map is its own inverse."""
    return (1 << zoom) - 1 - y


def quadkey(x: int, y: int, zoom: int) -> str:
    """Bing-style quadkey of an XYZ tile."""
    digits = []
    for i in range(zoom, 0, -1):
        mask = 1 << (i - 1)
        digits.append(str((1 if x & mask else 0) + (2 if y & mask else 0)))
    return "".join(digits)


# --- satellite patches ---------------------------------------------------------------------------------
def enu_to_patch_pixel(east_m, north_m, center_east_m, center_north_m, meters_per_pixel, size_px):
    """ENU point -> continuous ``(row, col)`` in a north-up patch of ``size_px`` centred on the given point."""
    row = size_px / 2.0 - (np.asarray(north_m, dtype=np.float64) - center_north_m) / meters_per_pixel
    col = size_px / 2.0 + (np.asarray(east_m, dtype=np.float64) - center_east_m) / meters_per_pixel
    return row, col


def patch_pixel_to_enu(row, col, center_east_m, center_north_m, meters_per_pixel, size_px):
    """Continuous ``(row, col)`` of a north-up patch -> ENU ``(east_m, north_m)``."""
    east = center_east_m + (np.asarray(col, dtype=np.float64) - size_px / 2.0) * meters_per_pixel
    north = center_north_m - (np.asarray(row, dtype=np.float64) - size_px / 2.0) * meters_per_pixel
    return east, north


def vigor_offsets_to_pixel(d_north_px, d_east_px, size_px: int = 640):
    """VIGOR label offsets (satellite centre - camera, pixels, [north, east]) -> camera ``(row, col)``."""
    return size_px / 2.0 + np.asarray(d_north_px), size_px / 2.0 - np.asarray(d_east_px)


def pixel_to_vigor_offsets(row, col, size_px: int = 640):
    """Camera ``(row, col)`` in a satellite patch -> VIGOR offsets ``(d_north_px, d_east_px)``."""
    return np.asarray(row) - size_px / 2.0, size_px / 2.0 - np.asarray(col)


# --- panoramas ---------------------------------------------------------------------------------------
def panorama_uv(azimuth_rad, zenith_rad, width: int, height: int):
    """Direction (azimuth CW from north, angle from zenith) -> continuous panorama ``(u, v)``."""
    u = ((np.asarray(azimuth_rad, dtype=np.float64) / (2.0 * np.pi) + 0.5) % 1.0) * width
    v = np.asarray(zenith_rad, dtype=np.float64) / np.pi * height
    return u, v


def panorama_direction(u, v, width: int, height: int):
    """Continuous panorama ``(u, v)`` -> ``(azimuth_rad in [0, 2pi), zenith_rad)``."""
    az = (np.asarray(u, dtype=np.float64) / width - 0.5) * 2.0 * np.pi
    return az % (2.0 * np.pi), np.asarray(v, dtype=np.float64) / height * np.pi


def ground_point_to_panorama_uv(east_m, north_m, camera_height_m: float, width: int, height: int):
    """Ground point at ENU offset from the camera (z = -camera height) -> panorama ``(u, v)``.

    This is the ground-to-aerial projection's core: bearing gives the column, the angle from zenith
    ``atan2(distance, -h)`` gives the row (nadir at the bottom, horizon approached at infinity).
    """
    e = np.asarray(east_m, dtype=np.float64)
    n = np.asarray(north_m, dtype=np.float64)
    azimuth = np.arctan2(e, n)
    zenith = np.arctan2(np.hypot(e, n), -camera_height_m)
    return panorama_uv(azimuth, zenith, width, height)


def north_align_shift_px(yaw_rad: float, width: int) -> float:
    """Columns to roll a forward-centred panorama (robot heading ``yaw_rad``) so north is centred.

    ``np.roll(pano, int(round(shift)), axis=1)`` moves the forward direction (azimuth ``pi/2 - yaw``) from
    the centre column to where VIGOR's convention puts it.
    """
    return float(yaw_to_azimuth(yaw_rad)) / (2.0 * np.pi) * width


# --- pinhole -----------------------------------------------------------------------------------------
def pinhole_ray_directions(width: int, height: int, fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """Unit rays ``[H, W, 3]`` in the optical frame (x right, y down, z forward) through pixel centres.

    Pinhole intrinsics follow OpenCV / ``sensor_msgs/CameraInfo``: pixel *centres* sit at integer coordinates
    (column ``i`` is at ``u = i``), unlike the continuous coordinates used for panoramas and satellite patches.
    """
    cols = np.arange(width, dtype=np.float64)
    rows = np.arange(height, dtype=np.float64)
    uu, vv = np.meshgrid(cols, rows)
    rays = np.stack([(uu - cx) / fx, (vv - cy) / fy, np.ones_like(uu)], axis=-1)
    return rays / np.linalg.norm(rays, axis=-1, keepdims=True)


def optical_to_enu_rotation(yaw_rad: float, pitch_rad: float = 0.0) -> np.ndarray:
    """Rotation ``R`` (3x3) taking optical-frame vectors of a camera looking along ``yaw_rad``
    (CCW from east; pitch positive up) into ENU: ``v_enu = R @ v_optical``."""
    cy, sy = math.cos(yaw_rad), math.sin(yaw_rad)
    cp, sp = math.cos(pitch_rad), math.sin(pitch_rad)
    forward = np.array([cy * cp, sy * cp, sp])
    left = np.array([-sy, cy, 0.0])
    up = np.cross(forward, left)
    # optical x = right = -left, y = down = -up, z = forward
    return np.stack([-left, -up, forward], axis=1)


def rot_x(angle_rad: float) -> np.ndarray:
    """Rotation about x by ``angle_rad`` (right-handed)."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(angle_rad: float) -> np.ndarray:
    """Rotation about y by ``angle_rad`` (right-handed)."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(angle_rad: float) -> np.ndarray:
    """Rotation about z by ``angle_rad`` (right-handed)."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def tilt_rotation(roll_rad: float, pitch_rad: float, mount_yaw_rad: float = 0.0) -> np.ndarray:
    """``R_level_cam`` (3x3): a camera's axes (x forward, y left, z up) in the gravity-aligned frame that has the
    camera's heading, for a body at REP-103 ``roll_rad`` / ``pitch_rad`` (ZYX Euler angles: roll about x, positive
    right side down; pitch about y, positive nose down) whose camera looks ``mount_yaw_rad`` CCW of the body x axis.

    Identity for a level body. ``Rz(-m) Ry(pitch) Rx(roll) Rz(m)``: the body's tilt seen from the camera's heading.
    """
    m = float(mount_yaw_rad)
    return rot_z(-m) @ rot_y(float(pitch_rad)) @ rot_x(float(roll_rad)) @ rot_z(m)


def covariance_ellipse(cov_2x2, n_sigma: float = 1.0):
    """Axes ``(a, b)`` (metres, a >= b) and orientation (rad, CCW from x) of the ``n_sigma`` ellipse."""
    vals, vecs = np.linalg.eigh(np.asarray(cov_2x2, dtype=np.float64))
    vals = np.clip(vals, 0.0, None)
    a, b = n_sigma * np.sqrt(vals[1]), n_sigma * np.sqrt(vals[0])
    return float(a), float(b), float(math.atan2(vecs[1, 1], vecs[0, 1]))
