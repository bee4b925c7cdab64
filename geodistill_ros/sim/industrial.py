"""The ``industrial`` style: a coarse grid of wide roads with big fenced plots.

Each plot holds a large low warehouse with a flat roof (sometimes an office annex in front), a paved yard with
loading docks where trailers (some with their tractor) are backed up to the wall, a car park with painted bays,
sometimes rows of shipping containers and a fence. Trees are sparse (a few on the frontage strips, a few on the
leftover grass). Parked cars and trucks follow the same two-time rule as the other styles (each time has its own
occupancy, some stay), so the satellite-ground gap applies unchanged.

Plots are planned in a local frame: ``a`` along the road (metres, 0 at the plot centre), ``b`` away from the
road (0 at the plot front, ``depth`` at its back).
"""

from __future__ import annotations

import math

import numpy as np

from . import layout as L

IND_FACADES = np.array([[205, 205, 200], [180, 185, 190], [150, 160, 170], [200, 190, 165], [120, 130, 140],
                        [225, 225, 218], [170, 95, 70], [95, 110, 125]], np.uint8)
IND_ROOFS = np.array([[200, 200, 198], [175, 178, 180], [150, 152, 155], [215, 212, 205], [120, 125, 128],
                      [95, 100, 105]], np.uint8)
CONTAINERS = np.array([[170, 50, 35], [30, 80, 150], [200, 120, 40], [60, 110, 70], [200, 200, 195],
                       [120, 70, 50], [100, 100, 105]], np.uint8)
TRAILERS = np.array([[235, 235, 230], [235, 235, 230], [200, 200, 205], [160, 30, 30], [30, 60, 140],
                     [90, 90, 95]], np.uint8)
FENCE_RGB = [150, 152, 150]
DOCK_PITCH_M = 4.3  # dock doors along a wall
TRAILER_L, TRAILER_W, TRAILER_H = 13.6, 2.55, 4.0
CAB_L, CAB_W, CAB_H = 2.4, 2.5, 3.3


def roads_industrial(rng, size_m) -> list[L.Road]:
    """A coarse grid (blocks of 150-260 m) of wide roads; some 4-lane main roads."""
    theta = rng.uniform(-0.4, 0.4)
    R = L._rot(theta)
    ext = size_m * 0.75 + 60
    xs = L._spacings(rng, 150, 260, ext)
    ys = L._spacings(rng, 130, 240, ext)
    roads = []
    for axis, coords in ((0, xs), (1, ys)):
        for c in coords:
            main = rng.random() < 0.35
            p = L._line((c, -ext), (c, ext), 40) if axis == 0 else L._line((-ext, c), (ext, c), 40)
            width = rng.uniform(17, 21) if main else rng.uniform(12, 15)
            roads.append(L.Road(p @ R.T, width, rng.uniform(1.5, 2.4), "main" if main else "street", True,
                                4 if main else 2))
    return roads


class _Plot:
    """One plot in its road-aligned frame; ``p(a, b)`` -> ENU metres."""

    def __init__(self, origin, t, out, rot, width_m, depth_m):
        self.o, self.t, self.out, self.rot = np.asarray(origin), np.asarray(t), np.asarray(out), float(rot)
        self.w, self.d = float(width_m), float(depth_m)

    def p(self, a, b):
        return self.o + a * self.t + b * self.out

    def rect(self, a0, a1, b0, b1):
        """Centre (ENU), rotation and half sizes (along t, along the left normal of t) of a local rectangle."""
        c = self.p((a0 + a1) / 2, (b0 + b1) / 2)
        return c, self.rot, abs(a1 - a0) / 2, abs(b1 - b0) / 2

    def corners(self, a0, a1, b0, b1):
        return np.array([self.p(a0, b0), self.p(a1, b0), self.p(a1, b1), self.p(a0, b1)])


def _plot_free(gen, plot: _Plot, margin_m: float) -> bool:
    c, rot, hu, hv = plot.rect(-plot.w / 2, plot.w / 2, 0.0, plot.d)
    if not gen.g.inside(c, 15.0):
        return False
    (r0, r1, c0, c1), e, nn = gen.g.window(c, math.hypot(hu, hv) + margin_m)
    if r1 <= r0 or c1 <= c0:
        return False
    cs, sn = math.cos(rot), math.sin(rot)
    u = (e - c[0]) * cs + (nn - c[1]) * sn
    v = -(e - c[0]) * sn + (nn - c[1]) * cs
    m = (np.abs(u) <= hu + margin_m) & (np.abs(v) <= hv + margin_m)
    return not np.any(gen.occ[r0:r1, c0:c1][m])


