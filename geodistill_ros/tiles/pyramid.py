"""Write an XYZ tile pyramid (PNG folder + optional MBTiles) from a north-up ENU-aligned raster.

The raster's continuous centre ``(H/2, W/2)`` is the ENU datum ``(origin_lat, origin_lon)``; pixel ``(row, col)``
is at ``east = (col - W/2) * mpp``, ``north = (H/2 - row) * mpp`` (:func:`geometry.patch_pixel_to_enu`).

The raster is resampled exactly once, into a Web-Mercator *mosaic* at the maximum zoom whose top-left corner is
a tile corner: every mosaic pixel centre -> lat/lon (:func:`geometry.world_pixel_to_latlon`) -> ENU
(:func:`geometry.geodetic_to_enu`) -> raster pixel, sampled with ``cv2.remap``.  The max-zoom tiles are cut from
the mosaic bit-exactly (PNG is lossless), so re-assembling them gives the mosaic back; lower zooms are 2x box
averages of the level above, weighted by coverage.  Tiles not fully covered by the raster are RGBA PNGs whose alpha is
the coverage (so crops mark what lies beyond the raster as invalid); the others are RGB.  The mosaic and its
tile-grid origin are saved beside the tiles (``mosaic_z{Z}.png``, ``pyramid.json``) so tests can check crops against it.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from pathlib import Path

import cv2
import numpy as np

from .. import geometry as geo
from .errors import TileRequestError

TILE = geo.TILE_SIZE_PX
PYRAMID_JSON = "pyramid.json"


def _raster_bounds(h: int, w: int, mpp: float, lat0: float, lon0: float) -> tuple[float, float, float, float]:
    """(min_lon, min_lat, max_lon, max_lat) of the raster outline, sampled densely along its edges."""
    t = np.linspace(0.0, 1.0, 65)
    half_e, half_n = w / 2.0 * mpp, h / 2.0 * mpp
    east = np.concatenate([-half_e + 2 * half_e * t, -half_e + 2 * half_e * t, np.full_like(t, -half_e),
                           np.full_like(t, half_e)])
    north = np.concatenate([np.full_like(t, -half_n), np.full_like(t, half_n), -half_n + 2 * half_n * t,
                            -half_n + 2 * half_n * t])
    lat, lon, _ = geo.enu_to_geodetic(east, north, np.zeros_like(east), lat0, lon0)
    return float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())


def _tile_range(bounds, zoom: int) -> tuple[int, int, int, int]:
    """Inclusive XYZ tile range ``(x0, y0, x1, y1)`` covering lon/lat bounds at ``zoom``."""
    min_lon, min_lat, max_lon, max_lat = bounds
    px0, py0 = geo.latlon_to_world_pixel(max_lat, min_lon, zoom)
    px1, py1 = geo.latlon_to_world_pixel(min_lat, max_lon, zoom)
    n = 2**zoom
    x0 = int(np.clip(math.floor(px0 / TILE), 0, n - 1))
    y0 = int(np.clip(math.floor(py0 / TILE), 0, n - 1))
    x1 = int(np.clip(math.ceil(px1 / TILE) - 1, x0, n - 1))
    y1 = int(np.clip(math.ceil(py1 / TILE) - 1, y0, n - 1))
    return x0, y0, x1, y1


def _antialias(image: np.ndarray, shrink: float) -> np.ndarray:
    """Low-pass the raster before a downsampling remap (shrink = raster px per mosaic px)."""
    if shrink <= 1.2:
        return image
    sigma = 0.45 * math.sqrt(shrink**2 - 1.0)
    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma)


def _resample_mosaic(image, lat0, lon0, mpp, zoom, x0, y0, x1, y1):
    """Max-zoom Mercator mosaic (uint8 RGB) and its coverage mask for tiles ``x0..x1, y0..y1``."""
    h, w = image.shape[:2]
    width = (x1 - x0 + 1) * TILE
    height = (y1 - y0 + 1) * TILE
    mosaic = np.zeros((height, width, 3), np.uint8)
    valid = np.zeros((height, width), bool)
    px = x0 * TILE + np.arange(width, dtype=np.float64) + 0.5
    _, lon = geo.world_pixel_to_latlon(px, np.zeros_like(px), zoom)
    for r0 in range(0, height, TILE):  # one tile row at a time keeps memory small
        py = y0 * TILE + r0 + np.arange(TILE, dtype=np.float64) + 0.5
        lat, _ = geo.world_pixel_to_latlon(np.zeros_like(py), py, zoom)
        east, north, _ = geo.geodetic_to_enu(lat[:, None], lon[None, :], 0.0, lat0, lon0)
        col = w / 2.0 + east / mpp
        row = h / 2.0 - north / mpp
        strip = cv2.remap(image, (col - 0.5).astype(np.float32), (row - 0.5).astype(np.float32),
                          interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        inside = (col >= 0.0) & (col <= w) & (row >= 0.0) & (row <= h)
        strip[~inside] = 0
        mosaic[r0:r0 + TILE] = strip
        valid[r0:r0 + TILE] = inside
    return mosaic, valid


def _downsample(level: np.ndarray, coverage: np.ndarray, x0: int, y0: int):
    """2x coverage-weighted box average; returns the next-lower level, its coverage and its tile origin."""
    pad_left, pad_top = (x0 % 2) * TILE, (y0 % 2) * TILE
    h, w = level.shape[:2]
    pad_right = (-(w + pad_left)) % (2 * TILE)
    pad_bottom = (-(h + pad_top)) % (2 * TILE)
    pads = ((pad_top, pad_bottom), (pad_left, pad_right))
    weight = np.pad(coverage, pads).astype(np.float32)
    acc = np.pad(level, pads + ((0, 0),)).astype(np.float32) * weight[..., None]
    hh, ww = weight.shape[0] // 2, weight.shape[1] // 2
    wsum = weight.reshape(hh, 2, ww, 2).sum(axis=(1, 3))
    csum = acc.reshape(hh, 2, ww, 2, 3).sum(axis=(1, 3))
    out = np.rint(csum / np.maximum(wsum, 1e-6)[..., None]).clip(0, 255).astype(np.uint8)
    out[wsum <= 0] = 0
    return out, wsum / 4.0, x0 // 2, y0 // 2


def _encode_png(tile_rgb: np.ndarray, coverage: np.ndarray, compression: int) -> bytes:
    """PNG bytes: RGB where the tile is fully covered, RGBA (alpha = coverage) where it is not."""
    bgr = cv2.cvtColor(tile_rgb, cv2.COLOR_RGB2BGR)
    if not (coverage >= 1.0).all():
        alpha = np.rint(np.clip(coverage, 0.0, 1.0) * 255).astype(np.uint8)
        bgr = np.dstack([bgr, alpha])
    ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, int(compression)])
    if not ok:  # pragma: no cover - cv2 always encodes uint8 images
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a sibling temporary file and rename it onto ``path`` (readers never see half a file)."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_mbtiles(path, tiles: dict, metadata: dict) -> None:
    """Write an MBTiles file (standard schema; ``tiles`` maps XYZ ``(z, x, y)`` -> encoded bytes).

    Rows are stored in TMS order (:func:`geometry.tms_row`).  The file is built beside the target and
    moved into place, so readers never see a half-written database.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    if tmp.exists():
        tmp.unlink()
    con = sqlite3.connect(str(tmp))
    try:
        con.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        con.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)")
        con.execute("CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row)")
        con.execute("CREATE UNIQUE INDEX name ON metadata (name)")
        con.executemany("INSERT INTO metadata (name, value) VALUES (?, ?)", [(k, str(v)) for k, v in metadata.items()])
        con.executemany(
            "INSERT INTO tiles (zoom_level, tile_column, tile_row, tile_data) VALUES (?, ?, ?, ?)",
            [(z, x, geo.tms_row(y, z), sqlite3.Binary(data)) for (z, x, y), data in sorted(tiles.items())],
        )
        con.commit()
    finally:
        con.close()
    os.replace(tmp, path)


