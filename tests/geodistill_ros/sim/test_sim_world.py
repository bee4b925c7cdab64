"""World content per style, occlusion, camera effects, and the raw-pixel baseline with and without the gap."""

import math

import numpy as np
import pytest

from geodistill_ros import geometry as geo
from geodistill_ros.sim import STYLES, World
from geodistill_ros.sim import layout as L
from geodistill_ros.sim.baseline import raw_pixel_baseline


@pytest.fixture(scope="module")
def worlds():
    return {s: World.generate(seed=3, style=s, size_m=240) for s in STYLES}


def _class_share(world, classes):
    return float(np.isin(np.asarray(world.scene["cls"]), classes).mean())


def test_styles_have_their_character(worlds):
    for style, w in worlds.items():
        b = w.tables["buildings"]
        if b:
            foot = np.array([[2 * x["hu"], 2 * x["hv"]] for x in b])
            height = np.array([x["eave_h"] for x in b])
            big = 160.1 if style == "industrial" else 80.1  # warehouses; containers are 2.9 m high
            assert foot.min() >= (2.4 if style == "industrial" else 5.9), style
            assert foot.max() <= big and height.max() <= 60.0, style
            assert height.min() >= (2.8 if style == "industrial" else 3.0), style
        assert len(w.roads) >= 2 and len(w.tables["trees"]) > 0, style
    dt, sub, rur = worlds["downtown"], worlds["suburb"], worlds["rural"]
    # downtown: dense and tall; rural: open land, few buildings
    assert len(dt.tables["buildings"]) > 3 * max(1, len(rur.tables["buildings"]))
    assert np.median([x["eave_h"] for x in dt.tables["buildings"]]) > np.median(
        [x["eave_h"] for x in sub.tables["buildings"]])
    assert _class_share(rur, [L.GRASS, L.FIELD, L.FOREST]) > 0.6 > _class_share(dt, [L.GRASS, L.FIELD, L.FOREST])
    # suburb: repetitive similar houses (the ambiguous case)
    sizes = np.array([4 * x["hu"] * x["hv"] for x in sub.tables["buildings"]])
    assert len(sizes) > 15 and np.std(sizes) / np.mean(sizes) < 0.5
    # painted markings in town
    assert _class_share(dt, [L.MARK_WHITE, L.MARK_YELLOW]) > 0.002


def test_buildings_occlude_the_ground(worlds):
    w = World.generate(seed=1, style="downtown", size_m=80, gap=False)
    w.scene = dict(w.scene)
    for k in ("solid_h", "canopy_top", "canopy_bot"):
        w.scene[k] = np.zeros_like(w.scene[k])
    w._renderer = None
    h, width = 128, 256
    open_view, open_depth = w.render_panorama(0, 0, math.pi / 2, h, width, return_depth=True)
    # a 10 m tall wall 5..6 m north of the camera, 6 m wide
    solid = np.zeros_like(w.scene["solid_h"])
    r0, c0 = geo.enu_to_patch_pixel(np.array([-3.0, 3.0]), np.array([6.0, 5.0]), 0, 0, w.meters_per_pixel, w.size_px)
    solid[int(r0[0]):int(r0[1]), int(c0[0]):int(c0[1])] = 10.0
    w.scene["solid_h"] = solid
    w._renderer = None
    img, depth = w.render_panorama(0, 0, math.pi / 2, h, width, return_depth=True)
    col = width // 2  # due north
    # the ground 8 m north is behind the wall: hidden, the wall is seen at 5 m instead
    _, v8 = geo.ground_point_to_panorama_uv(0.0, 8.0, 2.0, width, h)
    zenith = (int(v8) + 0.5) / h * math.pi  # the row centre's ray meets the ground at 2 m / tan(depression)
    assert open_depth[int(v8), col] == pytest.approx(2.0 / math.tan(zenith - math.pi / 2), rel=1e-3)
    assert depth[int(v8), col] == pytest.approx(5.0, abs=0.3)
    # above the horizon the wall (10 m > camera) hides the sky up to atan(8 / 5)
    v_top = h / 2 - math.degrees(math.atan(8.0 / 5.0)) / 180.0 * h
    assert np.isfinite(depth[int(v_top) + 2, col]) and np.isinf(depth[int(v_top) - 2, col])
    # due south nothing changed
    assert np.array_equal(img[:, 0], open_view[:, 0])


def test_camera_effects(worlds):
    w = worlds["downtown"]
    plain = w.render_panorama(0, 0, 0.0, 64, 128).astype(float)
    bright = w.render_panorama(0, 0, 0.0, 64, 128, exposure=1.3).astype(float)
    blur = w.render_panorama(0, 0, 0.0, 64, 128, blur_sigma=1.5).astype(float)
    jpeg = w.render_panorama(0, 0, 0.0, 64, 128, jpeg_quality=20).astype(float)
    assert bright.mean() > plain.mean() + 10
    assert np.abs(np.diff(blur, axis=1)).mean() < 0.8 * np.abs(np.diff(plain, axis=1)).mean()
    assert 0.5 < np.abs(jpeg - plain).mean() < 15


def test_raw_pixel_baseline_needs_the_gap_to_be_hard():
    """Fresh seed: with ``--no-gap`` raw pixels localize to centimetres; the gap makes them clearly worse."""
    res = {}
    for gap in (False, True):
        w = World.generate(seed=21, style="downtown", size_m=200, gap=gap)
        res[gap] = raw_pixel_baseline(w, n=16, seed=3)
    assert res[False]["median_error_m"] < 0.5 and res[False]["within_1m"] >= 0.75
    assert res[True]["median_error_m"] > 3 * res[False]["median_error_m"]
    assert res[True]["within_1m"] < res[False]["within_1m"] - 0.2
