"""Ground-view renderer: a column-wise height-field ray-marcher, vectorised over image columns.

Every image column is a vertical plane through the camera (true for equirectangular panoramas and for pinhole
cameras with zero pitch), so one set of horizontal samples ``d_k`` along the column's azimuth serves all of its
rows.  For a pixel of elevation ``e``, the first sample ``k`` whose running maximum of ``(h_k - h_cam) / d_k``
reaches ``tan e`` is what it sees; the per-row first hit comes from a histogram of the per-sample row counts
(``bincount`` + ``cumsum``), so nothing loops over pixels in Python.  Ground hits are re-intersected exactly
(``d = h_cam / -tan e``) and textured from a mip-mapped ground albedo, which is what makes painted markers land on
the pixel the projection formula predicts.  Tree crowns are a second height field with an underside.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from .. import geometry
from .appearance import KIND_BUILDING, KIND_CAR, KIND_PERSON, KIND_SIGN, KIND_TRAILER

SKY_ZENITH = np.array([88, 138, 205], np.float32)
SKY_HORIZON = np.array([198, 212, 228], np.float32)
FOG = np.array([185, 195, 205], np.float32)


@functools.lru_cache(maxsize=8)
def sample_distances(mpp: float, max_dist_m: float) -> np.ndarray:
    """Horizontal sample distances: fine (half a pixel) near the camera, 1.2 % of the distance further out."""
    out, d = [], 0.06
    while d < max_dist_m:
        out.append(d)
        d += max(0.6 * mpp, 0.014 * d)
    return np.asarray(out, np.float32)


def _pack(rgb: np.ndarray) -> np.ndarray:
    """uint8 [..., 3] -> uint32 [...] (R, G, B, 0 in memory order)."""
    a = np.zeros(rgb.shape[:-1] + (4,), np.uint8)
    a[..., :3] = rgb
    return a.view(np.uint32)[..., 0]


class RowCounter:
    """How many image rows (counted from the bottom) have ``tan(elevation) <= x``: ``floor(a * g(x) + b)`` clipped
    to ``[0, H]``, for row elevations that are affine in ``g(tan)`` (panorama: ``g = arctan``; pinhole: identity)."""

    def __init__(self, g, a: float, b: float, height: int):
        self.g, self.a, self.b, self.height = g, np.float32(a), np.float32(b), height

    def count(self, x: np.ndarray) -> np.ndarray:
        y = self.g(x) if self.g is not None else x.copy()
        y *= self.a
        y += self.b
        np.clip(y, 0, self.height, out=y)
        return y.astype(np.int32)


def _blend_const(rgb_u8: np.ndarray, const_rgb: np.ndarray, weight: np.ndarray, replace: np.ndarray) -> np.ndarray:
    """``rgb + (const - rgb) * weight`` per pixel (float32 [h, w, 3]), and ``const`` where ``replace``."""
    planes = []
    for ch in range(3):
        p = rgb_u8[..., ch].astype(np.float32)
        p += (np.float32(const_rgb[ch]) - p) * weight
        p[replace] = const_rgb[ch]
        planes.append(p)
    return cv2.merge(planes)


def _unpack(packed: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(packed).view(np.uint8).reshape(packed.shape + (4,))[..., :3]


class Renderer:
    """Renders ground-time views of one world's rasters (see ``appearance.build_scene``)."""

    def __init__(self, scene: dict, meters_per_pixel: float, buildings: list, seed: int = 0,
                 max_dist_m: float = 260.0, mip_levels: int = 6):
        n = scene["solid_h"].shape[0]
        self.n, self.mpp, self.max_dist = n, float(meters_per_pixel), float(max_dist_m)
        sentinel = n * n  # index of the "outside the world" element appended to every flat array

        def flat(a, fill):
            a = np.asarray(a)
            return np.concatenate([a.reshape((n * n,) + a.shape[2:]), np.asarray([fill], a.dtype)])

        self.sentinel = sentinel
        self.solid_h = flat(scene["solid_h"].astype(np.float32), 0.0)
        self.solid_rgb = flat(_pack(scene["solid_rgb"]), 0)
        self.solid_kind = flat(scene["solid_kind"], 0)
        self.bld_id = flat(scene["bld_id"].astype(np.int32), 0)
        self.canopy_top = flat(scene["canopy_top"].astype(np.float32), 0.0)
        self.canopy_bot = flat(scene["canopy_bot"].astype(np.float32), 0.0)
        self.canopy_rgb = flat(_pack(scene["canopy_rgb"]), 0)
        # ground albedo mip pyramid in one flat buffer
        levels, offsets, sizes = [], [], []
        img = scene["ground_rgb"]
        off = 0
        for _ in range(mip_levels):
            levels.append(_pack(img).reshape(-1))
            offsets.append(off)
            sizes.append(img.shape[0])
            off += img.shape[0] * img.shape[1]
            if img.shape[0] < 4:
                break
            img = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)
        outside = _pack(np.array([[110, 125, 95]], np.uint8)).reshape(-1)
        self.ground_mips = np.concatenate(levels + [outside])
        self.ground_outside = off
        self.mip_offsets = np.array(offsets, np.int64)
        self.mip_sizes = np.array(sizes, np.int64)
        # building table for facades
        nb = len(buildings) + 1
        tab = np.zeros((nb, 12), np.float32)
        for i, b in enumerate(buildings):
            tab[i + 1] = (b["cx"], b["cy"], b["rot"], b["hu"], b["hv"], b["eave_h"], b["floor_h"], b["win_spacing"],
                          b["win_frac"], b["door_spacing"], float(b["shop"]), 0.0)
        self.btab = tab
        rot = tab[:, 2]
        cos_r, sin_r = np.cos(rot), np.sin(rot)
        lx, ly = np.array([0.5, 0.8], np.float32) / np.hypot(0.5, 0.8)
        self.bcols = dict(cx=tab[:, 0].copy(), cy=tab[:, 1].copy(), cos=cos_r, sin=sin_r,
                          inv_hu=1.0 / np.maximum(tab[:, 3], 1e-3), inv_hv=1.0 / np.maximum(tab[:, 4], 1e-3),
                          light_u=cos_r * lx + sin_r * ly, light_v=cos_r * ly - sin_r * lx, eave=tab[:, 5].copy(),
                          inv_floor=1.0 / np.maximum(tab[:, 6], 1e-3), inv_win=1.0 / np.maximum(tab[:, 7], 1e-3),
                          win_half=tab[:, 8] / 2, inv_door=1.0 / np.maximum(tab[:, 9], 1e-3), shop=tab[:, 10] > 0)
        self.win_rgb = np.array([[40, 50, 60]] + [b["win_rgb"] for b in buildings], np.float32).reshape(nb, 3)
        self.roof_rgb = np.array([[100, 100, 100]] + [b["roof_rgb"] for b in buildings], np.float32).reshape(nb, 3)
        rng = np.random.default_rng(seed)
        clouds = cv2.resize(rng.random((8, 32), dtype=np.float32), (512, 128), interpolation=cv2.INTER_CUBIC)
        clouds += 0.5 * cv2.resize(rng.random((16, 64), dtype=np.float32), (512, 128), interpolation=cv2.INTER_CUBIC)
        self.clouds = np.clip((clouds - 0.85) * 2.0, 0.0, 1.0)
        self.light = np.array([0.5, 0.8], np.float32) / np.hypot(0.5, 0.8)

    # -- public ------------------------------------------------------------------------------------------
    def panorama(self, east_m, north_m, yaw_rad, height=512, width=1024, camera_height_m=2.0):
        """Equirectangular panorama, forward direction (``yaw_rad``, CCW from east) at the centre column."""
        az_fwd = math.pi / 2.0 - yaw_rad
        u = (np.arange(width, dtype=np.float64) + 0.5) / width
        az = az_fwd + (u - 0.5) * 2.0 * math.pi
        zen = (np.arange(height, dtype=np.float64) + 0.5) / height * math.pi
        tan_rows = np.tan(math.pi / 2.0 - zen)
        dv = np.full(height, math.pi / height)
        du = np.full(width, 2.0 * math.pi / width)
        # rows (from the bottom) with elevation <= atan(x): floor(H/pi * atan(x) + H/2 + 1/2)
        rows = RowCounter(np.arctan, height / math.pi, height / 2.0 + 0.5, height)
        return self._render(east_m, north_m, camera_height_m, az, tan_rows, None, du, dv, rows)

    def pinhole(self, east_m, north_m, yaw_rad, width, height, fx, fy, cx, cy, camera_height_m=2.0):
        """Pinhole view (pitch 0, optical axis along ``yaw_rad``); pixel centres at integer coordinates (OpenCV,
        ``sensor_msgs/CameraInfo``), so pixel ``(r, c)`` is the ray through ``((c - cx) / fx, (r - cy) / fy, 1)``."""
        a = (np.arange(width, dtype=np.float64) - cx) / fx
        b = (np.arange(height, dtype=np.float64) - cy) / fy
        az = (math.pi / 2.0 - yaw_rad) + np.arctan(a)
        scale = 1.0 / np.sqrt(1.0 + a * a)  # tan(elevation) = -b * scale
        du = scale * scale / fx
        dv = np.full(height, 1.0 / fy)
        # rows (from the bottom) with -b <= x: floor(fy * x + H - cy)
        rows = RowCounter(None, fy, height - cy, height)
        return self._render(east_m, north_m, camera_height_m, az, -b, scale, du, dv, rows)

    # -- core --------------------------------------------------------------------------------------------
    def _first_hits(self, h, cam_h, inv_d, col_scale, rows, H):
        """Per pixel ``[H, W']``, the first sample index along its column (``h`` is ``[K, W']``) whose height field
        is seen at or above the pixel's elevation; ``K`` = none."""
        K, W = h.shape
        t = (h - np.float32(cam_h)) * inv_d
        for k in range(1, K):  # running maximum over the samples (row by row: far faster than accumulate)
            np.maximum(t[k - 1], t[k], out=t[k])
        if col_scale is not None:
            t /= col_scale
        cnt = rows.count(t)  # [K, W] rows (from the bottom) covered by samples 0..k
        cnt *= np.int32(W)
        cnt += np.arange(W, dtype=np.int32)
        hist = np.bincount(cnt.ravel(), minlength=(H + 1) * W)[: H * W].reshape(H, W).astype(np.int32)
        for i in range(1, H):  # cumulative over rows from the bottom: samples whose coverage ends below row i
            np.add(hist[i - 1], hist[i], out=hist[i])
        return hist[::-1]

    def _render(self, cam_e, cam_n, cam_h, az, tan_rows, col_scale, du, dv, rows):
        n, mpp = self.n, self.mpp
        H, W = len(tan_rows), len(az)
        d = sample_distances(mpp, self.max_dist)
        K = len(d)
        sin_az = np.sin(az).astype(np.float32)
        cos_az = np.cos(az).astype(np.float32)
        half = n / 2.0
        d_px = d[:, None] / np.float32(mpp)
        # +1 then truncate: floor for values > -1, negatives are outside anyway
        ci = (np.float32(cam_e / mpp + half + 1.0) + d_px * sin_az[None, :]).astype(np.int32) - 1
        ri = (np.float32(half - cam_n / mpp + 1.0) - d_px * cos_az[None, :]).astype(np.int32) - 1
        ok = (ci.view(np.uint32) < n) & (ri.view(np.uint32) < n)
        flat = ri * np.int32(n) + ci
        flat[~ok] = self.sentinel
        flat = flat.ravel()
        inv_d = (1.0 / d)[:, None]
        if col_scale is not None:
            col_scale = np.asarray(col_scale, np.float32)
        tan_rows = np.asarray(tan_rows, np.float32)
        cs = col_scale[None, :] if col_scale is not None else np.ones((1, 1), np.float32)

        h1 = self.solid_h[flat]
        k1 = self._first_hits(h1.reshape(K, W), cam_h, inv_d, col_scale, rows, H).ravel()
        h2 = self.canopy_top[flat].reshape(K, W)
        k2 = np.full((H, W), K, np.int32)
        tree_cols = np.flatnonzero((h2 > 0).any(axis=0))  # only columns that pass a tree crown
        if len(tree_cols):
            h2 = h2[:, tree_cols]
            h2[h2 <= 0] = -1e6
            k2[:, tree_cols] = self._first_hits(h2, cam_h, inv_d, None if col_scale is None else
                                                col_scale[tree_cols], rows, H)
        k2 = k2.ravel()

        out = np.empty((H, W, 3), np.float32)
        depth = np.full((H, W), np.inf, np.float32)
        r0 = int(np.count_nonzero(tan_rows > 0))  # rows above the horizon (tan_rows decreases down the image)
        # sky above the horizon (with clouds); the ground below it, dense, exact intersection, mip-mapped albedo
        if r0:
            out[:r0] = self._sky(tan_rows[:r0, None] * cs, az)
        if r0 < H:
            te = tan_rows[r0:, None] * cs  # [Hl, 1] (panorama) or [Hl, W]
            dg = np.float32(cam_h) / np.maximum(-te, np.float32(1e-6))
            ge = np.float32(cam_e) + dg * sin_az[None, :]
            gn = np.float32(cam_n) + dg * cos_az[None, :]
            foot = dg * np.sqrt(dg * (du[None, :] * dv[r0:, None] / cam_h).astype(np.float32))
            lvl = np.clip(np.log2(np.maximum(foot / np.float32(mpp), 1.0)).astype(np.int32), 0,
                          len(self.mip_sizes) - 1)
            size = self.mip_sizes[lvl]
            scale = (size / n).astype(np.float32)
            gc = ((ge / np.float32(mpp) + np.float32(half)) * scale + 1).astype(np.int64) - 1
            gr = ((np.float32(half) - gn / np.float32(mpp)) * scale + 1).astype(np.int64) - 1
            inside = (gc >= 0) & (gc < size) & (gr >= 0) & (gr < size)
            gidx = np.where(inside, self.mip_offsets[lvl] + gr * size + gc, self.ground_outside)
            fog = np.broadcast_to(1.0 - np.exp(dg * np.float32(-1.0 / 700.0)), (H - r0, W))
            far = np.broadcast_to(dg > d[-1], (H - r0, W))
            g = _unpack(self.ground_mips[gidx])
            out[r0:] = _blend_const(g, FOG, fog, far)
            depth[r0:] = np.where(far, np.float32(np.inf), dg)
        out = out.reshape(H * W, 3)
        depth = depth.reshape(H * W)

        jj = np.tile(np.arange(W, dtype=np.int32), H)
        lin1 = np.minimum(k1, K - 1) * W + jj
        io = np.flatnonzero((k1 < K) & (h1[lin1] > 0))
        if len(io):
            te_o = tan_rows[io // W] * (col_scale[jj[io]] if col_scale is not None else np.float32(1.0))
            self._shade_objects(out, depth, io, lin1[io], flat, d, te_o, cam_e, cam_n, cam_h, sin_az, cos_az)
        # canopies (second height field with an underside)
        ic = np.flatnonzero(k2 < K)
        if len(ic):
            k2c = k2[ic]
            f2 = flat[k2c * W + jj[ic]]
            d2 = d[k2c]
            te2 = tan_rows[ic // W] * (col_scale[jj[ic]] if col_scale is not None else np.float32(1.0))
            z2 = np.float32(cam_h) + d2 * te2
            bot = self.canopy_bot[f2]
            sees = (self.canopy_top[f2] > 0) & ((z2 >= bot) | (te2 > 0)) & (d2 < depth[ic])
            if sees.any():
                isee = ic[sees]
                c = _unpack(self.canopy_rgb[f2[sees]]).astype(np.float32)
                under = z2[sees] < bot[sees] + 0.3
                c *= np.where(under, np.float32(0.8), np.float32(1.0))[:, None]
                ds = d2[sees]
                c += (FOG - c) * (1.0 - np.exp(ds * np.float32(-1.0 / 700.0)))[:, None]
                out[isee] = c
                depth[isee] = ds
        img = cv2.convertScaleAbs(out.reshape(H, W, 3))  # saturating float -> uint8 (values are >= 0)
        return img, depth.reshape(H, W)

    def _sky(self, te, az):
        """Sky colour (gradient + clouds) for elevations ``atan(te)`` > 0; ``te`` [h, 1] or [h, W]."""
        el = np.arctan(te)
        w = np.clip(el / np.float32(math.pi / 2), 0.0, 1.0)
        ci_ = ((az / (2 * math.pi)) % 1.0 * 511).astype(np.int64)
        ri_ = np.clip((1 - w) * 127, 0, 127).astype(np.int64)
        cl = self.clouds[ri_, ci_[None, :]][..., None]
        w = np.broadcast_to(w, cl.shape[:2])
        planes = []
        for ch in range(3):  # channel planes (contiguous) merged at the end: far faster than [..., 3] broadcasting
            sky = SKY_HORIZON[ch] + (SKY_ZENITH[ch] - SKY_HORIZON[ch]) * w
            planes.append(sky + (np.float32(245.0) - sky) * cl[..., 0])
        return cv2.merge(planes)

    def _facade_columns(self, bid, x, y) -> dict:
        """What a wall point's horizontal position fixes (one entry per ray sample, shared by all the pixels of
        an image column that see that sample): lit face, window column, shop bay, door, window colour index."""
        bt = self.bcols
        dx, dy = x - bt["cx"][bid], y - bt["cy"][bid]
        c, s = bt["cos"][bid], bt["sin"][bid]
        u = dx * c + dy * s
        v = dy * c - dx * s
        on_u = np.abs(u) * bt["inv_hu"][bid] > np.abs(v) * bt["inv_hv"][bid]
        along = np.where(on_u, v, u)
        # lit by the face normal: +-(c, s) on the u faces, +-(-s, c) on the v faces
        shade = np.where(on_u, bt["light_u"][bid], bt["light_v"][bid])
        shade *= np.sign(np.where(on_u, u, v))
        shade *= np.float32(0.28)
        shade += np.float32(0.72)
        win_col = along * bt["inv_win"][bid]
        win_idx = np.floor(win_col)
        win_ok = np.abs(win_col - win_idx - 0.5) < bt["win_half"][bid]
        bay = along * np.float32(1.0 / 6.0)  # shop windows: 5 m of every 6 m
        bay -= np.floor(bay)
        shop_ok = bt["shop"][bid] & (np.abs(bay - 0.5) < np.float32(2.5 / 6.0))
        inv_door = bt["inv_door"][bid]
        dpos = along * inv_door
        dpos -= np.floor(dpos)
        return dict(shade=shade, win_ok=win_ok, win_idx7=win_idx * 7, shop_ok=shop_ok, door_ok=dpos < 1.3 * inv_door,
                    inv_floor=bt["inv_floor"][bid], eave=bt["eave"][bid] + np.float32(0.05),
                    win_rgb=self.win_rgb[bid], roof_rgb=self.roof_rgb[bid] * np.float32(0.85))

    def _shade_facades(self, col, ib, fc: dict, ps, zb, base_u, gain_u, fog_u):
        """Facade details of the building pixels ``ib`` of ``col`` (``ps``: their sample in ``fc`` and in the
        per-sample ``base_u``/``gain_u`` (lighting x fog)/``fog_u`` arrays, ``zb``: height of the wall point):
        window rows and shops, doors (darker), roofs (unlit). ``col`` already holds the lit, fogged wall."""
        inv_floor = fc["inv_floor"][ps]
        floor_pos = zb * inv_floor
        floor_idx = np.floor(floor_pos)
        fz = floor_pos - floor_idx
        win = (fz > 0.3) & (fz < 0.8) & fc["win_ok"][ps] & (zb > 1.2)
        win |= fc["shop_ok"][ps] & (zb > 0.4) & (zb < 2.9)
        door = (zb < 2.2) & fc["door_ok"][ps]
        su = fc["sample"][ps]  # the pixels' samples in the per-sample arrays
        iw = np.flatnonzero(win)
        if len(iw):
            pw, sw = ps[iw], su[iw]
            k = (fc["win_idx7"][pw] + floor_idx[iw] * 13) % 5
            g = gain_u[sw] * (0.8 + 0.1 * k) * np.where(door[iw], np.float32(0.35), np.float32(1.0))
            col[ib[iw]] = fc["win_rgb"][pw] * g[:, None] + fog_u[sw]
        idoor = np.flatnonzero(door & ~win)
        if len(idoor):
            sd = su[idoor]
            col[ib[idoor]] = base_u[sd] * (gain_u[sd] * np.float32(0.35))[:, None] + fog_u[sd]
        roof = np.flatnonzero(zb > fc["eave"][ps])
        if len(roof):
            sr = su[roof]
            col[ib[roof]] = fc["roof_rgb"][ps[roof]] * fc["keep"][ps[roof]][:, None] + fog_u[sr]

    def _shade_objects(self, out, depth, obj, samples, flat, d, tan_e, cam_e, cam_n, cam_h, sin_az, cos_az):
        """Colour the pixels ``obj`` that see an object at ray sample ``samples`` (``k * W + column``)."""
        W = len(sin_az)
        # per distinct sample: everything fixed by the horizontal position (colour, wall lighting, fog)
        mark = np.zeros(len(flat), bool)
        mark[samples] = True
        us = np.flatnonzero(mark)
        inv = np.empty(len(flat), np.int32)
        inv[us] = np.arange(len(us), dtype=np.int32)
        pi = inv[samples]  # pixel -> its distinct sample
        ku = us // W
        cu = us - ku * W
        du_ = d[ku]
        fu = flat[us]
        kind_u = self.solid_kind[fu]
        hgt_u = self.solid_h[fu]
        base_u = _unpack(self.solid_rgb[fu]).astype(np.float32)
        hsh = ((fu.astype(np.int64) * 2654435761) % 1000).astype(np.float32) / 1000.0
        base_u *= (0.94 + 0.12 * hsh)[:, None]
        keep_u = np.exp(du_ * np.float32(-1.0 / 700.0))  # aerial perspective: colour * keep + fog * (1 - keep)
        fog_u = FOG * (1.0 - keep_u)[:, None]
        gain_u = keep_u.copy()
        bu = np.flatnonzero(kind_u == KIND_BUILDING)
        fc = None
        if len(bu):
            fc = self._facade_columns(self.bld_id[fu[bu]], cam_e + du_[bu] * sin_az[cu[bu]],
                                      cam_n + du_[bu] * cos_az[cu[bu]])
            fc["sample"] = bu
            fc["keep"] = keep_u[bu]
            gain_u[bu] *= fc["shade"]
        wall_u = base_u * gain_u[:, None] + fog_u
        # per pixel: the lit, fogged colour of its sample, then the details that depend on the height
        dd = du_[pi]
        z = cam_h + dd * tan_e
        kind = kind_u[pi]
        col = wall_u[pi]
        if fc is not None:
            ib = np.flatnonzero(kind == KIND_BUILDING)
            slot = np.zeros(len(us), np.int32)
            slot[bu] = np.arange(len(bu), dtype=np.int32)
            self._shade_facades(col, ib, fc, slot[pi[ib]], z[ib], base_u, gain_u, fog_u)

        def paint(idx, rgb):  # a flat colour at the pixels idx, fogged by their distance
            if len(idx):
                sp = pi[idx]
                col[idx] = np.asarray(rgb, np.float32) * keep_u[sp][:, None] + fog_u[sp]

        car = np.flatnonzero(kind == KIND_CAR)
        if len(car):
            zc, hc = z[car], hgt_u[pi[car]]
            paint(car[(zc > hc - 0.55) & (zc < hc - 0.08) & (zc >= 0.35)], (40, 48, 58))  # glass
            paint(car[zc < 0.35], (25, 25, 25))  # wheels
        trl = np.flatnonzero(kind == KIND_TRAILER)
        if len(trl):
            paint(trl[z[trl] < 1.15], (28, 28, 30))  # under the box: chassis and wheels
        per = np.flatnonzero(kind == KIND_PERSON)
        if len(per):
            zp, hp = z[per], hgt_u[pi[per]]
            paint(per[(zp < 0.85) & ~(zp > hp - 0.25)], (45, 45, 60))  # trousers
            paint(per[zp > hp - 0.25], (190, 150, 120))  # face
        sg = np.flatnonzero(kind == KIND_SIGN)
        if len(sg):
            paint(sg[z[sg] < hgt_u[pi[sg]] - 0.7], (110, 112, 115))  # the post
        out[obj] = col
        depth[obj] = dd


def tilt_panorama(pano: np.ndarray, roll_rad: float, pitch_rad: float) -> np.ndarray:
    """The panorama a camera rolled/pitched by the given angles would take (forward = centre column).

    The simulator's own angles (``tilt_to_rep103`` converts them): pitch > 0 raises the forward direction (the
    horizon moves down in the image); roll > 0 raises the camera's right side. Camera rays go to the level frame
    by ``Rx(-roll) @ Ry(-pitch)`` (x forward, y left, z up).
    """
    if roll_rad == 0.0 and pitch_rad == 0.0:
        return pano
    h, w = pano.shape[:2]
    u = (np.arange(w, dtype=np.float32) + 0.5) / w
    v = (np.arange(h, dtype=np.float32) + 0.5) / h
    alpha = (u - 0.5) * 2.0 * np.float32(math.pi)  # clockwise from forward
    theta = v * np.float32(math.pi)
    st, ct = np.sin(theta)[:, None], np.cos(theta)[:, None]
    x = st * np.cos(alpha)[None, :]  # forward
    y = -st * np.sin(alpha)[None, :]  # left
    z = np.broadcast_to(ct, x.shape)  # up
    cp, sp = math.cos(pitch_rad), math.sin(pitch_rad)
    cr, sr = math.cos(roll_rad), math.sin(roll_rad)
    # camera -> level: pitch about the left axis (y), then roll about forward (x)
    x1, z1 = cp * x - sp * z, sp * x + cp * z
    y2, z2 = cr * y + sr * z1, -sr * y + cr * z1
    a2 = np.arctan2(-y2, x1)
    t2 = np.arccos(np.clip(z2, -1.0, 1.0))
    mapx = ((a2 / (2 * math.pi) + 0.5) * w - 0.5).astype(np.float32) % w
    mapy = (t2 / math.pi * h - 0.5).astype(np.float32)
    return cv2.remap(pano, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def tilt_to_rep103(roll_rad: float, pitch_rad: float) -> tuple[float, float]:
    """REP-103 ``(roll_rad, pitch_rad)`` (ZYX Euler: roll positive right side down, pitch positive nose down) of the
    camera :func:`tilt_panorama` simulates with these angles: the same up vector in the camera frame, so
    ``camera.level_panorama`` with ``geometry.tilt_rotation`` of them undoes the tilt (up to a heading change of
    about roll * pitch / 2, below 0.02 deg for 1.5 deg tilts)."""
    # third row of Rx(-roll) @ Ry(-pitch): the level up axis in camera coordinates
    up = (geometry.rot_x(-roll_rad) @ geometry.rot_y(-pitch_rad))[2]
    return float(math.atan2(up[1], up[2])), float(-math.asin(max(-1.0, min(1.0, up[0]))))


def postprocess(img: np.ndarray, rng=None, exposure: float = 1.0, blur_sigma: float = 0.0, jpeg_quality=None,
                noise_sigma: float = 0.0) -> np.ndarray:
    """Optional camera effects: exposure gain, Gaussian blur, sensor noise and a JPEG round trip."""
    out = img
    if exposure != 1.0 or noise_sigma > 0:
        f = img.astype(np.float32) * exposure
        if noise_sigma > 0:
            rng = rng or np.random.default_rng(0)
            f += rng.standard_normal(f.shape, dtype=np.float32) * noise_sigma
        out = np.clip(f, 0, 255).astype(np.uint8)
    if blur_sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), blur_sigma)
    if jpeg_quality:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY,
                                                                               int(jpeg_quality)])
        out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out