def write_tile_pyramid(image_rgb, origin_lat, origin_lon, meters_per_pixel, out_dir, zooms, mbtiles_path=None, *,
                       name: str = "geodistill", save_mosaic: bool = True, png_compression: int = 1) -> dict:
    """Resample ``image_rgb`` into ``out_dir/{z}/{x}/{y}.png`` (and ``mbtiles_path`` if given).

    Returns a dict: ``out_dir``, ``zooms``, ``min_zoom``, ``max_zoom``, ``tile_size``, ``format``, ``bounds``
    (``[min_lon, min_lat, max_lon, max_lat]``), ``tile_ranges`` (``{z: [x0, y0, x1, y1]}`` inclusive),
    ``tile_count``, ``mosaic`` (``path``, ``zoom``, ``tile_x0``, ``tile_y0``, ``origin_px``: the global
    max-zoom pixel of the mosaic's top-left corner), ``mbtiles``.  The same dict is saved as ``pyramid.json``.
    """
    image = np.asarray(image_rgb)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise TileRequestError(f"image_rgb must be uint8 [H, W, 3], got {image.dtype} {image.shape}")
    if not (meters_per_pixel > 0 and math.isfinite(meters_per_pixel)):
        raise TileRequestError(f"meters_per_pixel must be > 0, got {meters_per_pixel}")
    if not abs(origin_lat) < geo.MERCATOR_MAX_LAT_DEG:
        raise TileRequestError(f"origin_lat {origin_lat} is outside Web Mercator")
    zoom_list = sorted({int(z) for z in zooms})
    if not zoom_list or zoom_list[0] < 0 or zoom_list[-1] > 26:
        raise TileRequestError(f"zooms must be integers in [0, 26], got {zooms}")
    zmax, zmin = zoom_list[-1], zoom_list[0]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    h, w = image.shape[:2]
    mpp = float(meters_per_pixel)

    bounds = _raster_bounds(h, w, mpp, origin_lat, origin_lon)
    x0, y0, x1, y1 = _tile_range(bounds, zmax)
    shrink = float(geo.mercator_meters_per_pixel(origin_lat, zmax)) / mpp
    mosaic, valid = _resample_mosaic(_antialias(np.ascontiguousarray(image), shrink), origin_lat, origin_lon, mpp,
                                     zmax, x0, y0, x1, y1)
    mosaic_info = {"path": None, "zoom": zmax, "tile_x0": x0, "tile_y0": y0, "origin_px": [x0 * TILE, y0 * TILE],
                   "shape": [int(mosaic.shape[0]), int(mosaic.shape[1])]}
    if save_mosaic:
        mosaic_name = f"mosaic_z{zmax}.png"
        ok, buf = cv2.imencode(".png", cv2.cvtColor(mosaic, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
        write_atomic(out_dir / mosaic_name, buf.tobytes())
        mosaic_info["path"] = mosaic_name

    encoded: dict[tuple[int, int, int], bytes] = {}
    tile_ranges: dict[str, list[int]] = {}
    level, coverage, lx0, ly0 = mosaic, valid.astype(np.float32), x0, y0
    for z in range(zmax, zmin - 1, -1):
        if z != zmax:
            level, coverage, lx0, ly0 = _downsample(level, coverage, lx0, ly0)
        nty, ntx = level.shape[0] // TILE, level.shape[1] // TILE
        if z not in zoom_list:
            continue
        tile_ranges[str(z)] = [lx0, ly0, lx0 + ntx - 1, ly0 + nty - 1]
        for ty in range(nty):
            for tx in range(ntx):
                sl = (slice(ty * TILE, (ty + 1) * TILE), slice(tx * TILE, (tx + 1) * TILE))
                if not coverage[sl].any():
                    continue
                data = _encode_png(level[sl], coverage[sl], png_compression)
                x, y = lx0 + tx, ly0 + ty
                tile_dir = out_dir / str(z) / str(x)
                tile_dir.mkdir(parents=True, exist_ok=True)
                write_atomic(tile_dir / f"{y}.png", data)
                encoded[(z, x, y)] = data

    min_lon, min_lat, max_lon, max_lat = bounds
    info = {
        "out_dir": str(out_dir),
        "format": "png",
        "tile_size": TILE,
        "zooms": zoom_list,
        "min_zoom": zmin,
        "max_zoom": zmax,
        "origin_lat": float(origin_lat),
        "origin_lon": float(origin_lon),
        "meters_per_pixel": mpp,
        "image_hw": [h, w],
        "bounds": [min_lon, min_lat, max_lon, max_lat],
        "tile_ranges": tile_ranges,
        "tile_count": len(encoded),
        "mosaic": mosaic_info,
        "mbtiles": None,
    }
    if mbtiles_path is not None:
        write_mbtiles(mbtiles_path, encoded, {
            "name": name,
            "format": "png",
            "type": "baselayer",
            "version": "1.1",
            "description": f"{name}: geodistill_ros tile pyramid",
            "bounds": f"{min_lon:.9f},{min_lat:.9f},{max_lon:.9f},{max_lat:.9f}",
            "center": f"{origin_lon:.9f},{origin_lat:.9f},{zmax}",
            "minzoom": zmin,
            "maxzoom": zmax,
        })
        info["mbtiles"] = str(mbtiles_path)
    write_atomic(out_dir / PYRAMID_JSON, json.dumps(info, indent=1).encode())
    return info


def load_pyramid_info(tiles_dir) -> dict:
    """The ``pyramid.json`` written beside the tiles by :func:`write_tile_pyramid`."""
    return json.loads((Path(tiles_dir) / PYRAMID_JSON).read_text())


def load_mosaic(tiles_dir) -> tuple[np.ndarray, dict]:
    """The saved max-zoom mosaic (uint8 RGB) and its description (``origin_px`` etc.)."""
    info = load_pyramid_info(tiles_dir)["mosaic"]
    if not info.get("path"):
        raise FileNotFoundError(f"no mosaic saved in {tiles_dir}")
    bgr = cv2.imread(str(Path(tiles_dir) / info["path"]), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), info
