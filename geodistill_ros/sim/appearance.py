"""Appearance of a laid-out world at two times: the ground-time scene the cameras see and the satellite image.

:func:`build_scene` turns a :class:`~geodistill_ros.sim.layout.Layout` into rasters:

- ground time: ``ground_rgb`` (ground albedo, summer vegetation), ``solid_h``/``solid_rgb``/``solid_kind``/``bld_id``
  (everything standing on the ground: buildings, trunks, cars incl. moving ones, people, poles, signs, hedges),
  ``canopy_top``/``canopy_bot``/``canopy_rgb`` (tree crowns, coloured as seen from below);
- satellite time: ``sat_rgb`` (the orthophoto: roofs, crowns from above, another set of parked cars, another
  season, sun shadows, a colour/exposure shift, haze, blur, noise and a smooth misregistration of up to 1 m).

Every gap effect follows :class:`~geodistill_ros.sim.config.GapConfig`; random draws never depend on the switches,
so one seed gives the same layout with the gap on or off.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from . import layout as L
from .config import GapConfig

KIND_NONE, KIND_BUILDING, KIND_TRUNK, KIND_CAR, KIND_PERSON, KIND_HEDGE, KIND_POLE, KIND_SIGN, KIND_TRAILER = range(9)

BASE_RGB = {L.GRASS: (72, 112, 46), L.ASPHALT: (78, 78, 82), L.SIDEWALK: (168, 163, 152), L.CURB: (196, 194, 186),
            L.MARK_WHITE: (228, 228, 222), L.MARK_YELLOW: (222, 182, 44), L.PLAZA: (176, 152, 126),
            L.PARKING: (88, 88, 92), L.FIELD: (120, 140, 60), L.DIRT: (134, 108, 78), L.CONCRETE: (184, 181, 172),
            L.GRAVEL: (152, 142, 126), L.BASE: (120, 120, 120), L.FOREST: (64, 74, 42)}
VEGETATION = (L.GRASS, L.FIELD, L.FOREST)
CROPS = np.array([[120, 150, 55], [180, 165, 90], [95, 125, 50], [150, 120, 80], [200, 185, 110], [85, 110, 60],
                  [160, 150, 70], [110, 95, 70]], np.float32)
SEASONS = {  # (grass, canopy, crop tint) as multipliers applied to summer colours
    "summer": ((1.0, 1.0, 1.0), (1.0, 1.0, 1.0), (1.0, 1.0, 1.0)),
    "spring": ((1.15, 1.2, 1.1), (1.2, 1.25, 1.1), (1.05, 1.15, 1.0)),
    "autumn": ((1.55, 1.05, 0.9), (1.9, 1.15, 0.75), (1.3, 1.0, 0.85)),
    "dry": ((1.9, 1.35, 1.5), (1.35, 1.1, 0.95), (1.45, 1.15, 1.1)),
}
CANOPY_SUMMER = np.array([58, 92, 40], np.float32)


class LatticeNoise:
    """Smooth value noise on a lattice of ``cell_px`` pixels, evaluated strip by strip in global coordinates."""

    def __init__(self, rng, n_px: int, cell_px: float):
        self.cell = float(cell_px)
        m = int(n_px / cell_px) + 3
        self.table = rng.random((m, m), dtype=np.float32) * 2.0 - 1.0

    def rows(self, r0: int, r1: int, n_cols: int) -> np.ndarray:
        y = (np.arange(r0, r1, dtype=np.float32) + 0.5) / self.cell
        x = (np.arange(n_cols, dtype=np.float32) + 0.5) / self.cell
        yi, xi = np.floor(y).astype(np.int64), np.floor(x).astype(np.int64)
        fy, fx = y - yi, x - xi
        fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)
        t = self.table
        a = t[yi][:, xi] * (1 - fx) + t[yi][:, xi + 1] * fx
        b = t[yi + 1][:, xi] * (1 - fx) + t[yi + 1][:, xi + 1] * fx
        return a * (1 - fy)[:, None] + b * fy[:, None]


def _fractal(noises, r0, r1, n, weights):
    return sum(w * nz.rows(r0, r1, n) for nz, w in zip(noises, weights))


def ground_albedo(lay: L.Layout, rng, season: str, strip: int = 512, fine_rng=None) -> np.ndarray:
    """Ground colour raster (uint8 [N, N, 3]) of the layout's classes in one season.

    ``fine_rng`` (default: ``rng``) draws the fine texture (< ~1 m: grain, stains, repairs); another one gives
    the same place at another time: same layout and coarse shading, unrelated fine texture.
    """
    n, mpp = lay.size_px, lay.meters_per_pixel
    g_mul, _, c_mul = (np.array(v, np.float32) for v in SEASONS[season])
    px_m = 1.0 / mpp
    noises = [LatticeNoise(rng, n, 40 * px_m), LatticeNoise(rng, n, 6 * px_m)]
    frng = fine_rng if fine_rng is not None else rng
    noises.append(LatticeNoise(frng, n, 1.2 * px_m))
    patch = LatticeNoise(frng, n, 3 * px_m)
    fine_seed = int(frng.integers(2**31))
    base = np.zeros((256, 3), np.float32)
    for k, v in BASE_RGB.items():
        base[k] = v
    veg = np.zeros(256, bool)
    veg[list(VEGETATION)] = True
    crop = np.zeros((256, 3), np.float32)
    crop[: len(CROPS)] = CROPS
    crop_idx = np.arange(256) % len(CROPS)
    amp = np.full(256, 0.05, np.float32)
    amp[[L.GRASS, L.FIELD, L.FOREST]] = 0.16
    amp[[L.MARK_WHITE, L.MARK_YELLOW]] = 0.04
    amp[[L.DIRT, L.GRAVEL]] = 0.12
    out = np.zeros((n, n, 3), np.uint8)
    for r0 in range(0, n, strip):
        r1 = min(n, r0 + strip)
        cls = lay.cls[r0:r1]
        col = base[cls]
        f = cls == L.FIELD
        if f.any():
            z = lay.zone[r0:r1][f]
            col[f] = crop[crop_idx[z]] * c_mul
            ang = lay.field_angles[z]
            rr, cc = np.nonzero(f)
            pos = ((cc + 0.5) * np.cos(ang) + (r0 + rr + 0.5) * np.sin(ang)) * mpp
            col[f] *= (0.88 + 0.12 * np.sin(2 * math.pi * pos / 1.6))[:, None].astype(np.float32)
        v = veg[cls]
        col[v & (cls != L.FIELD)] *= g_mul
        low = _fractal(noises, r0, r1, n, (1.0, 0.6, 0.4))
        fine = np.random.default_rng([fine_seed, r0]).standard_normal((r1 - r0, n), dtype=np.float32)
        col *= (1.0 + amp[cls] * (low + 0.35 * fine))[..., None]
        # asphalt repairs / oil stains; sidewalk slabs; plaza pavers
        a = (cls == L.ASPHALT) | (cls == L.PARKING)
        pn = patch.rows(r0, r1, n)
        col[a & (pn > 0.55)] *= 0.82
        rows = (np.arange(r0, r1) + 0.5)[:, None] * mpp
        cols = (np.arange(n) + 0.5)[None, :] * mpp
        s = cls == L.SIDEWALK
        joint = ((rows % 1.5) < mpp) | ((cols % 1.5) < mpp)
        col[s & joint] *= 0.85
        p = cls == L.PLAZA
        checker = ((np.floor(rows / 1.0) + np.floor(cols / 1.0)) % 2).astype(np.float32)
        col[p] *= (0.9 + 0.18 * checker[p])[:, None]
        out[r0:r1] = np.clip(col, 0, 255).astype(np.uint8)
    return out


# --- objects ----------------------------------------------------------------------------------------------
def _window_coords(grid: L.Grid, cx, cy, radius):
    (r0, r1, c0, c1), e, nn = grid.window((cx, cy), radius)
    return (slice(r0, r1), slice(c0, c1)), e, nn


def building_height_field(b, e, nn):
    """Height (m) of a building over pixel-centre coords (0 outside), and the roof face index per pixel."""
    c, s = math.cos(b["rot"]), math.sin(b["rot"])
    u = (e - b["cx"]) * c + (nn - b["cy"]) * s
    v = -(e - b["cx"]) * s + (nn - b["cy"]) * c
    hu, hv = b["hu"], b["hv"]
    inside = (np.abs(u) <= hu) & (np.abs(v) <= hv)
    h = np.full(inside.shape, b["eave_h"], np.float32)
    face = np.zeros(inside.shape, np.int8)
    if b["roof"] == "gable":
        if hu >= hv:
            h += b["pitch"] * (hv - np.abs(v))
            face = np.where(v >= 0, 1, 2).astype(np.int8)
        else:
            h += b["pitch"] * (hu - np.abs(u))
            face = np.where(u >= 0, 3, 4).astype(np.int8)
    elif b["roof"] == "hip":
        du, dv = hu - np.abs(u), hv - np.abs(v)
        h += b["pitch"] * np.minimum(du, dv)
        face = np.where(dv < du, np.where(v >= 0, 1, 2), np.where(u >= 0, 3, 4)).astype(np.int8)
    return np.where(inside, h, 0.0).astype(np.float32), face, inside, u, v


def _face_normal(b, face):
    """Horizontal outward direction (east, north) of a sloped roof face."""
    c, s = math.cos(b["rot"]), math.sin(b["rot"])
    dirs = {1: (-s, c), 2: (s, -c), 3: (c, s), 4: (-c, -s)}
    return dirs.get(int(face), (0.0, 0.0))


def build_scene(lay: L.Layout, rng: np.random.Generator, gap: GapConfig) -> dict:
    """All rasters and tables of a world (see the module docstring)."""
    n, mpp = lay.size_px, lay.meters_per_pixel
    grid = L.Grid(n, mpp)
    # random draws first, independent of the gap switches
    sat_season = str(rng.choice(["spring", "autumn", "dry"]))
    sun_az = float(rng.uniform(0, 2 * math.pi))
    sun_el = float(rng.uniform(math.radians(35), math.radians(65)))
    gain = rng.uniform(0.8, 1.2, 3).astype(np.float32)
    gamma = float(rng.uniform(0.8, 1.25))
    haze = rng.uniform(5, 25, 3).astype(np.float32)
    mis_amp = float(rng.uniform(0.4, 1.0))
    seed_ground, seed_sat, seed_obj, seed_post = (int(x) for x in rng.integers(2**31, size=4))

    ground_rgb = ground_albedo(lay, np.random.default_rng(seed_ground), "summer")
    sat_ground = ground_albedo(lay, np.random.default_rng(seed_ground), sat_season if gap.season else "summer",
                               fine_rng=np.random.default_rng(seed_sat if gap.surface_texture else seed_ground))

    orng = np.random.default_rng(seed_obj)
    solid_h = np.zeros((n, n), np.float32)
    solid_rgb = np.zeros((n, n, 3), np.uint8)
    solid_kind = np.zeros((n, n), np.uint8)
    bld_id = np.zeros((n, n), np.int32)
    sat_h = np.zeros((n, n), np.float32)
    sat = sat_ground.astype(np.float32)
    sun_dir = np.array([math.sin(sun_az), math.cos(sun_az)])

    # buildings (ground: walls; satellite: roofs)
    for i, b in enumerate(lay.buildings):
        sl, e, nn = _window_coords(grid, b["cx"], b["cy"], math.hypot(b["hu"], b["hv"]) + 1)
        h, face, inside, u, v = building_height_field(b, e, nn)
        if not inside.any():
            continue
        solid_h[sl][inside] = h[inside]
        solid_rgb[sl][inside] = b["facade_rgb"]
        solid_kind[sl][inside] = KIND_BUILDING
        bld_id[sl][inside] = i + 1
        sat_h[sl][inside] = h[inside]
        roof = np.array(b["roof_rgb"], np.float32)
        shade = np.ones(inside.shape, np.float32)
        for f in (1, 2, 3, 4):
            m = face == f
            if m.any():
                nx, ny = _face_normal(b, f)
                shade[m] = 0.95 + 0.25 * (nx * sun_dir[0] + ny * sun_dir[1]) * b["pitch"]
        if b["roof"] == "flat":
            edge = (np.abs(u) > b["hu"] - 0.5) | (np.abs(v) > b["hv"] - 0.5)
            shade[edge] = 1.15
            for _ in range(b["hvac"]):
                cu, cv_ = orng.uniform(-0.6, 0.6) * b["hu"], orng.uniform(-0.6, 0.6) * b["hv"]
                sz = orng.uniform(1.0, 2.5)
                shade[(np.abs(u - cu) < sz) & (np.abs(v - cv_) < sz)] = 1.3
        else:  # tile rows
            rowsig = np.sin(2 * math.pi * (u if b["hu"] < b["hv"] else v) / 0.6)
            shade *= 1.0 + 0.04 * rowsig
        sat[sl][inside] = (roof * shade[..., None])[inside]

    # trees
    canopy_top = np.zeros((n, n), np.float32)
    canopy_bot = np.zeros((n, n), np.float32)
    canopy_rgb = np.zeros((n, n, 3), np.uint8)
    _, c_mul, _ = (np.array(v, np.float32) for v in SEASONS[sat_season if gap.season else "summer"])
    for t in lay.trees:
        sl, e, nn = _window_coords(grid, t["x"], t["y"], t["r"] + 0.5)
        r2 = ((e - t["x"]) ** 2 + (nn - t["y"]) ** 2) / t["r"] ** 2
        inside = r2 < 1.0
        if not inside.any():
            continue
        q = np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))
        zc, cz = (t["top"] + t["bottom"]) / 2, (t["top"] - t["bottom"]) / 2
        top, bot = zc + cz * q, zc - cz * q
        ct, cb = canopy_top[sl], canopy_bot[sl]
        had = ct > 0
        newtop = np.where(inside, np.maximum(ct, top), ct)
        newbot = np.where(inside, np.where(had, np.minimum(cb, bot), bot), cb)
        canopy_top[sl], canopy_bot[sl] = newtop, newbot
        leaf = orng.random(inside.shape, dtype=np.float32)
        # lit side towards the sun
        lit = ((e - t["x"]) * sun_dir[0] + (nn - t["y"]) * sun_dir[1]) / t["r"]
        tone = CANOPY_SUMMER * (1.0 + 0.12 * t["hue"] * np.array([1.0, 0.4, -0.5], np.float32)) * t["shade"]
        top_col = (tone * c_mul)[None, None, :] * (0.75 + 0.25 * q + 0.15 * lit + 0.25 * (leaf - 0.5))[..., None]
        sat[sl][inside] = top_col[inside]
        sat_h[sl] = np.where(inside, np.maximum(sat_h[sl], top), sat_h[sl])
        if gap.canopy_from_below:
            under = tone[None, None, :] * (0.42 + 0.35 * (leaf - 0.5) + 0.1 * (1 - q))[..., None]
        else:
            under = (tone[None, None, :] * (0.75 + 0.25 * q + 0.15 * lit + 0.25 * (leaf - 0.5))[..., None])
        canopy_rgb[sl][inside] = np.clip(under[inside], 0, 255).astype(np.uint8)
        # trunk
        tr = ((e - t["x"]) ** 2 + (nn - t["y"]) ** 2) <= max(t["trunk_r"], mpp * 0.5) ** 2
        if not tr.any():
            rr, cc = grid.rc(np.array([t["x"], t["y"]]))
            tr = np.zeros_like(inside)
            tr[int(rr) - sl[0].start, int(cc) - sl[1].start] = True
        solid_h[sl][tr] = np.maximum(solid_h[sl][tr], zc)
        solid_rgb[sl][tr] = (88, 70, 52)
        solid_kind[sl][tr] = KIND_TRUNK

    # hedges
    for hd in lay.hedges:
        m = np.zeros((n, n), np.uint8)
        pts = np.array(hd["points"])
        grid.polyline(m, pts, hd["w"], 1)
        mk = m.astype(bool)
        solid_h[mk] = np.maximum(solid_h[mk], hd["h"])
        solid_rgb[mk] = hd.get("rgb", (50, 85, 38))
        solid_kind[mk] = KIND_HEDGE
        if "rgb" in hd:  # a fence: same colour at both times
            sat[mk] = np.array(hd["rgb"], np.float32)
        else:
            sat[mk] = np.array([50, 85, 38], np.float32) * c_mul * 1.05
        sat_h[mk] = np.maximum(sat_h[mk], hd["h"])

    # cars
    for c in lay.cars:
        when = c["when"]
        on_ground = when in ("both", "ground") or (when == "transient" and gap.transients)
        on_sat = when in ("both", "satellite") if gap.parked_cars else when in ("both", "ground")
        if not (on_ground or on_sat):
            continue
        sl, e, nn = _window_coords(grid, c["x"], c["y"], c["l"] / 2 + 0.5)
        cs, sn = math.cos(c["yaw"]), math.sin(c["yaw"])
        u = (e - c["x"]) * cs + (nn - c["y"]) * sn
        v = -(e - c["x"]) * sn + (nn - c["y"]) * cs
        inside = (np.abs(u) <= c["l"] / 2) & (np.abs(v) <= c["w"] / 2)
        if not inside.any():
            continue
        if on_ground:
            solid_h[sl][inside] = c["h"]
            solid_rgb[sl][inside] = c["rgb"]
            solid_kind[sl][inside] = KIND_TRAILER if c.get("kind") == "trailer" else KIND_CAR
        if on_sat:
            un = u / (c["l"] / 2)
            glass = ((un > 0.2) & (un < 0.45)) | ((un < -0.5) & (un > -0.7))
            if c.get("kind") == "trailer":  # a plain box roof
                glass = np.zeros_like(glass)
            col = np.where(glass[..., None], np.float32(35), np.array(c["rgb"], np.float32)[None, None, :])
            edge = np.abs(v) > c["w"] / 2 - 0.15
            col = np.where(edge[..., None], col * 0.8, col)
            sat[sl][inside] = col[inside]
            sat_h[sl][inside] = c["h"]
    # people (ground only: transients)
    if gap.transients:
        for p in lay.people:
            sl, e, nn = _window_coords(grid, p["x"], p["y"], 0.5)
            m = ((e - p["x"]) ** 2 + (nn - p["y"]) ** 2) <= 0.25**2
            if not m.any():
                rr, cc = grid.rc(np.array([p["x"], p["y"]]))
                m = np.zeros(m.shape, bool)
                m[int(rr) - sl[0].start, int(cc) - sl[1].start] = True
            solid_h[sl][m] = p["h"]
            solid_rgb[sl][m] = p["shirt"]
            solid_kind[sl][m] = KIND_PERSON
    # poles and signs
    for p in lay.poles:
        rr, cc = grid.rc(np.array([p["x"], p["y"]]))
        solid_h[rr, cc] = p["h"]
        solid_rgb[rr, cc] = p["rgb"]
        solid_kind[rr, cc] = KIND_POLE if p["kind"] == "pole" else KIND_SIGN
        sat[rr, cc] = (70, 70, 72) if p["kind"] == "pole" else p["rgb"]
        sat_h[rr, cc] = p["h"]

    # satellite: shadows, colour shift, haze, misregistration, blur and noise
    if gap.shadows:
        shadow = cast_shadows(sat_h, mpp, sun_az, sun_el)
        shadow = cv2.GaussianBlur(shadow.astype(np.float32), (0, 0), max(0.5, 0.25 / mpp))
        sat *= (1.0 - 0.55 * shadow)[..., None] * np.float32([1.0, 1.0, 1.0])
        sat[..., 2] += 8.0 * shadow
    prng = np.random.default_rng(seed_post)
    if gap.color_shift:
        low = LatticeNoise(prng, n, 120 / mpp)
        sat = np.clip(sat, 0, 255) / 255.0
        sat = np.power(sat, gamma) * gain
        for r0 in range(0, n, 1024):
            r1 = min(n, r0 + 1024)
            sat[r0:r1] *= (1.0 + 0.08 * low.rows(r0, r1, n))[..., None]
        sat = sat * 255.0 * 0.9 + haze
        sat = cv2.GaussianBlur(sat, (0, 0), max(0.6, 0.2 / mpp))
        sat += prng.standard_normal(sat.shape, dtype=np.float32) * 3.0
    else:
        prng.standard_normal(1)
    sat_rgb = np.clip(sat, 0, 255).astype(np.uint8)
    del sat
    mis = np.zeros(2)
    if gap.misregistration and gap.max_misregistration_m > 0:
        sat_rgb, mis = misregister(sat_rgb, mpp, prng, min(mis_amp, 1.0) * gap.max_misregistration_m)
    return dict(ground_rgb=ground_rgb, sat_rgb=sat_rgb, solid_h=solid_h, solid_rgb=solid_rgb, solid_kind=solid_kind,
                bld_id=bld_id, canopy_top=canopy_top, canopy_bot=canopy_bot, canopy_rgb=canopy_rgb,
                info=dict(sat_season=sat_season if gap.season else "summer", sun_azimuth_rad=sun_az,
                          sun_elevation_rad=sun_el, misregistration_max_m=float(mis.max()) if mis.size else 0.0))


def cast_shadows(height: np.ndarray, mpp: float, sun_az: float, sun_el: float, max_len_m: float = 120.0):
    """Boolean shadow mask of a height field under a sun at (azimuth CW from north, elevation).

    ``S(p) = max_j H(p + j*step*toward_sun) - j*step*tan(el)`` by log-doubling of shifted maxima.
    """
    n = height.shape[0]
    toward = np.array([math.sin(sun_az), math.cos(sun_az)])  # east, north
    drop = math.tan(sun_el) * mpp  # metres of ray rise per pixel travelled
    s = height.copy()
    k = 1
    while k * mpp < max_len_m:
        de, dn = toward * k
        dc, dr = int(round(de)), int(round(-dn))
        if abs(dc) >= n or abs(dr) >= n:  # shadows longer than the world: nothing more to cast
            break
        shifted = np.full_like(s, -1e9)
        rs0, rs1 = max(0, -dr), min(n, n - dr)
        cs0, cs1 = max(0, -dc), min(n, n - dc)
        shifted[rs0:rs1, cs0:cs1] = s[rs0 + dr:rs1 + dr, cs0 + dc:cs1 + dc]
        dist = math.hypot(dc, dr)
        np.maximum(s, shifted - dist * drop, out=s)
        k *= 2
    return s > height + 0.3


def misregister(img: np.ndarray, mpp: float, rng, max_m: float):
    """Warp by a smooth random displacement field whose magnitude peaks at ``max_m``."""
    n = img.shape[0]
    coarse = rng.standard_normal((2, 4, 4)).astype(np.float32)
    field = np.stack([cv2.resize(c, (n, n), interpolation=cv2.INTER_CUBIC) for c in coarse])
    mag = np.sqrt((field**2).sum(0))
    field *= max_m / mpp / max(float(mag.max()), 1e-6)
    xs, ys = np.meshgrid(np.arange(n, dtype=np.float32), np.arange(n, dtype=np.float32))
    out = cv2.remap(img, xs + field[0], ys + field[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return out, np.sqrt((field**2).sum(0)) * mpp
