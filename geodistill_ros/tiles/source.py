"""``TileSource``: a provider behind the caches, fetched concurrently, cropped into metric north-up patches.

Lookup order for one tile: in-memory LRU (decoded) -> disk cache (remote providers only; corrupt files are
dropped) -> the provider (not in offline mode).  Only tiles that decode to an image of the right size are
cached; a failed tile is remembered for ``failure_retry_s`` (so a dead server is not hammered every frame) and
then asked again.  Concurrent requests for the same tile share one fetch.
"""

from __future__ import annotations

import copy
import logging
import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from .. import geometry as geo
from .cache import DiskTileCache, MemoryTileCache
from .crop import Crop, plan_mercator_crop, render_mercator_crop, validate_request
from .errors import (
    TileDecodeError,
    TileError,
    TileFetchError,
    TileNotFound,
    TileOfflineMiss,
    TileOutOfCoverage,
)
from .provider import TileProvider

log = logging.getLogger(__name__)


@dataclass
class TileSourceConfig:
    memory_cache_tiles: int = 512  # decoded 256 px RGB tiles: 192 KiB each
    disk_cache_max_bytes: int = 2 << 30
    failure_retry_s: float = 5.0  # a failed tile is not asked again before this
    fetch_workers: int = 8  # parallel tile loads per crop (also capped by the provider's concurrency)
    zoom_tolerance: float = 1.15  # accept tiles up to this factor coarser than asked before going a zoom deeper
    overzoom_levels: int = 3  # when a zoom has no tile at all (404s), try up to this many coarser zooms


