"""The :class:`World`: a seeded synthetic city with ground-time views and satellite-time imagery.

ENU (0, 0) is the world's centre and the datum ``(origin_lat, origin_lon)``; the rasters are north-up with
``meters_per_pixel`` and their continuous centre ``(N/2, N/2)`` at the datum.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import cv2
import numpy as np

from .. import geometry as geo
from ..tiles.pyramid import write_atomic
from . import layout as L
from .appearance import build_scene
from .config import (
    DEFAULT_ORIGIN_LAT,
    DEFAULT_ORIGIN_LON,
    STYLES,
    GapConfig,
    SimError,
    check_style,
    check_world_size,
)
from .render import Renderer, postprocess, tilt_panorama

SCENE_DIR = "scene"
RASTERS = ("ground_rgb", "sat_rgb", "solid_h", "solid_rgb", "solid_kind", "bld_id", "canopy_top", "canopy_bot",
           "canopy_rgb", "cls")
FORMAT_VERSION = 1


def _jsonable_roads(roads):
    return [dict(points=np.round(r.points, 3).tolist(), width_m=r.width_m, sidewalk_m=r.sidewalk_m, kind=r.kind,
                 markings=r.markings, lanes=r.lanes, surface=r.surface) for r in roads]


class World:
    """A synthetic world. Build with :meth:`generate` or :meth:`load`; never construct directly."""

    def __init__(self, meta: dict, scene: dict, tables: dict):
        self.meta = meta
        self.scene = scene
        self.tables = tables
        self._renderer = None

    # -- properties ----------------------------------------------------------------------------------------
    @property
    def seed(self) -> int:
        return int(self.meta["seed"])

    @property
    def style(self) -> str:
        return self.meta["style"]

    @property
    def size_m(self) -> float:
        return float(self.meta["size_m"][0])

    @property
    def meters_per_pixel(self) -> float:
        return float(self.meta["meters_per_pixel"])

    @property
    def origin_lat(self) -> float:
        return float(self.meta["origin_lat"])

    @property
    def origin_lon(self) -> float:
        return float(self.meta["origin_lon"])

    @property
    def gap(self) -> GapConfig:
        return GapConfig.from_any(self.meta["gap"])

    @property
    def size_px(self) -> int:
        return int(self.scene["solid_h"].shape[0])

    @property
    def roads(self) -> list:
        return self.tables["roads"]

    @property
    def satellite_image(self) -> np.ndarray:
        """The whole satellite-time orthophoto, uint8 [N, N, 3] RGB, north-up."""
        return self.scene["sat_rgb"]

    @property
    def ground_image(self) -> np.ndarray:
        """The ground-time albedo (no objects), uint8 [N, N, 3] RGB, north-up (for geometry checks)."""
        return self.scene["ground_rgb"]

    # -- construction ----------------------------------------------------------------------------------------
    @classmethod
    def generate(cls, seed: int = 0, style: str = "downtown", size_m: float = 1000.0, meters_per_pixel: float = 0.2,
                 origin_lat: float = DEFAULT_ORIGIN_LAT, origin_lon: float = DEFAULT_ORIGIN_LON, gap=True) -> World:
        """Generate a world deterministically from ``seed`` (same arguments -> identical rasters)."""
        check_style(style)
        size_m, meters_per_pixel = check_world_size(size_m, meters_per_pixel)
        if not (-85.0 < float(origin_lat) < 85.0 and -180.0 <= float(origin_lon) <= 180.0):
            raise SimError(f"origin ({origin_lat}, {origin_lon}) is not a valid WGS84 latitude/longitude")
        gap_cfg = GapConfig.from_any(gap)
        n = int(round(size_m / meters_per_pixel))
        size_m = n * meters_per_pixel
        t0 = time.perf_counter()
        rng = np.random.default_rng([int(seed), STYLES.index(style)])
        lay_rng, app_rng = (np.random.default_rng(s) for s in rng.integers(2**31, size=2))
        lay = L.generate_layout(lay_rng, style, size_m, meters_per_pixel)
        scene = build_scene(lay, app_rng, gap_cfg)
        info = scene.pop("info")
        scene["cls"] = lay.cls
        tables = dict(roads=lay.roads, buildings=lay.buildings, trees=lay.trees, cars=lay.cars, people=lay.people,
                      poles=lay.poles, hedges=lay.hedges)
        meta = dict(format_version=FORMAT_VERSION, seed=int(seed), style=style, size_m=[size_m, size_m],
                    meters_per_pixel=meters_per_pixel, origin_lat=float(origin_lat), origin_lon=float(origin_lon),
                    gap=gap_cfg.to_dict(), appearance=info,
                    counts=dict(roads=len(lay.roads), buildings=len(lay.buildings), trees=len(lay.trees),
                                cars=len(lay.cars), people=len(lay.people), poles=len(lay.poles)),
                    generation_s=round(time.perf_counter() - t0, 2))
        return cls(meta, scene, tables)

    def save(self, directory, overwrite: bool = True) -> Path:
        """Write ``world.json`` and ``scene/*.npy`` (enough to reload and render) into ``directory``."""
        d = Path(directory)
        if d.exists() and not d.is_dir():
            raise SimError(f"{d} exists and is not a directory")
        try:
            (d / SCENE_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SimError(f"cannot write the world to {d}: {exc.strerror or exc}") from None
        for name in RASTERS:
            np.save(d / SCENE_DIR / f"{name}.npy", np.ascontiguousarray(self.scene[name]))
        tables = dict(self.tables)
        tables["roads"] = _jsonable_roads(self.tables["roads"])
        (d / SCENE_DIR / "tables.json").write_text(json.dumps(tables))
        wj = d / "world.json"
        meta = dict(self.meta)
        if wj.exists():  # keep keys other writers added (tiles, mbtiles, overview)
            try:
                old = json.loads(wj.read_text())
                for k in ("tiles", "mbtiles", "overview", "baseline"):
                    if k in old and k not in meta:
                        meta[k] = old[k]
            except (OSError, ValueError):
                pass
        write_atomic(wj, json.dumps(meta, indent=2).encode())
        self.meta = meta
        return d

    @classmethod
    def load(cls, directory, mmap: bool = True) -> World:
        d = Path(directory)
        wj = d / "world.json"
        if not wj.is_file():
            raise SimError(f"{d} is not a world folder (no world.json); make one with `geodistill synth world`")
        meta = json.loads(wj.read_text())
        scene = {}
        for name in RASTERS:
            p = d / SCENE_DIR / f"{name}.npy"
            if not p.is_file():
                raise SimError(f"world folder {d} lacks {p.relative_to(d)}; regenerate it")
            scene[name] = np.load(p, mmap_mode="r" if mmap else None)
        tables = json.loads((d / SCENE_DIR / "tables.json").read_text())
        tables["roads"] = [L.Road(np.asarray(r["points"]), r["width_m"], r["sidewalk_m"], r["kind"], r["markings"],
                                  r["lanes"], r["surface"]) for r in tables["roads"]]
        w = cls(meta, scene, tables)
        w.path = d
        return w

    # -- rendering -----------------------------------------------------------------------------------------
    @property
    def renderer(self) -> Renderer:
        if self._renderer is None:
            self._renderer = Renderer(self.scene, self.meters_per_pixel, self.tables["buildings"], seed=self.seed)
        return self._renderer

    def render_panorama(self, east_m, north_m, yaw_rad, height=512, width=1024, camera_height_m=2.0,
                        return_depth=False, roll_rad=0.0, pitch_rad=0.0, **effects):
        """Equirectangular RGB uint8 [height, width, 3]; forward (``yaw_rad``, CCW from east) at the centre
        column, so ``yaw_rad = pi/2`` is VIGOR's north-centred panorama. ``roll_rad``/``pitch_rad`` tilt the
        camera (depth is then not returned tilted). ``effects``: see ``render.postprocess``."""
        _check_view(height, width, camera_height_m)
        img, depth = self.renderer.panorama(float(east_m), float(north_m), float(yaw_rad), int(height), int(width),
                                            float(camera_height_m))
        if roll_rad or pitch_rad:
            img = tilt_panorama(img, float(roll_rad), float(pitch_rad))
        if effects:
            img = postprocess(img, **effects)
        return (img, depth) if return_depth else img

    def render_pinhole(self, east_m, north_m, yaw_rad, width=640, height=480, fx=None, fy=None, cx=None, cy=None,
                       camera_height_m=2.0, return_depth=False, **effects):
        """Pinhole RGB uint8 [height, width, 3], optical axis horizontal along ``yaw_rad``; default 90° HFoV."""
        _check_view(height, width, camera_height_m)
        fx = float(fx) if fx is not None else width / 2.0
        fy = float(fy) if fy is not None else fx
        cx = float(cx) if cx is not None else width / 2.0
        cy = float(cy) if cy is not None else height / 2.0
        img, depth = self.renderer.pinhole(float(east_m), float(north_m), float(yaw_rad), int(width), int(height),
                                           fx, fy, cx, cy, float(camera_height_m))
        if effects:
            img = postprocess(img, **effects)
        return (img, depth) if return_depth else img

    def satellite_patch(self, east_m, north_m, size_px, meters_per_pixel, ground_time: bool = False):
        """North-up satellite-time patch (uint8 [S, S, 3] RGB) with ENU ``(east_m, north_m)`` at continuous
        ``(S/2, S/2)``; outside the world is black. ``ground_time=True`` samples the ground albedo instead."""
        size_px = int(size_px)
        if size_px <= 0 or not meters_per_pixel > 0:
            raise SimError(f"satellite patch needs size_px > 0 and meters_per_pixel > 0, got {size_px}, "
                           f"{meters_per_pixel}")
        src = self.scene["ground_rgb" if ground_time else "sat_rgb"]
        n, mpp = self.size_px, self.meters_per_pixel
        k = meters_per_pixel / mpp  # source pixels per patch pixel
        # patch pixel centre (i + .5, j + .5) -> source continuous col = N/2 + e/mpp; cv2 centres at integers
        c0 = n / 2.0 + (east_m - size_px / 2.0 * meters_per_pixel) / mpp
        r0 = n / 2.0 - (north_m + size_px / 2.0 * meters_per_pixel) / mpp
        pad = int(math.ceil(2 * k)) + 4
        x0, y0 = int(math.floor(c0)) - pad, int(math.floor(r0)) - pad
        x1, y1 = int(math.ceil(c0 + size_px * k)) + pad, int(math.ceil(r0 + size_px * k)) + pad
        crop = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
        sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, n), min(y1, n)
        if sx1 > sx0 and sy1 > sy0:
            crop[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = src[sy0:sy1, sx0:sx1]
        if k > 1.25:
            crop = cv2.GaussianBlur(crop, (0, 0), 0.45 * k)
        m = np.array([[k, 0, c0 - x0 + 0.5 * k - 0.5], [0, k, r0 - y0 + 0.5 * k - 0.5]], np.float64)
        return cv2.warpAffine(crop, m, (size_px, size_px), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    # -- geo-reference -------------------------------------------------------------------------------------
    def enu_to_latlon(self, east_m, north_m):
        lat, lon, _ = geo.enu_to_geodetic(east_m, north_m, 0.0, self.origin_lat, self.origin_lon)
        return lat, lon

    def latlon_to_enu(self, lat_deg, lon_deg):
        e, n, _ = geo.geodetic_to_enu(lat_deg, lon_deg, 0.0, self.origin_lat, self.origin_lon)
        return e, n

    def contains(self, east_m, north_m, margin_m: float = 0.0) -> bool:
        half = self.size_m / 2.0 - margin_m
        return bool(abs(east_m) < half and abs(north_m) < half)

    def free_space_mask(self) -> np.ndarray:
        """Boolean [N, N]: road/sidewalk/plaza/parking pixels with no object (where a camera may stand)."""
        cls = np.asarray(self.scene["cls"])
        walk = np.isin(cls, [L.ASPHALT, L.SIDEWALK, L.MARK_WHITE, L.MARK_YELLOW, L.PLAZA, L.PARKING, L.CONCRETE,
                             L.GRAVEL, L.DIRT])
        blocked = (np.asarray(self.scene["solid_h"]) > 0) | (np.asarray(self.scene["canopy_top"]) > 0)
        blocked = cv2.dilate(blocked.astype(np.uint8), np.ones((int(2.5 / self.meters_per_pixel) | 1,) * 2,
                                                                 np.uint8)) > 0
        return walk & ~blocked

    def free_points_enu(self, margin_m: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """ENU ``(east_m, north_m)`` of the centres of :meth:`free_space_mask` pixels (row-major order), keeping
        those with ``|east|`` and ``|north|`` below ``size_m / 2 - margin_m``."""
        rows, cols = np.nonzero(self.free_space_mask())
        mpp, half = self.meters_per_pixel, self.size_m / 2.0
        east = (cols + 0.5) * mpp - half
        north = half - (rows + 0.5) * mpp
        ok = (np.abs(east) < half - margin_m) & (np.abs(north) < half - margin_m)
        return east[ok], north[ok]


def _check_view(height, width, camera_height_m):
    if int(height) <= 0 or int(width) <= 0:
        raise SimError(f"image size must be positive, got {width}x{height}")
    if not camera_height_m > 0:
        raise SimError(f"camera_height_m must be > 0, got {camera_height_m}")
