"""Raw-pixel baseline: how well does direct pixel correlation localize in a world?

For random street points: render the north-centred panorama, project it onto the ground plane around the camera
(``geometry.ground_point_to_panorama_uv``: the ground-to-aerial projection), and slide that bird's-eye view over a
satellite patch whose centre is offset from the camera by up to a quarter patch (like a VIGOR positive) with
masked normalised cross-correlation.  The best match is the estimate.  A world where this already reaches
sub-metre error measures nothing; the gap must make it clearly worse than 1 m.
"""

from __future__ import annotations

import math
import time

import cv2
import numpy as np

from .. import geometry as geo
from .world import World


def project_panorama_to_ground(pano: np.ndarray, radius_m: float, meters_per_pixel: float,
                               camera_height_m: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """North-up bird's-eye view (camera at the centre) of a north-centred panorama, and its disc mask."""
    size = int(round(2 * radius_m / meters_per_pixel))
    c = (np.arange(size) + 0.5 - size / 2.0) * meters_per_pixel
    east, north = np.meshgrid(c, -c)
    h, w = pano.shape[:2]
    u, v = geo.ground_point_to_panorama_uv(east, north, camera_height_m, w, h)
    mapx = (u - 0.5).astype(np.float32)
    mapy = (v - 0.5).astype(np.float32)
    bev = cv2.remap(pano, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    dist = np.hypot(east, north)
    mask = ((dist <= radius_m) & (dist >= 1.0)).astype(np.float32)
    return bev, mask


def localize_raw(world: World, east_m: float, north_m: float, rng, meters_per_pixel: float = 0.25,
                 radius_m: float = 25.0, max_offset_m: float = 16.0, camera_height_m: float = 2.0):
    """One trial: returns (error_m, estimate_east, estimate_north)."""
    roll, pitch, dh = world.gap.draw_attitude(rng)
    pano = world.render_panorama(east_m, north_m, math.pi / 2, 256, 512, camera_height_m + dh, roll_rad=roll,
                                 pitch_rad=pitch)
    bev, mask = project_panorama_to_ground(pano, radius_m, meters_per_pixel, camera_height_m)
    off = rng.uniform(-max_offset_m, max_offset_m, 2)
    ce, cn = east_m + off[0], north_m + off[1]
    t = bev.shape[0]
    search = int(round(2 * max_offset_m / meters_per_pixel)) + t
    sat = world.satellite_patch(ce, cn, search, meters_per_pixel)
    score = cv2.matchTemplate(sat.astype(np.float32), bev.astype(np.float32), cv2.TM_CCOEFF_NORMED,
                              mask=np.repeat(mask[..., None], 3, axis=2))
    score = np.nan_to_num(score, nan=-1.0, posinf=-1.0, neginf=-1.0)
    r, c = np.unravel_index(int(np.argmax(score)), score.shape)
    # template top-left (r, c) -> camera at continuous (r + t/2, c + t/2) in the search patch
    est_e, est_n = geo.patch_pixel_to_enu(r + t / 2.0, c + t / 2.0, ce, cn, meters_per_pixel, search)
    err = float(math.hypot(est_e - east_m, est_n - north_m))
    return err, float(est_e), float(est_n)


def raw_pixel_baseline(world: World, n: int = 40, seed: int = 0, **kw) -> dict:
    """Median error, share within 1 m (and 5 m) of raw-pixel matching over ``n`` street points."""
    rng = np.random.default_rng([seed, 11])
    e, nn = world.free_points_enu(margin_m=60.0)
    if not len(e):
        raise ValueError("world too small for the baseline (needs > 120 m)")
    pick = rng.choice(len(e), size=min(n, len(e)), replace=False)
    t0 = time.perf_counter()
    errs = np.array([localize_raw(world, e[i], nn[i], rng, **kw)[0] for i in pick])
    return dict(n=int(len(errs)), median_error_m=float(np.median(errs)), mean_error_m=float(errs.mean()),
                within_1m=float((errs <= 1.0).mean()), within_5m=float((errs <= 5.0).mean()),
                seconds=round(time.perf_counter() - t0, 1), method="masked NCC of the ground-projected panorama")


def baseline_gap_on_off(seed: int, style: str, size_m: float = 300.0, n: int = 40, **world_kw) -> dict:
    """The baseline on one seed with the gap on and with ``--no-gap``."""
    out = {}
    for label, gap in (("gap_on", True), ("gap_off", False)):
        w = World.generate(seed=seed, style=style, size_m=size_m, gap=gap, **world_kw)
        out[label] = raw_pixel_baseline(w, n=n, seed=seed)
    return out
