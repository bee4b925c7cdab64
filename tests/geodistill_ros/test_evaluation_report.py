"""The report's satellite background lands where the ENU coordinates say (a two-colour map from real tiles)."""

from __future__ import annotations

import numpy as np

from geodistill_ros.eval_report import map_background
from geodistill_ros.tiles.pyramid import write_tile_pyramid

DATUM = (37.7793, -122.4193)


def _pixel_at(image, extent, east_m, north_m):
    e0, e1, n0, n1 = extent
    col = int((east_m - e0) / (e1 - e0) * image.shape[1])
    row = int((n1 - north_m) / (n1 - n0) * image.shape[0])
    return image[row, col]


def test_map_background_is_georeferenced(tmp_path):
    # 100 m x 100 m at 0.25 m/px around the datum: east half red, north-west quarter green, south-west blue
    size = 400
    img = np.zeros((size, size, 3), np.uint8)
    img[:, size // 2:] = (255, 0, 0)
    img[: size // 2, : size // 2] = (0, 255, 0)
    img[size // 2:, : size // 2] = (0, 0, 255)
    write_tile_pyramid(img, *DATUM, 0.25, tmp_path / "tiles", zooms=[18, 19], save_mosaic=False)
    bg = map_background(str(tmp_path / "tiles"), DATUM, (-20.0, 20.0), (-10.0, 10.0), margin_m=5.0)
    assert bg is not None
    image, extent = bg
    assert extent[0] <= -25.0 and extent[1] >= 25.0 and extent[2] <= -15.0 and extent[3] >= 15.0
    assert tuple(_pixel_at(image, extent, 15.0, 0.0)) == (255, 0, 0)
    assert tuple(_pixel_at(image, extent, -15.0, 8.0)) == (0, 255, 0)
    assert tuple(_pixel_at(image, extent, -15.0, -8.0)) == (0, 0, 255)


def test_map_background_without_tiles_is_none(tmp_path):
    assert map_background(None, DATUM, (0, 1), (0, 1)) is None
    assert map_background(str(tmp_path / "missing.mbtiles"), DATUM, (0, 1), (0, 1)) is None
