"""Crop georeference and sampling maths (no I/O)."""

import numpy as np
import pytest

from geodistill_ros import geometry as geo
from geodistill_ros.tiles import Crop, TileRequestError
from geodistill_ros.tiles.crop import plan_mercator_crop, render_mercator_crop, validate_request


@pytest.mark.parametrize("lat,lon,size,mpp",
                         [(47.3, 8.5, 512, 0.2), (69.65, 18.95, 1000, 1.0), (-33.9, 151.2, 64, 0.05)])
def test_interpolated_map_matches_exact_geodesy(lat, lon, size, mpp):
    zoom = geo.zoom_for_resolution(mpp, lat)
    plan = plan_mercator_crop(lat, lon, size, mpp, zoom)
    crop = Crop(np.zeros((size, size, 3), np.uint8), np.ones((size, size), bool), mpp, lat, lon)
    rows = np.array([0, size // 3, size // 2, size - 1])
    cols = np.array([size - 1, 7 % size, size // 2, 0])
    plat, plon = crop.pixel_to_latlon(rows + 0.5, cols + 0.5)
    px, py = geo.latlon_to_world_pixel(plat, plon, zoom)
    assert np.abs(plan.px[rows, cols] - px).max() < 0.01 and np.abs(plan.py[rows, cols] - py).max() < 0.01
    # the centre of the crop is exactly the requested point
    cx, cy = geo.latlon_to_world_pixel(lat, lon, zoom)
    centre_px = 0.5 * (plan.px[size // 2 - 1, size // 2 - 1] + plan.px[size // 2, size // 2])
    assert abs(centre_px - cx) < 1e-6 or size % 2
    # east-west: Mercator x is longitude; the WGS84 parallel has radius N(lat) cos(lat), not the sphere's
    n_radius = geo.WGS84_A / np.sqrt(1 - geo.WGS84_E2 * np.sin(np.radians(lat)) ** 2)
    expected_scale = mpp / (n_radius * np.cos(np.radians(lat)) * 2 * np.pi / (256 * 2**zoom))
    assert abs(plan.scale - expected_scale) / expected_scale < 5e-5


def test_pixel_latlon_enu_round_trip():
    crop = Crop(np.zeros((100, 100, 3), np.uint8), np.ones((100, 100), bool), 0.5, 35.0, 139.0)
    lat, lon = crop.pixel_to_latlon(50.0, 50.0)
    assert abs(lat - 35.0) < 1e-12 and abs(lon - 139.0) < 1e-12
    assert crop.pixel_to_enu(0.0, 100.0) == (25.0, 25.0)  # top-right corner: north-east
    row, col = crop.latlon_to_pixel(*crop.pixel_to_latlon(12.25, 80.5))
    assert abs(row - 12.25) < 1e-6 and abs(col - 80.5) < 1e-6


def test_missing_tiles_are_masked_not_invented():
    lat, lon = 10.0, 20.0
    plan = plan_mercator_crop(lat, lon, 300, 0.3, 20)
    keys = plan.tile_keys
    assert len(keys) >= 4
    tiles = {k: np.full((256, 256, 3), 200, np.uint8) for k in keys[1:]}
    image, valid = render_mercator_crop(plan, tiles)
    assert 0.3 < valid.mean() < 1.0
    assert (image[valid] == 200).all() and (image[~valid] == 0).all()
    plan_fine = plan_mercator_crop(lat, lon, 300, 0.15, 20)  # no low-pass at this scale
    image, valid = render_mercator_crop(plan_fine, {k: tiles[keys[1]] for k in plan_fine.tile_keys[1:]})
    assert 0.3 < valid.mean() < 1.0 and (image[valid] == 200).all() and (image[~valid] == 0).all()


@pytest.mark.parametrize("args", [(47.0, 8.0, 0, 0.2), (47.0, 8.0, 10.5, 0.2), (47.0, 8.0, 64, 0.0),
                                  (89.0, 8.0, 64, 0.2), (47.0, 181.0, 64, 0.2), (float("nan"), 8.0, 64, 0.2),
                                  ("x", 8.0, 64, 0.2), (47.0, 8.0, 100000, 0.2)])
def test_bad_requests_are_typed(args):
    with pytest.raises(TileRequestError):
        validate_request(*args)
