"""Scene layout of a synthetic world: roads, markings, lots, buildings, trees, vehicles, people, furniture.

Everything is generated in ENU metres about the world centre from one seeded ``numpy.random.Generator``
and rasterised onto an ``N x N`` north-up grid (``N = size_m / meters_per_pixel``): pixel ``(row, col)``
covers ``east = (col - N/2) * mpp``, ``north = (N/2 - row) * mpp`` (``geometry.patch_pixel_to_enu``).
The result is a :class:`Layout`: a ground-class raster plus object lists; appearance is made elsewhere
(``appearance.py``) so the same layout yields a ground-time and a satellite-time look.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

# ground classes
GRASS, ASPHALT, SIDEWALK, CURB, MARK_WHITE, MARK_YELLOW, PLAZA, PARKING, FIELD, DIRT, CONCRETE, GRAVEL, BASE, \
    FOREST = range(1, 15)
CLASS_NAMES = {GRASS: "grass", ASPHALT: "asphalt", SIDEWALK: "sidewalk", CURB: "curb", MARK_WHITE: "marking_white",
               MARK_YELLOW: "marking_yellow", PLAZA: "plaza", PARKING: "parking", FIELD: "field", DIRT: "dirt",
               CONCRETE: "concrete", GRAVEL: "gravel", BASE: "building_base", FOREST: "forest_floor"}
SHIFT = 4  # cv2 sub-pixel bits
ONE = 1 << SHIFT


@dataclass
class Road:
    points: np.ndarray  # [M, 2] ENU metres
    width_m: float
    sidewalk_m: float
    kind: str  # main | street | residential | rural | track
    markings: bool = True
    lanes: int = 2
    surface: int = ASPHALT


@dataclass
class Layout:
    size_px: int
    meters_per_pixel: float
    cls: np.ndarray  # uint8 [N, N] ground class
    zone: np.ndarray  # uint8 [N, N] sub-variant (field crop index, lot index)
    roads: list = field(default_factory=list)
    buildings: list = field(default_factory=list)  # dicts
    trees: list = field(default_factory=list)  # dicts
    cars: list = field(default_factory=list)  # dicts with "when": both | ground | satellite
    people: list = field(default_factory=list)
    poles: list = field(default_factory=list)
    hedges: list = field(default_factory=list)
    field_angles: np.ndarray = field(default_factory=lambda: np.zeros(256))


# --- raster helpers ------------------------------------------------------------------------------------
class Grid:
    """ENU metres <-> raster pixels of an ``N x N`` world grid."""

    def __init__(self, size_px: int, meters_per_pixel: float):
        self.n = int(size_px)
        self.mpp = float(meters_per_pixel)
        self.half_m = self.n * self.mpp / 2.0

    def cv(self, pts_m) -> np.ndarray:
        """ENU points [..., 2] -> cv2 fixed-point (x, y) with pixel centres at integers."""
        p = np.asarray(pts_m, dtype=np.float64)
        col = p[..., 0] / self.mpp + self.n / 2.0 - 0.5
        row = self.n / 2.0 - p[..., 1] / self.mpp - 0.5
        return np.round(np.stack([col, row], axis=-1) * ONE).astype(np.int32)

    def px(self, m: float) -> int:
        return max(1, int(round(m / self.mpp)))

    def rc(self, pts_m) -> tuple[np.ndarray, np.ndarray]:
        """ENU points -> integer (row, col) clipped to the grid."""
        p = np.asarray(pts_m, dtype=np.float64)
        col = np.floor(p[..., 0] / self.mpp + self.n / 2.0).astype(np.int64)
        row = np.floor(self.n / 2.0 - p[..., 1] / self.mpp).astype(np.int64)
        return np.clip(row, 0, self.n - 1), np.clip(col, 0, self.n - 1)

    def inside(self, pts_m, margin_m: float = 0.0) -> np.ndarray:
        p = np.asarray(pts_m, dtype=np.float64)
        lim = self.half_m - margin_m
        return (np.abs(p[..., 0]) < lim) & (np.abs(p[..., 1]) < lim)

    def polyline(self, img, pts_m, width_m, value):
        cv2.polylines(img, [self.cv(pts_m)], False, value, thickness=self.px(width_m), lineType=cv2.LINE_8,
                      shift=SHIFT)

    def poly(self, img, pts_m, value):
        cv2.fillPoly(img, [self.cv(pts_m)], value, lineType=cv2.LINE_8, shift=SHIFT)

    def disc(self, img, center_m, radius_m, value):
        c = self.cv(center_m)
        cv2.circle(img, (int(c[0]), int(c[1])), int(round(radius_m / self.mpp * ONE)), value, -1, cv2.LINE_8, SHIFT)

    def window(self, center_m, radius_m):
        """Slice window (r0, r1, c0, c1) of the grid around a point, clipped; plus pixel-centre ENU coords."""
        r, c = self.rc(np.asarray(center_m))
        k = int(math.ceil(radius_m / self.mpp)) + 1
        r0, r1 = max(0, int(r) - k), min(self.n, int(r) + k + 1)
        c0, c1 = max(0, int(c) - k), min(self.n, int(c) + k + 1)
        east = (np.arange(c0, c1) + 0.5 - self.n / 2.0) * self.mpp
        north = (self.n / 2.0 - (np.arange(r0, r1) + 0.5)) * self.mpp
        return (r0, r1, c0, c1), east[None, :], north[:, None]


def rect_corners(cx, cy, rot, hu, hv) -> np.ndarray:
    c, s = math.cos(rot), math.sin(rot)
    u = np.array([c, s])
    v = np.array([-s, c])
    ctr = np.array([cx, cy])
    return np.array([ctr + hu * u + hv * v, ctr - hu * u + hv * v, ctr - hu * u - hv * v, ctr + hu * u - hv * v])


def resample_polyline(pts: np.ndarray, step_m: float):
    """Points every ``step_m`` along a polyline, with arclength, unit tangents and left normals."""
    pts = np.asarray(pts, dtype=np.float64)
    seg = np.diff(pts, axis=0)
    seglen = np.hypot(seg[:, 0], seg[:, 1])
    keep = seglen > 1e-9
    pts = np.concatenate([pts[:1], pts[1:][keep]])
    seg, seglen = seg[keep], seglen[keep]
    cum = np.concatenate([[0.0], np.cumsum(seglen)])
    total = cum[-1]
    s = np.arange(0.0, total + 1e-9, step_m)
    x = np.interp(s, cum, pts[:, 0])
    y = np.interp(s, cum, pts[:, 1])
    idx = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(seg) - 1)
    t = seg[idx] / seglen[idx, None]
    nrm = np.stack([-t[:, 1], t[:, 0]], axis=1)
    return np.stack([x, y], axis=1), s, t, nrm


def offset_polyline(pts: np.ndarray, offset_m: float) -> np.ndarray:
    p, _, _, nrm = resample_polyline(pts, 1.0)
    return p + offset_m * nrm


# --- road networks -------------------------------------------------------------------------------------
def _line(p0, p1, n=2):
    t = np.linspace(0.0, 1.0, n)[:, None]
    return np.asarray(p0) * (1 - t) + np.asarray(p1) * t


def _rot(theta):
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s], [s, c]])


def _spacings(rng, lo, hi, extent):
    vals, x = [], -extent + rng.uniform(0, hi)
    while x < extent:
        vals.append(x)
        x += rng.uniform(lo, hi)
    return np.array(vals)


def roads_downtown(rng, size_m) -> list[Road]:
    theta = rng.uniform(-0.35, 0.35)
    R = _rot(theta)
    ext = size_m * 0.75 + 60
    xs = _spacings(rng, 55, 140, ext)
    ys = _spacings(rng, 55, 130, ext)
    roads = []
    for axis, coords, cross in ((0, xs, ys), (1, ys, xs)):
        for i, c in enumerate(coords):
            main = i % 3 == 1
            a, b = -ext, ext
            if rng.random() < 0.3 and len(cross) > 4:  # truncated street: T intersections
                k = rng.integers(1, len(cross) - 1)
                if rng.random() < 0.5:
                    a = cross[k]
                else:
                    b = cross[k]
            p = _line((c, a), (c, b), 40) if axis == 0 else _line((a, c), (b, c), 40)
            w = rng.uniform(15, 19) if main else rng.uniform(9.5, 12)
            roads.append(Road(p @ R.T, w, rng.uniform(3.5, 5.0) if main else rng.uniform(2.8, 4.0),
                              "main" if main else "street", True, 4 if main else 2))
    for _ in range(rng.integers(1, 3)):  # diagonal avenue
        phi = theta + rng.choice([-1, 1]) * rng.uniform(0.6, 0.95)
        c0 = rng.uniform(-size_m / 4, size_m / 4, 2)
        d = np.array([math.cos(phi), math.sin(phi)])
        roads.append(Road(_line(c0 - d * ext * 1.5, c0 + d * ext * 1.5, 60), rng.uniform(12, 16), 4.0, "main", True,
                          4))
    # one curved street
    phi = rng.uniform(0, math.pi)
    d = np.array([math.cos(phi), math.sin(phi)])
    nrm = np.array([-d[1], d[0]])
    s = np.linspace(-ext, ext, 200)
    amp, lam = rng.uniform(20, 45), rng.uniform(250, 450)
    c0 = rng.uniform(-size_m / 4, size_m / 4, 2)
    p = c0 + s[:, None] * d + (amp * np.sin(2 * math.pi * s / lam))[:, None] * nrm
    roads.append(Road(p, rng.uniform(9, 11), 3.0, "street", True, 2))
    return roads


def roads_suburb(rng, size_m) -> tuple[list[Road], list, list]:
    """Curvy collectors, residential branches ending in cul-de-sacs, roundabouts at some crossings."""
    theta = rng.uniform(-0.5, 0.5)
    R = _rot(theta)
    ext = size_m * 0.75 + 60
    roads, culdesacs, roundabouts = [], [], []
    xs = _spacings(rng, 210, 320, ext)
    ys = _spacings(rng, 210, 320, ext)
    s = np.linspace(-ext, ext, 240)
    collectors = []
    for axis, coords in ((0, xs), (1, ys)):
        for c in coords:
            amp, lam, ph = rng.uniform(5, 25), rng.uniform(300, 700), rng.uniform(0, 2 * math.pi)
            off = c + amp * np.sin(2 * math.pi * s / lam + ph)
            p = np.stack([off, s], 1) if axis == 0 else np.stack([s, off], 1)
            collectors.append(p @ R.T)
            roads.append(Road(p @ R.T, rng.uniform(9, 10.5), 2.0, "main", True, 2))
    # roundabouts at a few collector crossings
    for x in xs:
        for y in ys:
            q = np.array([x, y]) @ R.T
            if np.all(np.abs(q) < size_m / 2 - 30) and rng.random() < 0.35:
                # snap to the nearest point of the two collectors (they are wavy)
                roundabouts.append((q, rng.uniform(13, 17)))
    for p in collectors:
        pts, sarc, t, nrm = resample_polyline(p, 1.0)
        pos = rng.uniform(20, 60)
        while pos < sarc[-1] - 20:
            i = int(pos)
            for side in (-1, 1):
                if rng.random() < 0.8:
                    length = rng.uniform(60, 140)
                    bend = rng.uniform(-0.6, 0.6)
                    u = np.linspace(0, 1, 30)
                    dirv = side * nrm[i]
                    tang = t[i]
                    q = pts[i] + (u * length)[:, None] * dirv + (bend * length * u**2)[:, None] * tang
                    roads.append(Road(q, 7.0, 1.6, "residential", False, 2))
                    if rng.random() < 0.65:
                        culdesacs.append((q[-1], rng.uniform(9, 11)))
            pos += rng.uniform(70, 120)
    return roads, culdesacs, roundabouts


def roads_rural(rng, size_m) -> list[Road]:
    ext = size_m * 0.75 + 60
    roads = []
    for k in range(rng.integers(2, 4)):
        phi = rng.uniform(0, math.pi)
        d = np.array([math.cos(phi), math.sin(phi)])
        nrm = np.array([-d[1], d[0]])
        c0 = rng.uniform(-size_m / 3, size_m / 3, 2)
        s = np.linspace(-ext, ext, 200)
        amp, lam = rng.uniform(10, 60), rng.uniform(400, 1200)
        p = c0 + s[:, None] * d + (amp * np.sin(2 * math.pi * s / lam + rng.uniform(0, 6)))[:, None] * nrm
        roads.append(Road(p, rng.uniform(5.5, 6.5), 0.0, "rural", k == 0, 2))
    return roads


# --- the generator ----------------------------------------------------------------------------------------
CAR_COLORS = np.array([[200, 200, 205], [30, 30, 35], [120, 125, 130], [160, 20, 25], [20, 50, 120], [235, 235, 230],
                       [90, 95, 60], [180, 150, 60], [60, 20, 30], [170, 170, 175]], dtype=np.uint8)
FACADES = np.array([[170, 90, 70], [200, 185, 160], [150, 150, 150], [225, 220, 210], [120, 110, 100],
                    [185, 165, 130], [110, 130, 150], [205, 160, 120]], dtype=np.uint8)
ROOFS = np.array([[120, 120, 120], [90, 90, 95], [150, 80, 60], [170, 165, 160], [70, 60, 55], [110, 100, 90],
                  [190, 190, 185]], dtype=np.uint8)
SHIRTS = np.array([[200, 40, 40], [40, 80, 180], [230, 230, 230], [30, 30, 30], [220, 180, 40], [60, 140, 70]],
                  dtype=np.uint8)


class _Gen:
    def __init__(self, rng, size_m, mpp, style):
        self.rng, self.style = rng, style
        self.size_m = size_m
        self.g = Grid(int(round(size_m / mpp)), mpp)
        n = self.g.n
        self.cls = np.full((n, n), GRASS, np.uint8)
        self.zone = np.zeros((n, n), np.uint8)
        self.occ = np.zeros((n, n), np.uint8)  # 1 = taken (roads, lots, buildings)
        self.layout = Layout(n, mpp, self.cls, self.zone)

    # occupancy test of an oriented rectangle (with margin)
    def rect_free(self, cx, cy, rot, hu, hv, margin=0.5):
        (r0, r1, c0, c1), e, nn = self.g.window((cx, cy), math.hypot(hu, hv) + margin)
        if r1 <= r0 or c1 <= c0:
            return False
        c, s = math.cos(rot), math.sin(rot)
        u = (e - cx) * c + (nn - cy) * s
        v = -(e - cx) * s + (nn - cy) * c
        m = (np.abs(u) <= hu + margin) & (np.abs(v) <= hv + margin)
        if not self.g.inside(np.array([cx, cy]), max(hu, hv)):
            return False
        return not np.any(self.occ[r0:r1, c0:c1][m])

    def mark_rect(self, corners, value=1):
        self.g.poly(self.occ, corners, value)

    # -- roads
    def draw_roads(self, roads, culdesacs=(), roundabouts=()):
        g = self.g
        L = self.layout
        L.roads = roads
        for r in roads:
            g.polyline(self.occ, r.points, r.width_m + 2 * r.sidewalk_m + 0.2, 1)
        for c, rad in culdesacs:
            g.disc(self.occ, c, rad + 3.0, 1)
        for c, rad in roundabouts:
            g.disc(self.occ, c, rad + 6.0, 1)
        # sidewalks, curbs, asphalt
        for r in roads:
            if r.sidewalk_m > 0:
                g.polyline(self.cls, r.points, r.width_m + 2 * r.sidewalk_m, SIDEWALK)
            elif r.kind == "rural":
                g.polyline(self.cls, r.points, r.width_m + 2.0, GRAVEL)
        for c, rad in culdesacs:
            g.disc(self.cls, c, rad + 1.8, SIDEWALK)
        for c, rad in roundabouts:
            g.disc(self.cls, c, rad + 5.5, SIDEWALK)
        for r in roads:
            if r.sidewalk_m > 0:
                g.polyline(self.cls, r.points, r.width_m + 0.5, CURB)
        for c, rad in culdesacs:
            g.disc(self.cls, c, rad + 0.25, CURB)
            g.disc(self.cls, c, rad, ASPHALT)
        for r in roads:
            g.polyline(self.cls, r.points, r.width_m, r.surface)
        for c, rad in roundabouts:
            g.disc(self.cls, c, rad + 3.8, CURB)
            g.disc(self.cls, c, rad + 3.5, ASPHALT)
        self._markings(roads, roundabouts)
        for c, rad in roundabouts:  # central islands last
            g.disc(self.cls, c, rad - 3.2, CURB)
            g.disc(self.cls, c, rad - 3.5, GRASS)

    def _markings(self, roads, roundabouts):
        g, rng = self.g, self.rng
        n = g.n
        ida = np.zeros((n, n), np.int16)
        idb = np.zeros((n, n), np.int16)
        for i, r in enumerate(roads):
            g.polyline(ida, r.points, r.width_m, i + 1)
        for i in range(len(roads) - 1, -1, -1):
            g.polyline(idb, roads[i].points, roads[i].width_m, i + 1)
        ring = np.zeros((n, n), np.uint8)
        for c, rad in roundabouts:
            g.disc(ring, c, rad + 4.5, 1)
        for i, r in enumerate(roads):
            if not r.markings:
                continue
            pts, s, t, nrm = resample_polyline(r.points, 0.5)
            inside = g.inside(pts, 1.0)
            if not inside.any():
                continue
            rr, cc = g.rc(pts)
            junc = (ida[rr, cc] != i + 1) | (idb[rr, cc] != i + 1) | (ring[rr, cc] > 0)
            half = r.width_m / 2.0
            # junction runs and their approach zones
            keepout = np.zeros(len(s), bool)
            entries = []  # (s_entry, direction +1 approaching along s / -1 against s)
            jj = np.flatnonzero(junc)
            if len(jj):
                runs = np.split(jj, np.flatnonzero(np.diff(jj) > 1) + 1)
                for run in runs:
                    a, b = s[run[0]], s[run[-1]]
                    keepout |= (s > a - 6.0) & (s < b + 6.0)
                    if run[0] > 0:
                        entries.append((a, 1))
                    if run[-1] < len(s) - 1:
                        entries.append((b, -1))
            free = ~junc
            # edge lines (solid) and centre line
            for side in (-1, 1):
                off = side * (half - 0.4)
                self._draw_runs(pts + off * nrm, free & inside, 0.15, MARK_WHITE)
            if r.lanes >= 4:
                for off in (-0.15, 0.15):
                    self._draw_runs(pts + off * nrm, ~keepout & inside, 0.12, MARK_YELLOW)
                dash = (s % 9.0) < 3.0
                for off in (-half / 2, half / 2):
                    self._draw_runs(pts + off * nrm, dash & ~keepout & inside, 0.12, MARK_WHITE)
            else:
                dash = (s % 9.0) < 3.0
                self._draw_runs(pts, dash & ~keepout & inside, 0.12, MARK_WHITE if r.kind != "main" else MARK_YELLOW)
            for s_e, direction in entries:
                k = int(np.argmin(np.abs(s - s_e)))
                p0, tt, nn_ = pts[k], t[k] * direction, nrm[k] * direction
                if not g.inside(p0, 5.0):
                    continue
                # crosswalk: bars parallel to the road, 1..4 m before the junction
                mid = p0 - tt * 2.5
                for o in np.arange(-half + 0.6, half - 0.5, 1.0):
                    c = mid + nn_ * o
                    g.poly(self.cls, [c - tt * 1.5 - nn_ * 0.25, c + tt * 1.5 - nn_ * 0.25, c + tt * 1.5 + nn_ * 0.25,
                                      c - tt * 1.5 + nn_ * 0.25], MARK_WHITE)
                # stop line on the approaching (right-hand) half
                sl = p0 - tt * 5.0
                g.poly(self.cls, [sl, sl - nn_ * (half - 0.3), sl - nn_ * (half - 0.3) - tt * 0.4, sl - tt * 0.4],
                       MARK_WHITE)
                if r.width_m >= 9.0 and rng.random() < 0.7:  # lane arrow
                    lane_c = sl - tt * 9.0 - nn_ * (half / (2 if r.lanes < 4 else 4))
                    self._arrow(lane_c, tt, nn_, rng.integers(0, 3))

    def _draw_runs(self, pts, mask, width_m, value):
        idx = np.flatnonzero(mask)
        if not len(idx):
            return
        runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
        polys = [self.g.cv(pts[run]) for run in runs if len(run) >= 2]
        if polys:
            cv2.polylines(self.cls, polys, False, value, thickness=self.g.px(width_m), lineType=cv2.LINE_8,
                          shift=SHIFT)

    def _arrow(self, c, t, n, kind):
        """A painted lane arrow at ``c`` pointing along ``t`` (0 straight, 1 left, 2 right)."""
        shaft = [c - t * 2.0 - n * 0.1, c + t * 0.6 - n * 0.1, c + t * 0.6 + n * 0.1, c - t * 2.0 + n * 0.1]
        self.g.poly(self.cls, shaft, MARK_WHITE)
        if kind == 0:
            head = [c + t * 0.6 - n * 0.35, c + t * 1.8, c + t * 0.6 + n * 0.35]
        else:
            sgn = 1 if kind == 1 else -1
            b = c + t * 0.4
            self.g.poly(self.cls, [b - t * 0.1, b + t * 0.1, b + t * 0.1 + n * sgn * 0.8, b - t * 0.1 + n * sgn * 0.8],
                        MARK_WHITE)
            tip = b + n * sgn * 1.4
            head = [b + n * sgn * 0.8 + t * 0.35, tip, b + n * sgn * 0.8 - t * 0.35]
        self.g.poly(self.cls, head, MARK_WHITE)

    # -- buildings
    def add_building(self, cx, cy, rot, hu, hv, height, roof, facade=None, rooftype=None):
        rng = self.rng
        if rooftype is None:
            rooftype = "flat" if height > 14 else rng.choice(["flat", "gable", "hip"], p=[0.4, 0.35, 0.25])
        pitch = rng.uniform(0.45, 0.8) if rooftype != "flat" else 0.0
        b = dict(cx=float(cx), cy=float(cy), rot=float(rot), hu=float(hu), hv=float(hv), eave_h=float(height),
                 roof=rooftype, pitch=float(pitch),
                 roof_rgb=[int(v) for v in (roof if roof is not None else ROOFS[rng.integers(len(ROOFS))])],
                 facade_rgb=[int(v) for v in (facade if facade is not None else FACADES[rng.integers(len(FACADES))])],
                 floor_h=float(rng.uniform(2.9, 3.8)), win_spacing=float(rng.uniform(2.2, 4.0)),
                 win_frac=float(rng.uniform(0.35, 0.65)), win_rgb=[int(v) for v in rng.integers(30, 90, 3)],
                 door_spacing=float(rng.uniform(8, 25)), shop=bool(height > 9 and rng.random() < 0.5),
                 hvac=int(rng.integers(0, 4)) if rooftype == "flat" else 0)
        corners = rect_corners(cx, cy, rot, hu, hv)
        self.mark_rect(rect_corners(cx, cy, rot, hu + 0.5, hv + 0.5))
        self.g.poly(self.cls, corners, BASE)
        self.layout.buildings.append(b)
        return b

    def buildings_along_roads(self, frontage, depth, height, setback, gap, roads=None, p_skip=0.0,
                              same_house=None):
        rng = self.rng
        for r in roads if roads is not None else self.layout.roads:
            pts, s, t, nrm = resample_polyline(r.points, 1.0)
            for side in (-1, 1):
                pos = rng.uniform(0, 10)
                while pos < s[-1] - 5:
                    i = int(pos)
                    if not self.g.inside(pts[i], 10):
                        pos += 20
                        continue
                    if same_house is not None:
                        fw, dp, h = same_house(rng)
                    else:
                        fw, dp, h = rng.uniform(*frontage), rng.uniform(*depth), height(rng)
                    sb = rng.uniform(*setback)
                    off = r.width_m / 2 + r.sidewalk_m + sb + dp / 2
                    c = pts[i] + side * nrm[i] * off + t[i] * fw / 2
                    rot = math.atan2(t[i, 1], t[i, 0])
                    placed = False
                    if rng.random() >= p_skip and self.rect_free(c[0], c[1], rot, fw / 2, dp / 2, 0.3):
                        self.on_building(self.add_building(c[0], c[1], rot, fw / 2, dp / 2, h, None), r, pts[i],
                                         side * nrm[i], t[i], sb)
                        placed = True
                    pos += (fw if placed else 4.0) + rng.uniform(*gap)

    def on_building(self, b, road, p_road, out_n, t, setback):  # hook for suburb driveways
        pass

    # -- trees
    def add_tree(self, x, y, radius, top, kind=None):
        rng = self.rng
        bottom = max(2.7, top * rng.uniform(0.3, 0.5))
        top = max(top, bottom + 1.2)
        self.layout.trees.append(dict(x=float(x), y=float(y), r=float(radius), top=float(top), bottom=float(bottom),
                                      trunk_r=float(np.clip(radius * 0.08, 0.15, 0.4)),
                                      shade=float(rng.uniform(0.75, 1.15)), hue=float(rng.uniform(-1, 1))))

    def street_furniture(self, tree_p, tree_spacing, pole_spacing):
        rng, g = self.rng, self.g
        for r in self.layout.roads:
            if r.sidewalk_m < 1.4:
                continue
            pts, s, t, nrm = resample_polyline(r.points, 1.0)
            inside = g.inside(pts, 3.0)
            rr, cc = g.rc(pts)
            for side in (-1, 1):
                # trees in the sidewalk near the curb, poles at the curb
                if rng.random() < tree_p:
                    pos = rng.uniform(0, tree_spacing)
                    while pos < s[-1]:
                        i = int(pos)
                        q = pts[i] + side * nrm[i] * (r.width_m / 2 + 1.0)
                        if inside[i] and self._on_class(q, SIDEWALK, 0.4):
                            self.add_tree(q[0], q[1], rng.uniform(2.0, 4.0), rng.uniform(5, 11))
                        pos += tree_spacing * rng.uniform(0.8, 1.25)
                pos = rng.uniform(0, pole_spacing)
                while pos < s[-1]:
                    i = int(pos)
                    q = pts[i] + side * nrm[i] * (r.width_m / 2 + 0.6)
                    if inside[i] and self._on_class(q, SIDEWALK, 0.15):
                        self.layout.poles.append(dict(x=float(q[0]), y=float(q[1]), h=float(rng.uniform(6, 9)),
                                                      r=0.13, kind="pole", rgb=[90, 92, 95]))
                    pos += pole_spacing * rng.uniform(0.9, 1.1)
        # signs: near stop lines (where the class map has crosswalk paint nearby)
        n_signs = int(len(self.layout.roads) * 3)
        for _ in range(n_signs):
            r = self.layout.roads[rng.integers(len(self.layout.roads))]
            if r.sidewalk_m < 1.4:
                continue
            pts, s, t, nrm = resample_polyline(r.points, 2.0)
            i = rng.integers(len(pts))
            q = pts[i] + rng.choice([-1, 1]) * nrm[i] * (r.width_m / 2 + 0.6)
            if g.inside(q, 3.0) and self._on_class(q, SIDEWALK, 0.15):
                self.layout.poles.append(dict(x=float(q[0]), y=float(q[1]), h=float(rng.uniform(2.6, 3.2)), r=0.1,
                                              kind="sign", rgb=[int(v) for v in
                                                                [(200, 30, 30), (30, 60, 170), (230, 230, 230),
                                                                 (230, 200, 40)][rng.integers(4)]]))

    def _on_class(self, q, klass, radius_m):
        """The point is on ``klass`` and no road surface or building is within ``radius_m``."""
        r, c = self.g.rc(np.asarray(q))
        if self.cls[r, c] != klass:
            return False
        (r0, r1, c0, c1), _, _ = self.g.window(q, radius_m)
        return not bool(np.isin(self.cls[r0:r1, c0:c1], (ASPHALT, MARK_WHITE, MARK_YELLOW, BASE)).any())

    def park_trees(self, density_per_ha, klass=GRASS, radius=(2.5, 5.5), top=(6, 15), margin=1.0):
        rng, g = self.rng, self.g
        n = int(density_per_ha * (self.size_m / 100.0) ** 2)
        pts = rng.uniform(-self.size_m / 2, self.size_m / 2, (n, 2))
        rr, cc = g.rc(pts)
        ok = (self.cls[rr, cc] == klass) & (self.occ[rr, cc] == 0)
        for (x, y) in pts[ok]:
            rad = rng.uniform(*radius)
            if self._free_disc((x, y), rad * 0.5 + margin):
                self.add_tree(x, y, rad, rng.uniform(*top))

    def _free_disc(self, q, radius_m):
        (r0, r1, c0, c1), _, _ = self.g.window(q, radius_m)
        return not np.any(self.occ[r0:r1, c0:c1])

    # -- vehicles and people
    def add_car(self, x, y, yaw, when):
        rng = self.rng
        self.layout.cars.append(dict(x=float(x), y=float(y), yaw=float(yaw), l=float(rng.uniform(4.0, 5.0)),
                                     w=float(rng.uniform(1.7, 1.95)), h=float(rng.uniform(1.4, 1.65)),
                                     rgb=[int(v) for v in CAR_COLORS[rng.integers(len(CAR_COLORS))]], when=when))

    def _slot_cars(self, slots, p_occ=0.55, p_keep=0.3):
        """Parking slots (x, y, yaw): each time has its own occupancy; some cars stay across times."""
        rng = self.rng
        for (x, y, yaw) in slots:
            u = rng.random()
            if u < p_occ * p_keep:
                self.add_car(x, y, yaw, "both")
            else:
                if rng.random() < p_occ * (1 - p_keep):
                    self.add_car(x, y, yaw, "ground")
                if rng.random() < p_occ * (1 - p_keep):
                    self.add_car(x + rng.normal(0, 0.2), y + rng.normal(0, 0.2), yaw, "satellite")

    def street_cars_and_people(self, curb_parking_p, moving_per_km, people_per_km):
        rng, g = self.rng, self.g
        slots = []
        for r in self.layout.roads:
            if r.kind == "track":
                continue
            pts, s, t, nrm = resample_polyline(r.points, 6.0)
            inside = g.inside(pts, 4.0)
            yaw = np.arctan2(t[:, 1], t[:, 0])
            rr, cc = g.rc(pts)
            for side in (-1, 1):
                if rng.random() < curb_parking_p and r.sidewalk_m > 0:
                    q = pts + side * nrm * (r.width_m / 2 - 1.2)
                    qr, qc = g.rc(q)
                    ok = inside & (self.cls[qr, qc] == ASPHALT) & (self.cls[rr, cc] == ASPHALT)
                    slots += [(a, b, c) for (a, b), c in zip(q[ok], yaw[ok])]
                # moving cars in the lanes (ground-time transients)
                n_mov = rng.poisson(moving_per_km * s[-1] / 1000.0 / 2)
                for _ in range(n_mov):
                    i = rng.integers(len(pts))
                    lane = r.width_m / (4 if r.lanes < 4 else 8) * (1 if r.lanes < 4 else rng.choice([1, 3]))
                    q = pts[i] - side * nrm[i] * lane
                    if inside[i]:
                        self.add_car(q[0], q[1], yaw[i] + (0 if side < 0 else math.pi), "transient")
                n_ppl = rng.poisson(people_per_km * s[-1] / 1000.0 / 2) if r.sidewalk_m > 1.2 else 0
                for _ in range(n_ppl):
                    i = rng.integers(len(pts))
                    q = pts[i] + side * nrm[i] * (r.width_m / 2 + rng.uniform(0.5, r.sidewalk_m - 0.3))
                    if inside[i]:
                        self.layout.people.append(dict(x=float(q[0]), y=float(q[1]), h=float(rng.uniform(1.55, 1.9)),
                                                       shirt=[int(v) for v in SHIRTS[rng.integers(len(SHIRTS))]],
                                                       legs=[int(v) for v in rng.integers(20, 90, 3)]))
        self._slot_cars(slots)

    def parking_lot(self, c, rot, hu, hv):
        """An asphalt lot with painted bays (5 m x 2.6 m) in rows; returns nothing, adds slot cars."""
        g = self.g
        corners = rect_corners(c[0], c[1], rot, hu, hv)
        g.poly(self.cls, corners, PARKING)
        self.mark_rect(corners)
        u = np.array([math.cos(rot), math.sin(rot)])
        v = np.array([-u[1], u[0]])
        slots = []
        # rows of bays along u; aisles 6 m
        row_v = -hv + 0.5
        while row_v + 5.0 <= hv - 0.5:
            for k in np.arange(-hu + 1.0, hu - 2.6, 2.6):
                p0 = np.asarray(c) + u * k + v * row_v
                g.polyline(self.cls, [p0, p0 + v * 5.0], 0.12, MARK_WHITE)
                ctr = p0 + u * 1.3 + v * 2.5
                slots.append((ctr[0], ctr[1], rot + math.pi / 2))
            p_end = np.asarray(c) + u * (k + 2.6) + v * row_v
            g.polyline(self.cls, [p_end, p_end + v * 5.0], 0.12, MARK_WHITE)
            row_v += 5.0 + (6.0 if int((row_v + hv) / 5) % 2 == 0 else 0.0)
        self._slot_cars(slots, p_occ=0.6, p_keep=0.3)


def _lots(gen: _Gen, n_lots, kind, size_range):
    """Parking lots or plazas next to roads."""
    rng = gen.rng
    roads = gen.layout.roads
    for _ in range(n_lots * 6):
        if n_lots <= 0:
            break
        r = roads[rng.integers(len(roads))]
        pts, s, t, nrm = resample_polyline(r.points, 2.0)
        i = rng.integers(len(pts))
        side = rng.choice([-1, 1])
        hu, hv = rng.uniform(*size_range) / 2, rng.uniform(*size_range) / 2
        c = pts[i] + side * nrm[i] * (r.width_m / 2 + r.sidewalk_m + hv + 0.6)
        rot = math.atan2(t[i, 1], t[i, 0])
        if not gen.g.inside(c, max(hu, hv) + 2) or not gen.rect_free(c[0], c[1], rot, hu, hv, 0.5):
            continue
        if kind == "parking":
            gen.parking_lot(c, rot, hu, hv)
        else:
            corners = rect_corners(c[0], c[1], rot, hu, hv)
            gen.g.poly(gen.cls, corners, PLAZA)
            gen.mark_rect(corners)
            for _ in range(rng.integers(2, 6)):
                q = c + rng.uniform(-0.7, 0.7) * hu * np.array([math.cos(rot), math.sin(rot)]) + \
                    rng.uniform(-0.7, 0.7) * hv * np.array([-math.sin(rot), math.cos(rot)])
                gen.add_tree(q[0], q[1], rng.uniform(2.0, 3.5), rng.uniform(5, 9))
        n_lots -= 1


def generate_layout(rng: np.random.Generator, style: str, size_m: float, meters_per_pixel: float) -> Layout:
    gen = _Gen(rng, size_m, meters_per_pixel, style)
    area_ha = (size_m / 100.0) ** 2
    if style == "downtown":
        roads = roads_downtown(rng, size_m)
        gen.draw_roads(roads)
        _lots(gen, max(1, int(area_ha * 0.8)), "parking", (25, 50))
        _lots(gen, max(1, int(area_ha * 0.4)), "plaza", (20, 40))

        def height(r):
            return float(np.clip(r.lognormal(math.log(16), 0.6), 4, 60))

        gen.buildings_along_roads((12, 45), (12, 40), height, (0.5, 1.5), (0.0, 3.0))
        gen.buildings_along_roads((8, 30), (8, 25), height, (2.0, 14.0), (1.0, 5.0), p_skip=0.2)
        gen.buildings_along_roads((10, 40), (10, 30), height, (15.0, 35.0), (1.0, 6.0), p_skip=0.3)
        gen.street_furniture(tree_p=0.6, tree_spacing=10.0, pole_spacing=30.0)
        gen.park_trees(3.0)
        gen.street_cars_and_people(curb_parking_p=0.6, moving_per_km=25, people_per_km=60)
    elif style == "suburb":
        roads, culdesacs, roundabouts = roads_suburb(rng, size_m)
        gen.draw_roads(roads, culdesacs, roundabouts)
        _lots(gen, max(1, int(area_ha * 0.15)), "parking", (25, 45))
        house_w, house_d = rng.uniform(9, 12), rng.uniform(9, 12)
        palette = ROOFS[rng.choice(len(ROOFS), 3, replace=False)]

        def same_house(r):
            return house_w + r.uniform(-0.6, 0.6), house_d + r.uniform(-0.6, 0.6), r.uniform(5.0, 7.5)

        gen.on_building = lambda b, road, p, out_n, t, sb: _driveway(gen, b, road, out_n, t, sb)
        n0 = len(gen.layout.buildings)
        gen.buildings_along_roads(None, None, None, (6.0, 9.0), (7.0, 10.0), same_house=same_house)
        for b in gen.layout.buildings[n0:]:  # repetitive look: few roof colours, gable/hip roofs
            b["roof_rgb"] = [int(v) for v in palette[rng.integers(3)]]
            if b["roof"] == "flat":
                b["roof"], b["pitch"], b["hvac"] = "gable", float(rng.uniform(0.5, 0.8)), 0
            b["shop"] = False
        gen.street_furniture(tree_p=0.4, tree_spacing=14.0, pole_spacing=35.0)
        gen.park_trees(6.0, radius=(2.0, 4.5), top=(5, 12), margin=0.5)
        gen.street_cars_and_people(curb_parking_p=0.3, moving_per_km=8, people_per_km=10)
    elif style == "industrial":
        from .industrial import generate_industrial

        generate_industrial(gen)
    else:
        roads = roads_rural(rng, size_m)
        _fields(gen)
        gen.draw_roads(roads)
        _farms(gen)
        _tree_lines(gen)
        gen.street_cars_and_people(curb_parking_p=0.0, moving_per_km=3, people_per_km=0)
    return gen.layout


def _driveway(gen: _Gen, b, road, out_n, t, setback):
    """Concrete driveway from the road edge to the house front, a hedge on one lot line, a yard tree."""
    rng, g = gen.rng, gen.g
    c = np.array([b["cx"], b["cy"]])
    front = c - out_n * b["hv"]
    side_off = rng.choice([-1, 1]) * (b["hu"] - 2.0)
    p1 = front + t * side_off
    p0 = p1 - out_n * (setback + road.sidewalk_m + 0.2)
    g.polyline(gen.cls, [p0, p1], 3.0, CONCRETE)
    if rng.random() < 0.6:  # car parked on the driveway
        q = p1 - out_n * 3.0
        gen._slot_cars([(q[0], q[1], math.atan2(out_n[1], out_n[0]))], p_occ=0.7, p_keep=0.5)
    if rng.random() < 0.5:
        a = c + t * (-np.sign(side_off) * (b["hu"] + 1.5)) - out_n * (b["hv"] + setback - 0.5)
        gen.layout.hedges.append(dict(points=[a.tolist(), (a + out_n * (setback + 2 * b["hv"])).tolist()],
                                      w=0.8, h=float(rng.uniform(1.0, 1.6))))
    if rng.random() < 0.7:
        q = front - out_n * setback * 0.5 - t * side_off * 0.8
        gen.add_tree(q[0], q[1], rng.uniform(2.0, 3.5), rng.uniform(5, 10))


def _fields(gen: _Gen):
    """Voronoi fields with crop colours and row directions (zone = field index)."""
    rng, g = gen.rng, gen.g
    n_seeds = max(4, int((gen.size_m / 140.0) ** 2))
    seeds = rng.uniform(-gen.size_m / 2, gen.size_m / 2, (n_seeds, 2))
    coarse = max(8, g.n // 8)
    cm = gen.size_m / coarse
    e = (np.arange(coarse) + 0.5) * cm - gen.size_m / 2
    ee, nn = np.meshgrid(e, -e)
    d = (ee[..., None] - seeds[:, 0]) ** 2 + (nn[..., None] - seeds[:, 1]) ** 2
    lab = np.argmin(d, axis=-1).astype(np.uint8) + 1
    zone = cv2.resize(lab, (g.n, g.n), interpolation=cv2.INTER_NEAREST)
    kinds = rng.integers(0, 3, n_seeds + 1)  # 0 field, 1 meadow (grass), 2 forest
    kinds[0] = 1
    gen.zone[:] = zone
    kz = kinds[zone]
    gen.cls[kz == 0] = FIELD
    gen.cls[kz == 2] = FOREST
    gen.layout.field_angles = np.concatenate([rng.uniform(0, math.pi, n_seeds + 1), np.zeros(255 - n_seeds)])
    gen.forest_zones = np.flatnonzero(kinds == 2)
    # hedgerows on some field boundaries
    edges = (cv2.Laplacian(lab.astype(np.float32), cv2.CV_32F) != 0).astype(np.uint8)
    ys, xs = np.nonzero(edges)
    for j in rng.choice(len(ys), min(len(ys), int(gen.size_m / 8)), replace=False) if len(ys) else []:
        q = np.array([e[xs[j]], -e[ys[j]]])
        gen.add_tree(q[0], q[1], rng.uniform(2.0, 4.0), rng.uniform(6, 12))


def _farms(gen: _Gen):
    rng = gen.rng
    n = max(1, int((gen.size_m / 350.0) ** 2 * 2))
    for _ in range(n):
        r = gen.layout.roads[rng.integers(len(gen.layout.roads))]
        pts, s, t, nrm = resample_polyline(r.points, 2.0)
        i = rng.integers(len(pts))
        side = rng.choice([-1, 1])
        base = pts[i] + side * nrm[i] * (r.width_m / 2 + rng.uniform(15, 30))
        if not gen.g.inside(base, 40):
            continue
        rot = math.atan2(t[i, 1], t[i, 0]) + rng.uniform(-0.2, 0.2)
        gen.g.polyline(gen.cls, [pts[i], base], 3.5, DIRT)
        gen.g.disc(gen.cls, base, 12.0, GRAVEL)
        for _k in range(rng.integers(2, 5)):
            q = base + rng.uniform(-18, 18, 2)
            hu, hv = rng.uniform(4, 15), rng.uniform(4, 9)
            if gen.rect_free(q[0], q[1], rot, hu, hv, 1.0):
                gen.add_building(q[0], q[1], rot, hu, hv, rng.uniform(3.5, 9), None,
                                 rooftype=rng.choice(["gable", "hip"]))


def _tree_lines(gen: _Gen):
    rng = gen.rng
    for r in gen.layout.roads:
        if rng.random() < 0.5:
            continue
        pts, s, t, nrm = resample_polyline(r.points, rng.uniform(9, 15))
        side = rng.choice([-1, 1])
        for p, nn in zip(pts, nrm):
            q = p + side * nn * (r.width_m / 2 + 3.5)
            if gen.g.inside(q, 3) and rng.random() < 0.85:
                gen.add_tree(q[0], q[1], rng.uniform(2.5, 4.5), rng.uniform(7, 14))
    # forests
    if len(getattr(gen, "forest_zones", [])):
        gen.park_trees(60.0, klass=FOREST, radius=(2.5, 5.0), top=(8, 16), margin=-1.0)
    gen.park_trees(0.5, klass=GRASS)
