"""The crop: a true metric north-up patch centred on a lat/lon, and the maths that samples it from tiles.

Georeference of a crop of ``S x S`` pixels at ``meters_per_pixel`` centred on ``(lat, lon)``: continuous pixel
``(row, col)`` is the ENU point ``patch_pixel_to_enu(row, col, 0, 0, mpp, S)`` of the local tangent plane about
the centre, i.e. ``(S/2, S/2)`` is exactly ``(lat, lon)``, rows grow southwards and columns eastwards.

Sampling: the exact map crop pixel -> Web-Mercator global pixel (via :func:`geometry.enu_to_geodetic` and
:func:`geometry.latlon_to_world_pixel`) is evaluated on a small grid of nodes (one every 64 px) and
interpolated bilinearly to every pixel centre (``cv2.resize``); the map is smooth to far below a pixel at that
node spacing (error ~1e-5 px), and it is pinned to be exact at the crop centre.  This carries the Mercator
``1/cos(lat)`` scale (and its variation across the crop, and the ellipsoid's) exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from .. import geometry as geo
from .errors import TileRequestError

MAX_CROP_PX = 8192


@dataclass
class Crop:
    """A north-up metric patch: ``image`` uint8 [S, S, 3] RGB, ``valid_mask`` bool [S, S]."""

    image: np.ndarray
    valid_mask: np.ndarray
    meters_per_pixel: float
    center_lat: float
    center_lon: float
    zoom: int | None = None
    missing_tiles: list = field(default_factory=list)  # [(z, x, y, reason), ...]
    source: str = ""

    @property
    def size_px(self) -> int:
        return int(self.image.shape[0])

    @property
    def valid_fraction(self) -> float:
        return float(self.valid_mask.mean()) if self.valid_mask.size else 0.0

    def pixel_to_enu(self, row, col):
        """Continuous ``(row, col)`` -> ``(east_m, north_m)`` on the tangent plane about the crop centre."""
        return geo.patch_pixel_to_enu(row, col, 0.0, 0.0, self.meters_per_pixel, self.size_px)

    def enu_to_pixel(self, east_m, north_m):
        """``(east_m, north_m)`` about the crop centre -> continuous ``(row, col)``."""
        return geo.enu_to_patch_pixel(east_m, north_m, 0.0, 0.0, self.meters_per_pixel, self.size_px)

    def pixel_to_latlon(self, row, col):
        """Continuous ``(row, col)`` -> ``(lat_deg, lon_deg)``."""
        east, north = self.pixel_to_enu(row, col)
        lat, lon, _ = geo.enu_to_geodetic(east, north, np.zeros_like(east), self.center_lat, self.center_lon)
        return lat, lon

    def latlon_to_pixel(self, lat_deg, lon_deg):
        """``(lat_deg, lon_deg)`` -> continuous ``(row, col)``."""
        east, north, _ = geo.geodetic_to_enu(lat_deg, lon_deg, 0.0, self.center_lat, self.center_lon)
        return self.enu_to_pixel(east, north)


def validate_request(lat_deg, lon_deg, size_px, meters_per_pixel) -> tuple[float, float, int, float]:
    """Checked, converted crop arguments; raises :class:`TileRequestError`."""
    try:
        lat, lon, mpp = float(lat_deg), float(lon_deg), float(meters_per_pixel)
        size = int(size_px)
    except (TypeError, ValueError):
        raise TileRequestError(f"bad crop request: lat={lat_deg!r} lon={lon_deg!r} size={size_px!r} "
                               f"mpp={meters_per_pixel!r}") from None
    if size != size_px or not 1 <= size <= MAX_CROP_PX:
        raise TileRequestError(f"size_px must be an integer in [1, {MAX_CROP_PX}], got {size_px!r}")
    if not (math.isfinite(mpp) and 0 < mpp <= 1e4):
        raise TileRequestError(f"meters_per_pixel must be > 0, got {meters_per_pixel!r}")
    if not (math.isfinite(lat) and abs(lat) < geo.MERCATOR_MAX_LAT_DEG):
        raise TileRequestError(f"latitude {lat_deg!r} is outside Web Mercator (|lat| < 85.05)")
    if not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
        raise TileRequestError(f"longitude {lon_deg!r} is outside [-180, 180]")
    return lat, lon, size, mpp


NODE_SPACING_PX = 64


def crop_node_latlon(lat, lon, size_px, meters_per_pixel, spacing_px: int = NODE_SPACING_PX):
    """Node positions (continuous px, shared by rows and columns) and their exact ``(lat, lon)`` [m, m].

    Nodes sit at ``(k + 0.5) * spacing`` for ``k = -1 .. ceil(S / spacing)``: the pixel centres of a coarse grid
    one cell larger than the crop on every side, which :func:`interpolate_nodes` upsamples with ``cv2.resize``.
    """
    n = max(1, math.ceil(size_px / spacing_px))
    nodes = (np.arange(-1, n + 1, dtype=np.float64) + 0.5) * spacing_px
    rows, cols = np.meshgrid(nodes, nodes, indexing="ij")
    east, north = geo.patch_pixel_to_enu(rows, cols, 0.0, 0.0, meters_per_pixel, size_px)
    nlat, nlon, _ = geo.enu_to_geodetic(east, north, np.zeros_like(east), lat, lon)
    return nodes, nlat, nlon


def _bilinear_at(values: np.ndarray, nodes: np.ndarray, t: float) -> float:
    """Bilinear interpolation of node values at the continuous point ``(t, t)``."""
    k = int(np.clip(np.searchsorted(nodes, t, side="right") - 1, 0, len(nodes) - 2))
    a = (t - nodes[k]) / (nodes[k + 1] - nodes[k])
    v = values[k:k + 2, k:k + 2]
    return float((1 - a) * ((1 - a) * v[0, 0] + a * v[0, 1]) + a * ((1 - a) * v[1, 0] + a * v[1, 1]))


def interpolate_nodes(values: np.ndarray, nodes: np.ndarray, size_px: int, center_value: float | None = None):
    """Bilinear interpolation of node values [m, m] to every pixel centre [S, S] (float64; may be a view).

    With ``center_value`` the result is shifted (by far less than a pixel) so that it interpolates exactly
    to that value at the continuous centre ``(S/2, S/2)``.
    """
    spacing = int(round(nodes[1] - nodes[0]))
    m = len(nodes)
    values = np.array(values, dtype=np.float64)
    if center_value is not None:  # interpolation is linear: shifting the nodes shifts the result
        values += center_value - _bilinear_at(values, nodes, size_px / 2.0)
    big = cv2.resize(values, (m * spacing, m * spacing), interpolation=cv2.INTER_LINEAR)
    return big[spacing:spacing + size_px, spacing:spacing + size_px]


def latlon_bbox(nlat: np.ndarray, nlon: np.ndarray) -> tuple[float, float, float, float]:
    return float(nlon.min()), float(nlat.min()), float(nlon.max()), float(nlat.max())


@dataclass
class MercatorPlan:
    """Where a crop samples the Web-Mercator tiles of one zoom: global pixel ``(cx + dx, cy + dy)``."""

    zoom: int
    dx: np.ndarray  # [S, S] float64 global pixel x at pixel centres, minus cx
    dy: np.ndarray
    cx: float  # global pixel of the crop centre (S/2, S/2)
    cy: float
    tiles_x: range
    tiles_y: range
    bbox: tuple[float, float, float, float]
    scale: float = 1.0  # tile pixels per crop pixel (> 1: the tiles are finer than the crop)

    @property
    def px(self) -> np.ndarray:
        return self.dx + self.cx

    @property
    def py(self) -> np.ndarray:
        return self.dy + self.cy

    @property
    def tile_keys(self) -> list[tuple[int, int, int]]:
        return [(self.zoom, x, y) for y in self.tiles_y for x in self.tiles_x]


def plan_mercator_crop(lat, lon, size_px, meters_per_pixel, zoom: int, tile_size: int = geo.TILE_SIZE_PX):
    nodes, nlat, nlon = crop_node_latlon(lat, lon, size_px, meters_per_pixel)
    npx, npy = geo.latlon_to_world_pixel(nlat, nlon, zoom, tile_size)
    # interpolate offsets from the centre (keeps float64 precision at high zooms)
    cx, cy = (float(v) for v in geo.latlon_to_world_pixel(lat, lon, zoom, tile_size))
    dx = interpolate_nodes(npx - cx, nodes, size_px, center_value=0.0)
    dy = interpolate_nodes(npy - cy, nodes, size_px, center_value=0.0)
    n = 2**zoom
    edges_x = cx + np.concatenate([dx[0], dx[-1], dx[:, 0], dx[:, -1]])  # monotone map: extremes on the edges
    edges_y = cy + np.concatenate([dy[0], dy[-1], dy[:, 0], dy[:, -1]])
    x0 = max(int(math.floor((edges_x.min() - 1.0) / tile_size)), 0)
    x1 = min(int(math.floor((edges_x.max() + 1.0) / tile_size)), n - 1)
    y0 = max(int(math.floor((edges_y.min() - 1.0) / tile_size)), 0)
    y1 = min(int(math.floor((edges_y.max() + 1.0) / tile_size)), n - 1)
    mid = len(nodes) // 2  # a central row of nodes
    span = nodes[-1] - nodes[0]
    scale = float(math.hypot(npx[mid, -1] - npx[mid, 0], npy[mid, -1] - npy[mid, 0]) / span)
    return MercatorPlan(zoom, dx, dy, cx, cy, range(x0, x1 + 1), range(y0, y1 + 1), latlon_bbox(nlat, nlon),
                        scale)


def render_mercator_crop(plan: MercatorPlan, tiles: dict, tile_size: int = geo.TILE_SIZE_PX):
    """Sample the crop from decoded tiles (``(z, x, y) -> uint8 [T, T, 3]``, or RGBA [T, T, 4] whose alpha < 255
    marks no imagery; absent keys are missing tiles).

    Returns ``(image uint8 [S, S, 3], valid bool [S, S])``; invalid pixels are black.
    """
    nx, ny = len(plan.tiles_x), len(plan.tiles_y)
    mosaic = np.zeros((ny * tile_size, nx * tile_size, 3), np.uint8)
    have = np.zeros((ny, nx), bool)
    alphas = []  # partly transparent tiles: (j, i, alpha)
    for j, ty in enumerate(plan.tiles_y):
        for i, tx in enumerate(plan.tiles_x):
            tile = tiles.get((plan.zoom, tx, ty))
            if tile is not None:
                mosaic[j * tile_size:(j + 1) * tile_size, i * tile_size:(i + 1) * tile_size] = tile[..., :3]
                have[j, i] = True
                if tile.shape[2] == 4:
                    alphas.append((j, i, tile[..., 3]))
    sigma = 0.45 * math.sqrt(plan.scale**2 - 1.0) if plan.scale > 1.3 else 0.0
    if sigma:  # shrinking: low-pass first so bilinear sampling does not alias
        mosaic = cv2.GaussianBlur(mosaic, (0, 0), sigmaX=sigma, sigmaY=sigma)
    ox, oy = plan.tiles_x.start * tile_size, plan.tiles_y.start * tile_size
    size = plan.dx.shape[0]
    map_x = np.empty((size, size), np.float32)
    map_y = np.empty((size, size), np.float32)
    np.add(plan.dx, plan.cx - (ox + 0.5), out=map_x, casting="unsafe")  # one pass, float64 maths
    np.add(plan.dy, plan.cy - (oy + 0.5), out=map_y, casting="unsafe")
    image = cv2.remap(mosaic, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # samples lie inside the mosaic by construction of the plan (1-px margin) unless the world's edge clipped it;
    # the map is monotone, so checking the crop's border is enough
    h_m, w_m = mosaic.shape[0] - 0.5, mosaic.shape[1] - 0.5
    border_x = np.concatenate([map_x[0], map_x[-1], map_x[:, 0], map_x[:, -1]])
    border_y = np.concatenate([map_y[0], map_y[-1], map_y[:, 0], map_y[:, -1]])
    if border_x.min() >= -0.5 and border_x.max() <= w_m and border_y.min() >= -0.5 and border_y.max() <= h_m:
        inside = np.ones((size, size), bool)
    else:
        inside = (map_x >= -0.5) & (map_x <= w_m) & (map_y >= -0.5) & (map_y <= h_m)
    if have.all() and not alphas:
        valid = inside
    else:
        tile_mask = np.repeat(np.repeat(have.astype(np.uint8) * 255, tile_size, 0), tile_size, 1)
        for j, i, alpha in alphas:
            tile_mask[j * tile_size:(j + 1) * tile_size, i * tile_size:(i + 1) * tile_size] = np.where(
                alpha == 255, 255, 0)
        if sigma:  # black from missing tiles bled into their neighbours: those pixels are not valid either
            tile_mask = cv2.GaussianBlur(tile_mask, (0, 0), sigmaX=sigma, sigmaY=sigma)
        sampled = cv2.remap(tile_mask, map_x, map_y, interpolation=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
        valid = inside & (sampled == 255)
    if not valid.all():
        image[~valid] = 0
    return image, valid
