"""Known-value tests for the conventions in geodistill_ros.geometry."""

import math

import numpy as np
import pytest

from geodistill_ros import geometry as g


def test_yaw_azimuth_known_values():
    # east: yaw 0 = azimuth 90 deg; north: yaw 90 = azimuth 0; west: yaw 180 = azimuth 270
    assert g.yaw_to_azimuth(0.0) == pytest.approx(math.pi / 2)
    assert g.yaw_to_azimuth(math.pi / 2) == pytest.approx(0.0)
    assert g.yaw_to_azimuth(math.pi) == pytest.approx(3 * math.pi / 2)
    assert g.azimuth_to_yaw(3 * math.pi / 2) == pytest.approx(-math.pi)
    for yaw in np.linspace(-3, 3, 13):
        assert g.azimuth_to_yaw(g.yaw_to_azimuth(yaw)) == pytest.approx(yaw)


def test_wrap_angle():
    assert g.wrap_angle(3 * math.pi) == pytest.approx(-math.pi)
    assert g.wrap_angle(-0.5) == pytest.approx(-0.5)
    assert g.wrap_angle(2 * math.pi + 0.25) == pytest.approx(0.25)


def test_quaternion_yaw_round_trip():
    for yaw in (-2.5, -0.1, 0.0, 1.2, 3.0):
        assert g.yaw_from_quaternion(*g.quaternion_from_yaw(yaw)) == pytest.approx(yaw)


def test_enu_known_offsets_and_round_trip():
    lat0, lon0 = 37.7749, -122.4194
    # one arc-second of latitude is about 30.8 m northwards at this latitude
    e, n, u = g.geodetic_to_enu(lat0 + 1 / 3600, lon0, 0.0, lat0, lon0, 0.0)
    assert abs(e) < 1e-6 and n == pytest.approx(30.83, abs=0.05) and abs(u) < 0.01
    east = np.array([0.0, 500.0, -750.0, 1234.5])
    north = np.array([0.0, -250.0, 900.0, 10.0])
    lat, lon, alt = g.enu_to_geodetic(east, north, 0.0, lat0, lon0, 0.0)
    e2, n2, u2 = g.geodetic_to_enu(lat, lon, alt, lat0, lon0, 0.0)
    np.testing.assert_allclose(e2, east, atol=1e-6)
    np.testing.assert_allclose(n2, north, atol=1e-6)


def test_mercator_round_trip_and_resolution():
    lat, lon = 48.8566, 2.3522
    for z in (0, 10, 19, 21):
        px, py = g.latlon_to_world_pixel(lat, lon, z)
        lat2, lon2 = g.world_pixel_to_latlon(px, py, z)
        assert lat2 == pytest.approx(lat, abs=1e-9) and lon2 == pytest.approx(lon, abs=1e-9)
    # zoom 0: the equator is 40075 km over 256 px
    assert g.mercator_meters_per_pixel(0.0, 0) == pytest.approx(156543.034, rel=1e-6)
    assert g.mercator_meters_per_pixel(60.0, 1) == pytest.approx(156543.034 / 4, rel=1e-6)
    z = g.zoom_for_resolution(0.2, lat)
    assert g.mercator_meters_per_pixel(lat, z) <= 0.2 < g.mercator_meters_per_pixel(lat, z - 1)


def test_tiles_quadkey_tms():
    assert g.latlon_to_tile(0.0, 0.0, 1) == (1, 1)
    assert g.latlon_to_tile(51.5, -0.12, 10) == (511, 340)
    assert g.quadkey(3, 5, 3) == "213"
    assert g.tms_row(0, 3) == 7 and g.tms_row(g.tms_row(5, 3), 3) == 5


def test_patch_pixel_enu():
    row, col = g.enu_to_patch_pixel(10.0, 5.0, 0.0, 0.0, 0.5, 100)
    assert (row, col) == (40.0, 70.0)  # north is up (smaller row), east is right
    e, n = g.patch_pixel_to_enu(row, col, 0.0, 0.0, 0.5, 100)
    assert (e, n) == (10.0, 5.0)


def test_vigor_offsets():
    # camera 20 px north and 30 px east of the centre: offsets are centre - camera = [-20, -30]
    d0, d1 = g.pixel_to_vigor_offsets(300.0, 350.0, 640)
    assert (d0, d1) == (-20.0, -30.0)
    assert g.vigor_offsets_to_pixel(d0, d1, 640) == (300.0, 350.0)


def test_panorama_layout():
    w, h = 1024, 512
    u, _ = g.panorama_uv(0.0, math.pi / 2, w, h)
    assert u == pytest.approx(512)  # north at the centre column
    u, _ = g.panorama_uv(math.pi / 2, math.pi / 2, w, h)
    assert u == pytest.approx(768)  # east to the right
    _, v = g.panorama_uv(0.0, math.pi / 2, w, h)
    assert v == pytest.approx(256)  # horizon at mid-height
    az, zen = g.panorama_direction(768.0, 128.0, w, h)
    assert az == pytest.approx(math.pi / 2) and zen == pytest.approx(math.pi / 4)


