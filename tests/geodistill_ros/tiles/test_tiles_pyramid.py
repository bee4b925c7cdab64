import sqlite3

import cv2
import numpy as np
import pytest

from geodistill_ros import geometry as geo
from geodistill_ros.tiles import TileRequestError
from geodistill_ros.tiles.pyramid import load_mosaic, write_tile_pyramid

LAT0, LON0 = 35.6812, 139.7671


def _read_png(path):
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_max_zoom_tiles_reassemble_the_mosaic_and_mbtiles_matches(pyramid):
    mosaic, minfo = load_mosaic(pyramid["tiles"])
    z = minfo["zoom"]
    x0, y0, x1, y1 = pyramid["info"]["tile_ranges"][str(z)]
    assert (x0, y0) == (minfo["tile_x0"], minfo["tile_y0"])
    rebuilt = np.zeros_like(mosaic)
    con = sqlite3.connect(str(pyramid["mbtiles"]))
    n_files = 0
    for y in range(y0, y1 + 1):
        for x in range(x0, x1 + 1):
            path = pyramid["tiles"] / str(z) / str(x) / f"{y}.png"
            if not path.exists():
                continue
            n_files += 1
            rebuilt[(y - y0) * 256:(y - y0 + 1) * 256, (x - x0) * 256:(x - x0 + 1) * 256] = _read_png(path)
            (blob,) = con.execute("SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                                  (z, x, geo.tms_row(y, z))).fetchone()
            assert bytes(blob) == path.read_bytes()
    assert n_files > 4
    np.testing.assert_array_equal(rebuilt, mosaic)
    meta = dict(con.execute("SELECT name, value FROM metadata").fetchall())
    (count,) = con.execute("SELECT COUNT(*) FROM tiles").fetchone()
    con.close()
    assert count == pyramid["info"]["tile_count"]
    assert meta["format"] == "png" and int(meta["minzoom"]) == 16 and int(meta["maxzoom"]) == 19
    min_lon, min_lat, max_lon, max_lat = (float(v) for v in meta["bounds"].split(","))
    assert min_lon < LON0 + 10 and min_lon < 8.5417 < max_lon and min_lat < 47.3769 < max_lat


@pytest.mark.parametrize("zoom,mpp", [(19, 0.25), (18, 0.25), (20, 0.1)])
def test_sharp_marker_lands_where_geodesy_says(tmp_path, zoom, mpp):
    h, w = 600, 800
    image = np.full((h, w, 3), 30, np.uint8)
    r0, c0 = 170, 523  # 4 x 4 marker: continuous centre (172, 525)
    image[r0:r0 + 4, c0:c0 + 4] = 255
    east, north = (525.0 - w / 2) * mpp, (h / 2 - 172.0) * mpp  # raster centre (H/2, W/2) is the datum
    info = write_tile_pyramid(image, LAT0, LON0, mpp, tmp_path / "t", [zoom], save_mosaic=True)
    mosaic, minfo = load_mosaic(tmp_path / "t")
    lat, lon, _ = geo.enu_to_geodetic(east, north, 0.0, LAT0, LON0)
    px, py = geo.latlon_to_world_pixel(lat, lon, zoom)
    want_col, want_row = px - minfo["origin_px"][0], py - minfo["origin_px"][1]
    weight = mosaic[..., 0].astype(np.float64) - 30
    rows, cols = np.nonzero(weight > 0)
    wv = weight[rows, cols]
    got_row, got_col = (np.sum((rows + 0.5) * wv) / wv.sum(), np.sum((cols + 0.5) * wv) / wv.sum())
    assert abs(got_row - want_row) < 0.35 and abs(got_col - want_col) < 0.35
    assert info["max_zoom"] == zoom and info["mbtiles"] is None


def test_lower_zoom_is_the_box_average_of_the_level_above(pyramid):
    info = pyramid["info"]
    x0, y0, x1, y1 = info["tile_ranges"]["18"]
    interior = [(x, y) for x in range(x0 + 1, x1) for y in range(y0 + 1, y1)]
    x, y = interior[0] if interior else (x0, y0)
    low = _read_png(pyramid["tiles"] / "18" / str(x) / f"{y}.png").astype(np.float64)
    high = np.zeros((512, 512, 3))
    for dy in range(2):
        for dx in range(2):
            high[dy * 256:(dy + 1) * 256, dx * 256:(dx + 1) * 256] = _read_png(
                pyramid["tiles"] / "19" / str(2 * x + dx) / f"{2 * y + dy}.png")
    box = high.reshape(256, 2, 256, 2, 3).mean(axis=(1, 3))
    covered = (high.max(axis=2) > 0).reshape(256, 2, 256, 2).all(axis=(1, 3))  # all four children covered
    assert covered.mean() > 0.2
    assert np.abs(box - low)[covered].max() <= 0.5 + 1e-9


def test_bad_input_is_a_typed_error(tmp_path):
    with pytest.raises(TileRequestError):
        write_tile_pyramid(np.zeros((10, 10), np.uint8), LAT0, LON0, 0.1, tmp_path, [18])
    with pytest.raises(TileRequestError):
        write_tile_pyramid(np.zeros((10, 10, 3), np.uint8), LAT0, LON0, -1.0, tmp_path, [18])
    with pytest.raises(TileRequestError):
        write_tile_pyramid(np.zeros((10, 10, 3), np.uint8), LAT0, LON0, 0.1, tmp_path, [])
