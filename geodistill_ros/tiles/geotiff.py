"""GeoTIFF / Cloud-Optimized GeoTIFF orthophotos (any CRS) via rasterio, an optional dependency.

A crop reads only the window it needs; when the orthophoto is much finer than the requested resolution the
read is decimated (``out_shape``), so GDAL uses the file's overviews.  The georeference is the same as for
tile crops (:class:`~geodistill_ros.tiles.crop.Crop`): the node grid of exact lat/lon is transformed into the
raster's CRS and interpolated to every pixel.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import cv2
import numpy as np

from .crop import Crop, crop_node_latlon, interpolate_nodes, validate_request
from .errors import TileError, TileOutOfCoverage, TileSourceError


def _import_rasterio():
    try:
        import rasterio
        import rasterio.warp
        import rasterio.windows
    except ImportError:
        raise TileSourceError("GeoTIFF sources need rasterio: pip install 'geodistill_ros[geotiff]'") from None
    return rasterio


def _to_uint8(data: np.ndarray) -> np.ndarray:
    if data.dtype == np.uint8:
        return data
    data = data.astype(np.float32)
    finite = data[np.isfinite(data)]
    top = float(np.percentile(finite, 99.5)) if finite.size else 1.0
    return np.clip(np.nan_to_num(data) * (255.0 / max(top, 1e-6)), 0, 255).astype(np.uint8)


class GeoTiffSource:
    """Same crop interface as :class:`~geodistill_ros.tiles.source.TileSource`."""

    def __init__(self, path):
        rasterio = _import_rasterio()
        self.path = Path(path)
        if not self.path.is_file():
            raise TileSourceError(f"no such GeoTIFF: {self.path}")
        try:
            self.ds = rasterio.open(self.path)
        except Exception as exc:  # rasterio raises RasterioIOError and friends
            raise TileSourceError(f"cannot open {self.path} as a raster: {exc}") from None
        if self.ds.crs is None:
            self.ds.close()
            raise TileSourceError(f"{self.path} has no coordinate reference system")
        if self.ds.count == 2:
            self.ds.close()
            raise TileSourceError(f"{self.path} has {self.ds.count} bands; 1 (grey) or >= 3 (RGB) are needed")
        self._bands = [1, 2, 3] if self.ds.count >= 3 else [1, 1, 1]
        self._lock = threading.Lock()  # GDAL dataset handles are not thread-safe
        self.bounds = tuple(rasterio.warp.transform_bounds(self.ds.crs, "EPSG:4326", *self.ds.bounds))

    def describe(self) -> str:
        return str(self.path)

    def crop(self, lat_deg, lon_deg, size_px, meters_per_pixel, zoom=None) -> Crop:
        rasterio = _import_rasterio()
        lat, lon, size, mpp = validate_request(lat_deg, lon_deg, size_px, meters_per_pixel)
        nodes, nlat, nlon = crop_node_latlon(lat, lon, size, mpp)
        try:  # the nodes, then the exact centre
            xs, ys = rasterio.warp.transform("EPSG:4326", self.ds.crs, [*nlon.ravel().tolist(), lon],
                                             [*nlat.ravel().tolist(), lat])
        except Exception as exc:
            raise TileOutOfCoverage(f"({lat}, {lon}) cannot be expressed in {self.ds.crs}: {exc}") from None
        inv = ~self.ds.transform
        cols = inv.a * np.asarray(xs) + inv.b * np.asarray(ys) + inv.c
        rows = inv.d * np.asarray(xs) + inv.e * np.asarray(ys) + inv.f
        ncol, nrow = cols[:-1].reshape(nlat.shape), rows[:-1].reshape(nlat.shape)
        if not (np.isfinite(ncol).all() and np.isfinite(nrow).all()):
            raise TileOutOfCoverage(f"({lat}, {lon}) is outside the valid area of {self.ds.crs}")
        h, w = self.ds.height, self.ds.width
        c0, c1 = max(math.floor(ncol.min()) - 2, 0), min(math.ceil(ncol.max()) + 2, w)
        r0, r1 = max(math.floor(nrow.min()) - 2, 0), min(math.ceil(nrow.max()) + 2, h)
        if c1 <= c0 or r1 <= r0:
            raise TileOutOfCoverage(f"({lat:.6f}, {lon:.6f}) with {size} px at {mpp:g} m/px is outside "
                                    f"{self.path.name} (bounds {tuple(round(b, 6) for b in self.bounds)})")
        # source pixels per crop pixel; decimate reads (-> overviews) when the source is >= 2x finer
        src_per_px = math.hypot(ncol[0, -1] - ncol[0, 0], nrow[0, -1] - nrow[0, 0]) / (nodes[-1] - nodes[0])
        factor = max(1, int(math.floor(src_per_px)))
        win_w, win_h = c1 - c0, r1 - r0
        out_w, out_h = max(1, math.ceil(win_w / factor)), max(1, math.ceil(win_h / factor))
        window = rasterio.windows.Window(c0, r0, win_w, win_h)
        resampling = rasterio.enums.Resampling.average if factor > 1 else rasterio.enums.Resampling.nearest
        try:
            with self._lock:
                data = self.ds.read(self._bands, window=window, out_shape=(3, out_h, out_w), resampling=resampling)
                mask = self.ds.read_masks(1, window=window, out_shape=(out_h, out_w), resampling=resampling)
        except Exception as exc:
            raise TileError(f"reading {self.path.name} failed: {exc}") from None
        image_src = np.ascontiguousarray(np.moveaxis(_to_uint8(data), 0, -1))
        mask_src = np.where(mask > 0, 255, 0).astype(np.uint8)
        col_map = interpolate_nodes(ncol - c0, nodes, size, cols[-1] - c0) * (out_w / win_w) - 0.5
        row_map = interpolate_nodes(nrow - r0, nodes, size, rows[-1] - r0) * (out_h / win_h) - 0.5
        map_x, map_y = col_map.astype(np.float32), row_map.astype(np.float32)
        image = cv2.remap(image_src, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        sampled = cv2.remap(mask_src, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                            borderValue=0)
        inside = (map_x >= -0.5) & (map_x <= out_w - 0.5) & (map_y >= -0.5) & (map_y <= out_h - 0.5)
        valid = inside & (sampled == 255)
        if not valid.any():
            raise TileOutOfCoverage(f"no valid imagery at ({lat:.6f}, {lon:.6f}) in {self.path.name}")
        image[~valid] = 0
        return Crop(image=image, valid_mask=valid, meters_per_pixel=mpp, center_lat=lat, center_lon=lon, zoom=None,
                    missing_tiles=[], source=str(self.path))

    def prefetch(self, *args, **kwargs) -> None:
        """Nothing to warm: windowed reads of a local file are already fast."""

    def close(self) -> None:
        with self._lock:
            self.ds.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
