"""A complete world folder: scene rasters, XYZ tiles + MBTiles of the satellite image, overview and baseline.

``write_world_folder`` writes everything under a temporary sibling and renames it into place.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np

from .. import geometry as geo
from .config import SimError
from .fsutil import atomic_dir
from .world import World

TILES_DIR = "tiles"
MBTILES = "world.mbtiles"
OVERVIEW = "overview.png"


def tile_zooms(world: World, finest_m: float = 0.15, coarsest_m: float = 1.2) -> list[int]:
    """Zoom levels whose ground resolution spans about ``finest_m`` .. ``coarsest_m`` at the world's latitude."""
    zmax = geo.zoom_for_resolution(finest_m, world.origin_lat)
    zmin = geo.zoom_for_resolution(coarsest_m, world.origin_lat)
    return list(range(min(zmin, zmax), zmax + 1))


def write_tiles(world: World, folder: Path, zooms=None) -> dict:
    from ..tiles.pyramid import write_tile_pyramid

    zooms = zooms or tile_zooms(world)
    info = write_tile_pyramid(np.asarray(world.satellite_image), world.origin_lat, world.origin_lon,
                              world.meters_per_pixel, folder / TILES_DIR, zooms, mbtiles_path=folder / MBTILES,
                              name=f"geodistill synthetic {world.style} {world.seed}", save_mosaic=False)
    return dict(tiles=dict(dir=TILES_DIR, format="png", min_zoom=int(min(zooms)), max_zoom=int(max(zooms))),
                mbtiles=MBTILES, tile_count=int(info.get("tile_count", 0)))


def overview_image(world: World, trajectory_en=None, samples=(), max_px: int = 1600) -> np.ndarray:
    """The satellite image (downscaled) with an optional trajectory polyline and sample views pasted below."""
    sat = np.asarray(world.satellite_image)
    n = sat.shape[0]
    s = min(1.0, max_px / n)
    img = cv2.resize(sat, (int(n * s), int(n * s)), interpolation=cv2.INTER_AREA) if s < 1 else sat.copy()
    m = img.shape[0]
    px_per_m = m / world.size_m

    def to_px(e, nn):
        return np.stack([(np.asarray(e) + world.size_m / 2) * px_per_m, (world.size_m / 2 - np.asarray(nn)) *
                         px_per_m], -1)

    if trajectory_en is not None and len(trajectory_en):
        p = to_px(trajectory_en[:, 0], trajectory_en[:, 1])
        cv2.polylines(img, [np.round(p * 16).astype(np.int32)], False, (255, 40, 40), 3, cv2.LINE_AA, 4)
        cv2.circle(img, tuple(int(v) for v in np.round(p[0])), 8, (40, 255, 40), -1)
    # scale bar 100 m
    cv2.line(img, (20, m - 20), (20 + int(100 * px_per_m), m - 20), (255, 255, 255), 3)
    cv2.putText(img, "100 m", (20, m - 30), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
    cv2.putText(img, f"{world.style} seed {world.seed}  {world.size_m:.0f} m  N up", (20, 35),
                cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2)
    rows = []
    for view in samples:
        h = int(round(view.shape[0] * m / view.shape[1]))
        rows.append(cv2.resize(view, (m, h), interpolation=cv2.INTER_AREA))
    return np.concatenate([img] + rows, axis=0) if rows else img


def default_samples(world: World, n: int = 2):
    """A couple of ground panoramas at free street points (deterministic)."""
    east, north = world.free_points_enu()
    if not len(east):
        return []
    rng = np.random.default_rng(world.seed)
    return [world.render_panorama(east[i], north[i], math.pi / 2, 256, 512)
            for i in rng.choice(len(east), size=min(n, len(east)), replace=False)]


def write_world_folder(world: World, out_dir, overwrite: bool = False, tiles: bool = True,
                       baseline: dict | None = None) -> Path:
    out = Path(out_dir)
    if out.exists() and not overwrite:
        raise SimError(f"{out} already exists; pass --overwrite to replace it")
    with atomic_dir(out, "the world") as tmp:
        world.save(tmp)
        extra = write_tiles(world, tmp) if tiles else {}
        ov = overview_image(world, samples=default_samples(world))
        cv2.imwrite(str(tmp / OVERVIEW), cv2.cvtColor(ov, cv2.COLOR_RGB2BGR))
        meta = json.loads((tmp / "world.json").read_text())
        meta.update(extra)
        meta["overview"] = OVERVIEW
        if baseline is not None:
            meta["baseline"] = baseline
        (tmp / "world.json").write_text(json.dumps(meta, indent=2))
    world.meta = meta
    world.path = out
    return out
