"""Ground canvas: north alignment of panoramas and pinhole warping, by known pixel positions."""

import math

import numpy as np
import pytest

from geodistill_ros import geometry as g
from geodistill_ros.camera import PanoramaCamera, PinholeCamera, fov_mask, ground_canvas


def _marker_column(canvas):
    return float(np.argmax(canvas[..., 0].sum(axis=0)))


def test_panorama_facing_east_puts_forward_at_azimuth_90():
    h, w = 64, 256
    pano = np.zeros((h, w, 3), np.uint8)
    pano[:, w // 2 - 1 : w // 2 + 1, 0] = 255  # marker at the forward direction
    canvas, mask = ground_canvas(pano, PanoramaCamera(w, h), yaw_rad=0.0, canvas_hw=(h, w))
    expected_u, _ = g.panorama_uv(math.pi / 2, math.pi / 2, w, h)  # east
    assert abs(_marker_column(canvas) + 0.5 - expected_u) <= 1.0
    assert mask.min() == 1.0 and canvas.dtype == np.float32 and canvas.max() <= 1.0


def test_panorama_facing_north_is_unchanged():
    rng = np.random.default_rng(0)
    pano = rng.integers(0, 255, (32, 128, 3), dtype=np.uint8)
    canvas, _ = ground_canvas(pano, PanoramaCamera(128, 32), math.pi / 2, (32, 128))
    np.testing.assert_allclose(canvas, pano / 255.0, atol=1e-5)


def test_pinhole_optical_axis_lands_at_its_azimuth():
    cam = PinholeCamera(64, 48, fx=32.0, fy=32.0, cx=31.5, cy=23.5)  # 90 deg horizontal FoV
    img = np.zeros((48, 64, 3), np.uint8)
    img[:, 31:33, 0] = 255  # vertical line through the principal point
    yaw = math.radians(30.0)  # optical axis 30 deg north of east -> azimuth 60 deg
    canvas, mask = ground_canvas(img, cam, yaw, (64, 256))
    expected_u, _ = g.panorama_uv(math.radians(60.0), math.pi / 2, 256, 64)
    assert abs(_marker_column(canvas) + 0.5 - expected_u) <= 1.0
    seen_cols = np.nonzero(mask.max(axis=0))[0]
    # 90 deg of 360 deg -> about a quarter of the columns are seen
    assert len(seen_cols) == pytest.approx(64, abs=3)
    # the horizon row through the principal point is seen, the zenith is not
    assert mask[32, int(expected_u)] == 1.0 and mask[0].max() == 0.0


def test_pinhole_shape_mismatch_is_an_error():
    cam = PinholeCamera(64, 48, 32.0, 32.0, 31.5, 23.5)
    with pytest.raises(ValueError, match="camera is 64x48"):
        ground_canvas(np.zeros((10, 10, 3), np.uint8), cam, 0.0, (32, 64))


@pytest.mark.parametrize("bad", [np.zeros((4, 4)), np.zeros((4, 4, 4))])
def test_bad_images_are_rejected(bad):
    with pytest.raises(ValueError, match="RGB"):
        ground_canvas(bad, PanoramaCamera(4, 4), 0.0, (4, 4))


def test_bad_intrinsics_and_yaw():
    with pytest.raises(ValueError):
        PinholeCamera(64, 48, 0.0, 32.0, 31.5, 23.5)
    with pytest.raises(ValueError, match="finite"):
        ground_canvas(np.zeros((4, 8, 3), np.uint8), PanoramaCamera(8, 4), float("nan"), (4, 8))


def test_from_k_and_scaled():
    cam = PinholeCamera.from_k([100, 0, 63.5, 0, 100, 47.5, 0, 0, 1], 128, 96)
    half = cam.scaled(0.5)
    assert (half.width, half.height, half.fx) == (64, 48, 50.0)
    assert half.cx == pytest.approx(31.5)  # the optical centre stays at the image centre


def test_fov_mask_width():
    m = fov_mask((8, 360), center_azimuth_rad=0.0, fov_rad=math.radians(90))
    assert m[0].sum() == pytest.approx(90, abs=1)
    assert m[0, 180] == 1.0 and m[0, 0] == 0.0  # north (centre column) inside, south outside


def test_level_panorama_undoes_the_simulated_tilt():
    from geodistill_ros.camera import level_panorama
    from geodistill_ros.sim import World
    from geodistill_ros.sim.render import tilt_panorama, tilt_to_rep103

    world = World.generate(seed=5, style="suburb", size_m=200)
    pano = world.render_panorama(0.0, 0.0, math.pi / 2, height=128, width=256)
    band = slice(20, 108)  # away from the poles, where one pixel spans many directions
    for roll_s, pitch_s in [(0.02, -0.025), (-0.026, 0.0), (0.0, 0.026)]:
        tilted = tilt_panorama(pano, roll_s, pitch_s)
        roll, pitch = tilt_to_rep103(roll_s, pitch_s)
        assert math.copysign(1, roll) == -math.copysign(1, roll_s) or roll_s == 0.0
        fixed = level_panorama(tilted, g.tilt_rotation(roll, pitch))
        wrong = level_panorama(tilted, g.tilt_rotation(-roll, -pitch))
        err = [np.abs(x[band].astype(float) - pano[band]).mean() for x in (tilted, fixed, wrong)]
        assert err[1] < 0.5 * err[0] < err[2], err
    np.testing.assert_allclose(level_panorama(pano, np.eye(3)).astype(float), pano, atol=1.0)


def test_tilted_canvases_match_the_mount_pitch_they_are_equivalent_to():
    """A pinhole on a body pitched nose-down by p sees what a level body's camera mounted p down sees."""
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    cam = PinholeCamera(64, 48, 40.0, 40.0, 31.5, 23.5)
    tilted, m_tilted = ground_canvas(img, cam, 0.4, (64, 256), tilt=g.tilt_rotation(0.0, 0.05))
    mounted, m_mounted = ground_canvas(img, PinholeCamera(64, 48, 40.0, 40.0, 31.5, 23.5, pitch_rad=-0.05), 0.4,
                                       (64, 256))
    np.testing.assert_allclose(tilted, mounted, atol=1e-5)
    np.testing.assert_array_equal(m_tilted, m_mounted)
    # for a panorama the tilt is applied in the camera's own frame: north alignment is unchanged by a level tilt
    pano = rng.integers(0, 255, (32, 128, 3), dtype=np.uint8)
    a, _ = ground_canvas(pano, PanoramaCamera(128, 32), 1.0, (32, 128), tilt=np.eye(3))
    b, _ = ground_canvas(pano, PanoramaCamera(128, 32), 1.0, (32, 128))
    np.testing.assert_allclose(a, b, atol=1.5 / 255)
