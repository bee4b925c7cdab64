"""GeoTIFF / COG orthophotos via rasterio give the same crops as the tiles they were cut from."""

import math

import cv2
import numpy as np
import pytest

from geodistill_ros import geometry as geo
from geodistill_ros.tiles import TileOutOfCoverage, TileSourceError, open_tile_source
from geodistill_ros.tiles.pyramid import load_mosaic

rasterio = pytest.importorskip("rasterio", reason="rasterio is the optional GeoTIFF extra")


@pytest.fixture(scope="module")
def mosaic_tif(pyramid, tmp_path_factory):
    """The pyramid's max-zoom mosaic written as an EPSG:3857 GeoTIFF with overviews (a COG-like file)."""
    from rasterio.enums import Resampling

    mosaic, info = load_mosaic(pyramid["tiles"])
    res = 2 * math.pi * geo.MERCATOR_RADIUS / (256 * 2 ** info["zoom"])
    half = math.pi * geo.MERCATOR_RADIUS
    west, north = info["origin_px"][0] * res - half, half - info["origin_px"][1] * res
    transform = rasterio.Affine(res, 0.0, west, 0.0, -res, north)
    path = tmp_path_factory.mktemp("tif") / "ortho.tif"
    with rasterio.open(path, "w", driver="GTiff", width=mosaic.shape[1], height=mosaic.shape[0], count=3,
                       dtype="uint8", crs="EPSG:3857", transform=transform, tiled=True, blockxsize=256,
                       blockysize=256) as ds:
        ds.write(np.moveaxis(mosaic, -1, 0))
        ds.build_overviews([2, 4], Resampling.average)
    return path


def test_geotiff_crop_matches_tile_crop(mosaic_tif, pyramid, enu_to_latlon):
    lat, lon = enu_to_latlon(-12.5, 7.25)
    with open_tile_source(str(mosaic_tif)) as tif, open_tile_source(str(pyramid["tiles"])) as tiles:
        a, b = tif.crop(lat, lon, 200, 0.2), tiles.crop(lat, lon, 200, 0.2)
        assert a.valid_mask.all() and a.zoom is None
        assert np.abs(a.image.astype(int) - b.image.astype(int)).mean() < 0.5
        c_lat, c_lon = a.pixel_to_latlon(100, 100)
        assert abs(c_lat - lat) < 1e-10 and abs(c_lon - lon) < 1e-10
        coarse_a, coarse_b = tif.crop(lat, lon, 64, 0.8), tiles.crop(lat, lon, 64, 0.8)  # overviews / zoom 17
        blur = lambda im: cv2.GaussianBlur(im.astype(np.float32), (0, 0), 1.0)  # noqa: E731
        assert np.abs(blur(coarse_a.image) - blur(coarse_b.image)).mean() < 3.0
        with pytest.raises(TileOutOfCoverage):
            tif.crop(-10.0, 20.0, 64, 0.2)


def test_geotiff_without_rasterio_is_a_typed_error(mosaic_tif, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "rasterio", None)
    with pytest.raises(TileSourceError, match="rasterio"):
        open_tile_source(str(mosaic_tif))