def add_truck(gen, x, y, yaw, when, with_cab):
    """A trailer (kind ``trailer``: a plain box) with its rear at (x, y), heading ``yaw``; a tractor in front."""
    rng = gen.rng
    rgb = [int(v) for v in TRAILERS[rng.integers(len(TRAILERS))]]
    length = float(rng.choice([TRAILER_L, 12.2, 16.0]))
    x, y = x + length / 2 * math.cos(yaw), y + length / 2 * math.sin(yaw)
    gen.layout.cars.append(dict(x=float(x), y=float(y), yaw=float(yaw), l=length, w=TRAILER_W,
                                h=float(rng.uniform(3.8, 4.1)), rgb=rgb, when=when, kind="trailer"))
    if with_cab:
        d = length / 2 + 0.2 + CAB_L / 2
        cab_rgb = [int(v) for v in L.CAR_COLORS[rng.integers(len(L.CAR_COLORS))]]
        gen.layout.cars.append(dict(x=float(x + d * math.cos(yaw)), y=float(y + d * math.sin(yaw)), yaw=float(yaw),
                                    l=CAB_L, w=CAB_W, h=CAB_H, rgb=cab_rgb, when=when, kind="tractor"))


def _dock_trucks(gen, slots, p_occ=0.6, p_keep=0.35):
    """Dock slots (x, y, yaw): each time has its own trucks, some stay (as ``layout._Gen._slot_cars``)."""
    rng = gen.rng
    for (x, y, yaw) in slots:
        u, cab = rng.random(), rng.random() < 0.5
        if u < p_occ * p_keep:
            add_truck(gen, x, y, yaw, "both", cab)
        else:
            if rng.random() < p_occ * (1 - p_keep):
                add_truck(gen, x, y, yaw, "ground", cab)
            if rng.random() < p_occ * (1 - p_keep):
                add_truck(gen, x, y, yaw, "satellite", rng.random() < 0.5)


def _warehouse(gen, plot: _Plot, a0, a1, b0, b1):
    rng = gen.rng
    c, rot, hu, hv = plot.rect(a0, a1, b0, b1)
    b = gen.add_building(c[0], c[1], rot, hu, hv, rng.uniform(6.5, 13.0), IND_ROOFS[rng.integers(len(IND_ROOFS))],
                         IND_FACADES[rng.integers(len(IND_FACADES))], rooftype="flat")
    b.update(floor_h=float(rng.uniform(4.5, 6.5)), win_spacing=float(rng.uniform(5.0, 9.0)),
             win_frac=float(rng.uniform(0.08, 0.2)), door_spacing=float(rng.uniform(12, 30)), shop=False,
             hvac=int(rng.integers(3, 9)))
    return b


def _office(gen, plot: _Plot, a0, a1, b0, b1):
    rng = gen.rng
    c, rot, hu, hv = plot.rect(a0, a1, b0, b1)
    b = gen.add_building(c[0], c[1], rot, hu, hv, rng.uniform(6.5, 10.0), IND_ROOFS[rng.integers(len(IND_ROOFS))],
                         L.FACADES[rng.integers(len(L.FACADES))], rooftype="flat")
    b.update(shop=False, hvac=int(rng.integers(0, 3)))


def _containers(gen, plot: _Plot, a0, a1, b0, b1):
    """Rows of 12.2 m x 2.45 m high-cube containers (2.9 m, some stacked two high) along ``a``."""
    rng = gen.rng
    b = b0 + 1.0
    while b + 2.45 <= b1 - 1.0:
        a = a0 + 1.0
        while a + 12.2 <= a1 - 1.0:
            if rng.random() < 0.8:
                c, rot, hu, hv = plot.rect(a, a + 12.2, b, b + 2.45)
                rgb = CONTAINERS[rng.integers(len(CONTAINERS))]
                k = gen.add_building(c[0], c[1], rot, hu, hv, 2.9 * (2 if rng.random() < 0.3 else 1), rgb, rgb,
                                     rooftype="flat")
                k.update(win_frac=0.0, shop=False, hvac=0, door_spacing=1e4, floor_h=2.9, kind="container")
            a += 12.2 + 0.4
        b += 2.45 + (0.3 if rng.random() < 0.6 else 4.0)