def decode_tile(data: bytes, tile_size: int, tile=None) -> np.ndarray:
    """Encoded bytes -> uint8 RGB [T, T, 3], or RGBA [T, T, 4] when the tile has transparent pixels (alpha < 255
    marks no imagery); raises :class:`TileDecodeError` for anything that is not such an image."""
    arr = np.frombuffer(data, np.uint8)
    img = cv2.imdecode(arr, cv2.IMREAD_UNCHANGED) if arr.size else None
    if img is None:
        head = bytes(data[:16])
        raise TileDecodeError(f"not an image ({len(data)} bytes starting {head!r})", tile)
    if img.shape[:2] != (tile_size, tile_size):
        raise TileDecodeError(f"tile is {img.shape[1]}x{img.shape[0]} px, expected {tile_size}", tile)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise TileDecodeError(f"unsupported tile pixel type {img.dtype}", tile)
    if img.ndim == 2 or img.shape[2] == 1:
        return cv2.cvtColor(img.reshape(tile_size, tile_size), cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 4:
        if (img[..., 3] == 255).all():
            return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _intersects(a, b) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


class TileSource:
    """Crops from an XYZ provider (HTTP, folder, MBTiles) with caches; see :func:`open_tile_source`."""

    def __init__(self, provider: TileProvider, cache_dir=None, offline: bool = False,
                 config: TileSourceConfig | None = None):
        self.provider = provider
        self.config = config or TileSourceConfig()
        self.offline = bool(offline)
        self.tile_size = provider.info.tile_size
        self.memory = MemoryTileCache(self.config.memory_cache_tiles)
        self.disk = (DiskTileCache(cache_dir, self.config.disk_cache_max_bytes)
                     if cache_dir is not None and provider.remote else None)
        self._lock = threading.Lock()
        self._inflight: dict[tuple, Future] = {}
        self._failed: dict[tuple, tuple[float, TileFetchError]] = {}
        workers = max(1, min(self.config.fetch_workers, provider.max_concurrency))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tiles")
        self._prefetcher = None
        self.stats = {"memory_hits": 0, "disk_hits": 0, "fetched": 0, "failed": 0, "corrupt": 0}

    # -- single tiles ---------------------------------------------------------------------------------
    def describe(self) -> str:
        return self.provider.describe()

    def get_tile(self, z: int, x: int, y: int) -> np.ndarray:
        """Decoded tile uint8 [T, T, 3] (or [T, T, 4] RGBA if partly transparent); raises a
        :class:`TileFetchError` subclass."""
        key = (int(z), int(x), int(y))
        tile = self.memory.get(key)
        if tile is not None:
            self._count("memory_hits")
            return tile
        with self._lock:
            fut = self._inflight.get(key)
            owner = fut is None
            if owner:
                fut = Future()
                self._inflight[key] = fut
        if not owner:
            return fut.result()
        try:
            tile = self._load(key)
        except TileFetchError as exc:
            fut.set_exception(exc)
            raise
        except Exception as exc:  # a bug or an unexpected library error: still a typed failure
            err = TileFetchError(f"unexpected {type(exc).__name__} loading tile {key}: {exc}", key)
            fut.set_exception(err)
            raise err from exc
        else:
            fut.set_result(tile)
            return tile
        finally:
            with self._lock:
                self._inflight.pop(key, None)

    def _count(self, name: str) -> None:
        with self._lock:
            self.stats[name] += 1

    def _load(self, key) -> np.ndarray:
        z, x, y = key
        pid = self.provider.provider_id
        if self.disk is not None:
            data = self.disk.get(pid, z, x, y)
            if data is not None:
                try:
                    tile = decode_tile(data, self.tile_size, key)
                    self.memory.put(key, tile)
                    self._count("disk_hits")
                    return tile
                except TileDecodeError:
                    self._count("corrupt")
                    self.disk.delete(pid, z, x, y)
        if self.offline and self.provider.remote:
            raise TileOfflineMiss(f"offline and tile {z}/{x}/{y} is not cached", key)
        with self._lock:
            failed = self._failed.get(key)
        if failed is not None and time.monotonic() < failed[0]:
            raise copy.copy(failed[1])
        try:
            data = self.provider.fetch(z, x, y)
            tile = decode_tile(data, self.tile_size, key)
        except TileFetchError as exc:
            with self._lock:
                now = time.monotonic()
                if len(self._failed) > 4096:  # forget expired failures
                    self._failed = {k: v for k, v in self._failed.items() if v[0] > now}
                self._failed[key] = (now + self.config.failure_retry_s, exc)
                self.stats["failed"] += 1
            raise
        with self._lock:
            self._failed.pop(key, None)
            self.stats["fetched"] += 1
        if self.disk is not None:
            try:
                self.disk.put(pid, z, x, y, data)
            except OSError as exc:  # a full or read-only disk must not break localization
                log.warning("tile cache write failed: %s", exc)
        self.memory.put(key, tile)
        return tile

    def get_tiles(self, keys) -> tuple[dict, dict]:
        """Load many tiles concurrently: ``(tiles {key: array}, failures {key: TileFetchError})``."""
        tiles, failures, todo = {}, {}, []
        for key in keys:
            tile = self.memory.get(key)
            if tile is not None:
                tiles[key] = tile
            else:
                todo.append(key)
        if len(tiles):
            with self._lock:
                self.stats["memory_hits"] += len(tiles)
        futures = {key: self._pool.submit(self.get_tile, *key) for key in todo[1:]}
        for key in todo[:1]:  # the calling thread does one itself
            try:
                tiles[key] = self.get_tile(*key)
            except TileFetchError as exc:
                failures[key] = exc
        for key, fut in futures.items():
            try:
                tiles[key] = fut.result()
            except TileFetchError as exc:
                failures[key] = exc
        return tiles, failures

    # -- crops ----------------------------------------------------------------------------------------
    def choose_zoom(self, lat_deg: float, meters_per_pixel: float) -> int:
        """The coarsest zoom about as fine as ``meters_per_pixel`` here (within ``zoom_tolerance``), clamped to
        the provider's range."""
        z = geo.zoom_for_resolution(meters_per_pixel * self.config.zoom_tolerance, lat_deg, self.tile_size)
        return int(min(max(z, self.provider.info.min_zoom), self.provider.info.max_zoom))

    def plan(self, lat_deg, lon_deg, size_px, meters_per_pixel, zoom=None):
        """Where the crop samples the tiles: ``(MercatorPlan, (lat, lon, size_px, mpp))``."""
        lat, lon, size, mpp = validate_request(lat_deg, lon_deg, size_px, meters_per_pixel)
        z = self.choose_zoom(lat, mpp) if zoom is None else int(zoom)
        return plan_mercator_crop(lat, lon, size, mpp, z, self.tile_size), (lat, lon, size, mpp)

    def crop(self, lat_deg, lon_deg, size_px, meters_per_pixel, zoom=None) -> Crop:
        """North-up metric patch centred on the point (see :class:`Crop`); missing tiles are masked out.

        Raises :class:`TileOutOfCoverage` when the area is outside the source, or the typed failure of the
        tiles when not a single one could be obtained.
        """
        plan, (lat, lon, size, mpp) = self.plan(lat_deg, lon_deg, size_px, meters_per_pixel, zoom)
        bounds = self.provider.info.bounds
        if bounds is not None and not _intersects(plan.bbox, bounds):
            raise TileOutOfCoverage(f"({lat:.6f}, {lon:.6f}) with {size} px at {mpp:g} m/px is outside the "
                                    f"source's bounds {tuple(round(b, 6) for b in bounds)}")
        tiles, failures = self.get_tiles(plan.tile_keys)
        fallback = 0
        while (zoom is None and not tiles and failures and fallback < self.config.overzoom_levels
               and plan.zoom > self.provider.info.min_zoom
               and all(isinstance(e, TileNotFound) for e in failures.values())):
            fallback += 1  # this zoom does not exist here: use a coarser one (upsampled)
            plan = plan_mercator_crop(lat, lon, size, mpp, plan.zoom - 1, self.tile_size)
            tiles, failures = self.get_tiles(plan.tile_keys)
        image, valid = render_mercator_crop(plan, tiles, self.tile_size)
        missing = [(*key, f"{type(exc).__name__}: {exc}") for key, exc in sorted(failures.items())]
        if not valid.any():
            if not failures or all(isinstance(e, TileNotFound) for e in failures.values()):
                raise TileOutOfCoverage(f"no imagery at ({lat:.6f}, {lon:.6f}) zoom {plan.zoom} in "
                                        f"{self.describe()}")
            raise copy.copy(next(iter(failures.values())))
        return Crop(image=image, valid_mask=valid, meters_per_pixel=mpp, center_lat=lat, center_lon=lon,
                    zoom=plan.zoom, missing_tiles=missing, source=self.describe())

    # -- prefetch -------------------------------------------------------------------------------------
    def prefetch(self, lat_deg, lon_deg, yaw_rad, size_px, meters_per_pixel, distance_m=None) -> None:
        """Warm (in the background) the tiles of crops ahead along ``yaw_rad`` (ENU, CCW from east).

        ``distance_m`` defaults to one crop width; crops at 1/2 and 1 times that distance are warmed.
        Only the newest request is kept; errors are counted, never raised.
        """
        from .prefetch import Prefetcher

        with self._lock:
            if self._prefetcher is None:
                self._prefetcher = Prefetcher(self)
        self._prefetcher.request(lat_deg, lon_deg, yaw_rad, size_px, meters_per_pixel, distance_m)

    def close(self) -> None:
        if self._prefetcher is not None:
            self._prefetcher.stop()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.provider.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_tile_source(spec, cache_dir=None, offline=False, user_agent=None, timeout_s=5.0, **options):
    """Open a source of north-up crops.

    ``spec``: ``"https://host/{z}/{x}/{y}.jpg"`` (also ``{s}``, ``{q}``, ``{-y}``, ``{apikey}``),
    ``"file:///dir/{z}/{x}/{y}.png"`` or a folder (a world folder works too), ``"world.mbtiles"``,
    ``"ortho.tif"`` (GeoTIFF / COG, needs rasterio).
    ``options``: ``memory_cache_tiles``, ``disk_cache_max_bytes``, ``failure_retry_s``, ``fetch_workers``
    (:class:`TileSourceConfig`), and for HTTP ``max_retries``, ``backoff_s``, ``max_concurrency``,
    ``max_tile_bytes``, ``api_key_env``, ``api_key_header``, ``subdomains``, ``use_env_proxies``;
    ``min_zoom``/``max_zoom``/``tile_size``/``bounds`` override what the provider reports.
    Raises :class:`TileSourceError` (or another :class:`TileError`) when the source cannot be opened.
    """
    from pathlib import Path

    from .errors import TileSourceError
    from .provider import ProviderInfo

    cfg_keys = set(TileSourceConfig.__dataclass_fields__)
    cfg = TileSourceConfig(**{k: options.pop(k) for k in list(options) if k in cfg_keys})
    info_over = {k: options.pop(k) for k in ("min_zoom", "max_zoom", "tile_size", "bounds") if k in options}
    if timeout_s is None or not (timeout_s > 0 and math.isfinite(timeout_s)):
        raise TileSourceError(f"timeout_s must be > 0, got {timeout_s!r}")
    text = str(spec)
    lower = text.lower()
    try:
        if lower.startswith(("http://", "https://")):
            from .http_provider import HttpTileProvider

            provider = HttpTileProvider(text, user_agent=user_agent, timeout_s=timeout_s, **options)
        elif lower.endswith((".tif", ".tiff", ".vrt")) and not lower.startswith("file://"):
            if options:
                raise TileSourceError(f"options {sorted(options)} do not apply to a GeoTIFF source")
            from .geotiff import GeoTiffSource

            return GeoTiffSource(text)
        elif lower.endswith(".mbtiles"):
            from .local_providers import MBTilesProvider

            if options:
                raise TileSourceError(f"options {sorted(options)} do not apply to an MBTiles source")
            provider = MBTilesProvider(text)
        elif lower.startswith("file://") or Path(text).is_dir() or "{z}" in text:
            from .local_providers import FileTileProvider

            provider = FileTileProvider(text, **options)
        else:
            raise TileSourceError(f"cannot tell what kind of tile source {text!r} is (URL template, folder, "
                                  ".mbtiles or .tif) or it does not exist")
    except TypeError as exc:  # an unknown option
        raise TileSourceError(f"bad tile source option: {exc}") from None
    if info_over:
        base = provider.info
        provider.info = ProviderInfo(min_zoom=int(info_over.get("min_zoom", base.min_zoom)),
                                     max_zoom=int(info_over.get("max_zoom", base.max_zoom)),
                                     tile_size=int(info_over.get("tile_size", base.tile_size)),
                                     bounds=info_over.get("bounds", base.bounds))
    return TileSource(provider, cache_dir=cache_dir, offline=offline, config=cfg)


__all__ = ["TileSource", "TileSourceConfig", "open_tile_source", "decode_tile", "TileError"]
