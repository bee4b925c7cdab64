"""Shared fixtures for the tile tests: a synthetic structured orthophoto and its tile pyramid."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from geodistill_ros.tiles.pyramid import write_tile_pyramid

ORIGIN_LAT, ORIGIN_LON = 47.3769, 8.5417
ORTHO_MPP = 0.2
PYRAMID_ZOOMS = (16, 17, 18, 19)


def structured_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth random colours + a grid of thin lines: structure everywhere, no two places alike."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((h // 16 + 2, w // 16 + 2, 3)).astype(np.float32)
    img = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    fine = cv2.resize(rng.random((h // 4 + 2, w // 4 + 2, 3)).astype(np.float32), (w, h),
                      interpolation=cv2.INTER_LINEAR)
    img = 0.7 * img + 0.3 * fine
    img[::40, :, :] = 0.05
    img[:, ::40, :] = 0.95
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


@pytest.fixture(autouse=True)
def _loopback_without_proxies(monkeypatch):
    """Requests to the test servers on 127.0.0.1 must never go through a proxy from the environment."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def ortho():
    """(image, mpp): 720 x 800 px at 0.2 m/px = 160 m x 144 m around the datum."""
    return structured_image(720, 800, seed=3), ORTHO_MPP


@pytest.fixture(scope="session")
def pyramid(ortho, tmp_path_factory):
    """The ortho written as a tile pyramid: dict with tiles dir, mbtiles path and the writer's info."""
    root = tmp_path_factory.mktemp("pyramid")
    image, mpp = ortho
    info = write_tile_pyramid(image, ORIGIN_LAT, ORIGIN_LON, mpp, root / "tiles", PYRAMID_ZOOMS,
                              mbtiles_path=root / "world.mbtiles")
    return {"root": root, "tiles": root / "tiles", "mbtiles": root / "world.mbtiles", "info": info}


def ortho_patch(image: np.ndarray, mpp: float, east_m: float, north_m: float, size_px: int) -> np.ndarray:
    """The ENU raster resampled around ``(east_m, north_m)`` at its own resolution: what a crop must show."""
    h, w = image.shape[:2]
    row0 = h / 2 - north_m / mpp - size_px / 2  # raster continuous row of crop row 0's top edge
    col0 = w / 2 + east_m / mpp - size_px / 2
    m = np.float32([[1, 0, col0], [0, 1, row0]])
    return cv2.warpAffine(image, m, (size_px, size_px), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)


@pytest.fixture(scope="session")
def expected_patch(ortho):
    """f(east_m, north_m, size_px) -> the ortho around that ENU point (for crops at the ortho's resolution)."""
    image, mpp = ortho
    return lambda east_m, north_m, size_px: ortho_patch(image, mpp, east_m, north_m, size_px)


@pytest.fixture(scope="session")
def enu_to_latlon():
    from geodistill_ros import geometry as geo

    def convert(east_m, north_m):
        lat, lon, _ = geo.enu_to_geodetic(east_m, north_m, 0.0, ORIGIN_LAT, ORIGIN_LON)
        return float(lat), float(lon)

    return convert


@pytest.fixture
def server(pyramid):
    """A real HTTP tile server on 127.0.0.1 serving the pyramid (stopped after the test)."""
    from geodistill_ros.tiles.loopback import LoopbackTileServer

    srv = LoopbackTileServer(pyramid["tiles"]).start()
    yield srv
    srv.stop()
