"""Renderer geometry by known values: painted ground markers land where geometry.py predicts."""

import math

import numpy as np
import pytest

from geodistill_ros import geometry as geo
from geodistill_ros.sim import World
from geodistill_ros.sim.render import RowCounter

RED = np.array([255, 0, 0], np.uint8)


@pytest.fixture(scope="module")
def flat_world():
    """A small world emptied of objects, uniform grey ground: markers are painted per test."""
    w = World.generate(seed=1, style="downtown", size_m=80, gap=False)
    w.scene = dict(w.scene)
    for k in ("solid_h", "canopy_top", "canopy_bot"):
        w.scene[k] = np.zeros_like(w.scene[k])
    w.scene["ground_rgb"] = np.full_like(w.scene["ground_rgb"], 120)
    return w


def _paint(world, east_m, north_m, half_m=0.3):
    g = np.full_like(world.scene["ground_rgb"], 120)
    n, mpp = world.size_px, world.meters_per_pixel
    r0, c0 = geo.enu_to_patch_pixel(east_m + half_m * np.array([-1, 1]), north_m + half_m * np.array([1, -1]),
                                    0.0, 0.0, mpp, n)
    g[int(r0[0]):int(math.ceil(r0[1])), int(c0[0]):int(math.ceil(c0[1]))] = RED
    world.scene["ground_rgb"] = g
    world._renderer = None


def _is_red(px):
    return px[0] > 180 and px[1] < 90 and px[2] < 90


@pytest.mark.parametrize("offset", [(3.0, 0.0), (0.0, -4.0), (-2.5, 2.5), (5.0, 6.0), (-1.5, -1.0)])
@pytest.mark.parametrize("yaw", [math.pi / 2, 0.3])
def test_marker_lands_on_predicted_panorama_pixel(flat_world, offset, yaw):
    cam = (1.3, -0.7)
    _paint(flat_world, cam[0] + offset[0], cam[1] + offset[1])
    h, w = 256, 512
    pano = flat_world.render_panorama(cam[0], cam[1], yaw, h, w, camera_height_m=2.0)
    u, v = geo.ground_point_to_panorama_uv(offset[0], offset[1], 2.0, w, h)
    # robot-mounted: forward at the centre -> roll by the heading shift to compare with the north-centred formula
    u = (u - geo.north_align_shift_px(yaw, w)) % w
    assert _is_red(pano[int(v), int(u) % w]), (offset, yaw, pano[int(v), int(u) % w])
    # and far from it the marker is absent
    assert not _is_red(pano[int(v), (int(u) + w // 4) % w])


@pytest.mark.parametrize("offset_fwd_left", [(4.0, 0.0), (6.0, 1.5), (5.0, -2.0), (9.0, 3.0)])
def test_marker_lands_on_predicted_pinhole_pixel(flat_world, offset_fwd_left):
    cam, yaw = (-2.0, 1.0), 0.7
    fwd = np.array([math.cos(yaw), math.sin(yaw)])
    left = np.array([-fwd[1], fwd[0]])
    p = np.array(cam) + offset_fwd_left[0] * fwd + offset_fwd_left[1] * left
    _paint(flat_world, p[0], p[1], half_m=0.25)
    W, H, fx, fy, cx, cy = 320, 240, 200.0, 200.0, 161.0, 118.0
    img = flat_world.render_pinhole(cam[0], cam[1], yaw, W, H, fx, fy, cx, cy, camera_height_m=1.6)
    rel = np.array([p[0] - cam[0], p[1] - cam[1], -1.6])
    x, y, z = geo.optical_to_enu_rotation(yaw).T @ rel
    u, v = fx * x / z + cx, fy * y / z + cy
    # OpenCV / CameraInfo: pixel centres at integer coordinates, so the marker is in pixel round(u), round(v)
    r, c = int(math.floor(v + 0.5)), int(math.floor(u + 0.5))
    assert _is_red(img[r, c]), (offset_fwd_left, img[r, c])


def test_yaw_rotates_panorama_columns(flat_world):
    _paint(flat_world, 0.0, 5.0)  # a marker due north of the camera at the origin
    w = 512
    north = flat_world.render_panorama(0, 0, math.pi / 2, 256, w)
    east_facing = flat_world.render_panorama(0, 0, 0.0, 256, w)
    shift = int(round(geo.north_align_shift_px(0.0, w)))
    assert np.abs(np.roll(east_facing, shift, axis=1).astype(int) - north.astype(int)).mean() < 3.0


def test_satellite_patch_centre_and_scale(flat_world):
    w = flat_world
    sat = np.full_like(w.scene["sat_rgb"], 50)
    r, c = geo.enu_to_patch_pixel(np.array([3.0]), np.array([-2.0]), 0, 0, w.meters_per_pixel, w.size_px)
    sat[int(r[0]), int(c[0])] = (255, 255, 255)
    w.scene["sat_rgb"] = sat
    for mpp, size in ((0.1, 200), (0.2, 101), (0.05, 300)):
        patch = w.satellite_patch(1.0, 1.0, size, mpp)
        pr, pc = geo.enu_to_patch_pixel(3.0, -2.0, 1.0, 1.0, mpp, size)
        # the white source pixel covers ENU [3.0, 3.2) x (-2.2, -2.0]: its centre is 0.1 m inside
        pr, pc = pr + 0.1 / mpp, pc + 0.1 / mpp
        peak = np.unravel_index(np.argmax(patch[..., 0]), patch.shape[:2])
        assert abs(peak[0] + 0.5 - pr) <= 0.5 + 0.1 / mpp and abs(peak[1] + 0.5 - pc) <= 0.5 + 0.1 / mpp, (mpp, peak,
                                                                                                            pr, pc)


@pytest.mark.parametrize("kind", ["panorama", "pinhole"])
def test_row_counter_matches_a_sorted_search(kind):
    """The renderer's closed-form row count equals a search over the rows' actual tan(elevation)."""
    rng = np.random.default_rng(0)
    H = 97
    if kind == "panorama":
        zen = (np.arange(H) + 0.5) / H * np.pi
        tan_rows = np.tan(np.pi / 2 - zen)
        counter = RowCounter(np.arctan, H / np.pi, H / 2 + 0.5, H)
    else:
        fy, cy = 80.0, 51.3
        tan_rows = -(np.arange(H) - cy) / fy
        counter = RowCounter(None, fy, H - cy, H)
    x = np.concatenate([rng.normal(0, 2, 5000), [-1e6, 1e6, 0.0]]).astype(np.float32)
    want = np.searchsorted(np.sort(tan_rows.astype(np.float32)), x, side="right")
    got = counter.count(x.copy())
    assert np.mean(got == want) > 0.999 and np.abs(got - want).max() <= 1