def test_ground_point_projection_matches_reference_formula():
    # REFERENCE.md: u = ((theta - pi/2) mod 2pi)/(2pi) W, theta = atan2(row offset, col offset);
    # v = atan2(r * mpp, -h)/pi * H
    w, h, cam_h = 1024, 512, 2.0
    for east, north in [(3.0, 4.0), (-7.0, 1.0), (0.5, -9.0), (-2.0, -2.0)]:
        u, v = g.ground_point_to_panorama_uv(east, north, cam_h, w, h)
        theta = math.atan2(-north, east)
        u_ref = ((theta - math.pi / 2) % (2 * math.pi)) / (2 * math.pi) * w
        v_ref = math.atan2(math.hypot(east, north), -cam_h) / math.pi * h
        assert u == pytest.approx(u_ref) and v == pytest.approx(v_ref)


def test_north_align_shift():
    w = 1024
    # a robot facing east: forward (image centre, column 512) must move to azimuth 90 deg = column 768
    shift = g.north_align_shift_px(0.0, w)
    assert (512 + shift) % w == pytest.approx(768)
    assert g.north_align_shift_px(math.pi / 2, w) == pytest.approx(0.0)


def test_pinhole_rays_and_optical_rotation():
    rays = g.pinhole_ray_directions(5, 3, 2.0, 2.0, 2.0, 1.0)
    np.testing.assert_allclose(rays[1, 2], [0.0, 0.0, 1.0])  # principal point looks straight ahead
    rot = g.optical_to_enu_rotation(math.pi / 2)  # looking north
    np.testing.assert_allclose(rot @ [0, 0, 1], [0, 1, 0], atol=1e-12)  # optical z -> north
    np.testing.assert_allclose(rot @ [1, 0, 0], [1, 0, 0], atol=1e-12)  # optical x (right) -> east
    np.testing.assert_allclose(rot @ [0, 1, 0], [0, 0, -1], atol=1e-12)  # optical y (down) -> down


def test_covariance_ellipse_axes():
    a, b, angle = g.covariance_ellipse([[4.0, 0.0], [0.0, 1.0]], 2.0)
    assert (a, b) == (pytest.approx(4.0), pytest.approx(2.0))
    assert abs(math.sin(angle)) < 1e-12


def test_tilt_rotation_follows_rep103_signs():
    up, fwd, left = np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    assert np.allclose(g.tilt_rotation(0.0, 0.0), np.eye(3))
    nose_down = g.tilt_rotation(0.0, 0.1) @ fwd  # pitch > 0: the forward axis points below the horizon
    assert nose_down[2] == pytest.approx(-math.sin(0.1)) and nose_down[1] == pytest.approx(0.0)
    right_down = g.tilt_rotation(0.1, 0.0) @ left  # roll > 0: the left side rises
    assert right_down[2] == pytest.approx(math.sin(0.1))
    # a camera looking left (mount yaw +90 deg) sees the body's pitch as a roll: its right side (the nose) dips
    cam = g.tilt_rotation(0.0, 0.1, math.pi / 2)
    assert (cam @ left)[2] == pytest.approx(math.sin(0.1))  # the camera's left = the body's tail: up
    assert (cam @ fwd)[2] == pytest.approx(0.0, abs=1e-12)
    r = g.tilt_rotation(0.03, -0.02, 0.7)
    assert np.allclose(r @ r.T, np.eye(3)) and np.linalg.det(r) == pytest.approx(1.0)
    assert (r @ up)[2] == pytest.approx(math.cos(0.03) * math.cos(0.02))  # tilt of the up axis, any mount


def test_roll_pitch_from_quaternion_known_values():
    h = 0.1 / 2
    assert g.roll_pitch_from_quaternion(math.sin(h), 0.0, 0.0, math.cos(h)) == pytest.approx((0.1, 0.0))
    assert g.roll_pitch_from_quaternion(0.0, math.sin(h), 0.0, math.cos(h)) == pytest.approx((0.0, 0.1))
    # yaw does not leak into roll / pitch: q = qz(1.2) * qy(-0.05) * qx(0.02), scaled (not unit)
    def q_mul(a, b):
        ax, ay, az, aw = a
        bx, by, bz, bw = b
        return (aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
                aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz)
    q = q_mul(q_mul((0, 0, math.sin(0.6), math.cos(0.6)), (0, math.sin(-0.025), 0, math.cos(-0.025))),
              (math.sin(0.01), 0, 0, math.cos(0.01)))
    roll, pitch = g.roll_pitch_from_quaternion(*(3.0 * c for c in q))
    assert (roll, pitch) == pytest.approx((0.02, -0.05), abs=1e-12)
    with pytest.raises(ValueError, match="quaternion"):
        g.roll_pitch_from_quaternion(0.0, 0.0, 0.0, 0.0)


def test_quaternion_from_rpy_round_trips():
    assert g.quaternion_from_rpy(0.0, 0.0, 0.8) == pytest.approx(g.quaternion_from_yaw(0.8))
    for roll, pitch, yaw in [(0.02, -0.03, 1.0), (-0.4, 0.3, -2.5), (0.0, 0.1, 3.0)]:
        q = g.quaternion_from_rpy(roll, pitch, yaw)
        assert sum(c * c for c in q) == pytest.approx(1.0)
        assert g.roll_pitch_from_quaternion(*q) == pytest.approx((roll, pitch), abs=1e-12)
        assert g.yaw_from_quaternion(*q) == pytest.approx(yaw, abs=1e-12)