def _fence(gen, plot: _Plot):
    """A 2-2.5 m fence on the sides and back of the plot (none on the frontage: street views stay open)."""
    h = float(gen.rng.uniform(2.0, 2.5))
    w2, d = plot.w / 2 - 0.4, plot.d - 0.4
    pts = [plot.p(-w2, 0.4), plot.p(-w2, d), plot.p(w2, d), plot.p(w2, 0.4)]
    gen.layout.hedges.append(dict(points=[q.tolist() for q in pts], w=0.12, h=h, rgb=FENCE_RGB, kind="fence"))


def _fill_plot(gen, plot: _Plot, road: L.Road):
    """Yard surface, warehouse (+ office), loading docks with trucks, car park, containers, fence, driveway."""
    rng, g = gen.rng, gen.g
    W, D = plot.w, plot.d
    yard = int(rng.choice([L.CONCRETE, L.PARKING, L.GRAVEL], p=[0.5, 0.3, 0.2]))
    strip = rng.uniform(2.0, 4.5)  # grass strip along the frontage
    g.poly(gen.cls, plot.corners(-W / 2, W / 2, strip, D), yard)
    gen.mark_rect(plot.corners(-W / 2, W / 2, 0.0, D))
    # driveway across the sidewalk to the yard
    gate_w = rng.uniform(8.0, 12.0)
    gate_a = rng.uniform(-W / 2 + gate_w / 2 + 2, W / 2 - gate_w / 2 - 2)
    back = -(road.sidewalk_m + 1.1)  # the road edge
    g.poly(gen.cls, plot.corners(gate_a - gate_w / 2, gate_a + gate_w / 2, back, strip + 0.5), L.CONCRETE)
    # warehouse at the back
    bw, bd = W * rng.uniform(0.5, 0.8), D * rng.uniform(0.4, 0.6)
    back_gap = rng.uniform(3.0, 8.0)
    a0 = rng.uniform(-W / 2 + 3.0, W / 2 - 3.0 - bw)
    b1 = D - back_gap
    b0 = b1 - bd
    _warehouse(gen, plot, a0, a0 + bw, b0, b1)
    front_yard = b0 - strip
    left, right = (a0 + W / 2), (W / 2 - a0 - bw)  # side yard widths
    slots, used = [], None
    if front_yard >= 26.0:  # docks on the front wall, trucks pointing at the road
        k = int(min(12, rng.integers(3, 13), (bw - 4.0) // DOCK_PITCH_M))
        d0 = a0 + rng.uniform(2.0, max(2.0, bw - 2.0 - k * DOCK_PITCH_M))
        used = (d0 - 1.0, d0 + k * DOCK_PITCH_M + 1.0)
        for j in range(k):
            q = plot.p(d0 + (j + 0.5) * DOCK_PITCH_M, b0 - 0.5)
            slots.append((q[0], q[1], math.atan2(-plot.out[1], -plot.out[0])))
    elif max(left, right) >= 24.0:  # docks on the wider side wall
        sgn = -1.0 if left >= right else 1.0
        wall_a = a0 if sgn < 0 else a0 + bw
        k = int(min(10, (bd - 4.0) // DOCK_PITCH_M))
        for j in range(k):
            q = plot.p(wall_a + sgn * 0.5, b0 + 2.0 + (j + 0.5) * DOCK_PITCH_M)
            slots.append((q[0], q[1], math.atan2(sgn * plot.t[1], sgn * plot.t[0])))
        if sgn < 0:
            left = 0.0
        else:
            right = 0.0
    _dock_trucks(gen, slots)
    # office annex in front of the warehouse, car park in the rest of the front yard
    lot_a = (a0, a0 + bw) if used is None else max(((a0 - (-W / 2 + 1), (-W / 2 + 1, used[0])),
                                                     ((W / 2 - 1) - used[1], (used[1], W / 2 - 1))))[1]
    if front_yard >= 14.0 and rng.random() < 0.5 and lot_a[1] - lot_a[0] >= 16.0:
        ow = min(lot_a[1] - lot_a[0] - 2.0, rng.uniform(12.0, 25.0))
        od = rng.uniform(8.0, 12.0)
        _office(gen, plot, lot_a[0] + 1.0, lot_a[0] + 1.0 + ow, b0 - od, b0)
        lot_a = (lot_a[0] + ow + 3.0, lot_a[1])
        front_yard -= od
    lot_b = (strip + 1.0, strip + 1.0 + min(front_yard - 8.0, 2 * 5.0 + 6.0 + 1.0))
    lot_a = (max(lot_a[0], -W / 2 + 1.0), min(lot_a[1], W / 2 - 1.0))
    # keep the gate clear
    if lot_a[0] < gate_a + gate_w / 2 and gate_a - gate_w / 2 < lot_a[1]:
        lot_a = max(((gate_a - gate_w / 2 - 1.0) - lot_a[0], (lot_a[0], gate_a - gate_w / 2 - 1.0)),
                    (lot_a[1] - (gate_a + gate_w / 2 + 1.0), (gate_a + gate_w / 2 + 1.0, lot_a[1])))[1]
    if lot_b[1] - lot_b[0] >= 5.5 and lot_a[1] - lot_a[0] >= 10.0:
        c, rot, hu, hv = plot.rect(lot_a[0], lot_a[1], lot_b[0], lot_b[1])
        gen.parking_lot(c, rot, hu, hv)
    # containers in the wider free side yard
    side = max((left, (-W / 2, a0)), (right, (a0 + bw, W / 2)))
    if side[0] >= 16.0 and rng.random() < 0.6:
        _containers(gen, plot, side[1][0] + 1.5, side[1][1] - 1.5, b0, b1)
    if rng.random() < 0.4:
        _fence(gen, plot)
    # a few frontage trees
    for _ in range(int(rng.integers(0, 3))):
        a = rng.uniform(-W / 2 + 2, W / 2 - 2)
        if abs(a - gate_a) > gate_w / 2 + 3:
            q = plot.p(a, strip / 2)
            gen.add_tree(q[0], q[1], rng.uniform(2.0, 3.5), rng.uniform(6, 10))


def industrial_plots(gen, roads) -> int:
    """Plots side by side along both sides of every road; returns how many were placed."""
    rng = gen.rng
    placed = 0
    for r in roads:
        pts, s, t, nrm = L.resample_polyline(r.points, 1.0)
        for side in (-1, 1):
            pos = rng.uniform(0, 20)
            while pos < s[-1] - 10:
                i = int(pos)
                if not gen.g.inside(pts[i], 10):
                    pos += 20
                    continue
                width, depth = rng.uniform(55, 130), rng.uniform(55, 115)
                out = side * nrm[i]
                origin = pts[i] + out * (r.width_m / 2 + r.sidewalk_m + 1.0) + t[i] * width / 2
                plot = _Plot(origin, t[i], out, math.atan2(t[i, 1], t[i, 0]), width, depth)
                if _plot_free(gen, plot, 0.4):
                    _fill_plot(gen, plot, r)
                    placed += 1
                    pos += width + rng.uniform(1.0, 12.0)
                else:
                    pos += 8.0
    return placed


def trucks_on_roads(gen, per_km: float):
    """Moving trucks in the lanes (ground-time transients)."""
    rng, g = gen.rng, gen.g
    for r in gen.layout.roads:
        pts, s, t, nrm = L.resample_polyline(r.points, 6.0)
        for _ in range(rng.poisson(per_km * s[-1] / 1000.0)):
            i = int(rng.integers(len(pts)))
            side = rng.choice([-1, 1])
            q = pts[i] - side * nrm[i] * r.width_m / (4 if r.lanes < 4 else 8)
            if g.inside(q, 12.0):
                yaw = math.atan2(t[i, 1], t[i, 0]) + (0 if side < 0 else math.pi)
                add_truck(gen, q[0] - 7.0 * math.cos(yaw), q[1] - 7.0 * math.sin(yaw), yaw, "transient", True)


def generate_industrial(gen) -> None:
    """Fill ``gen`` (a ``layout._Gen``) with an industrial estate."""
    roads = roads_industrial(gen.rng, gen.size_m)
    gen.draw_roads(roads)
    industrial_plots(gen, roads)
    gen.street_furniture(tree_p=0.1, tree_spacing=18.0, pole_spacing=35.0)
    gen.park_trees(0.8, radius=(2.0, 4.5), top=(5, 12))
    gen.street_cars_and_people(curb_parking_p=0.25, moving_per_km=10, people_per_km=4)
    trucks_on_roads(gen, per_km=5.0)
