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
