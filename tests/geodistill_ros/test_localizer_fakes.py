"""Stand-ins for the tile source and the model, shared by the Localizer and node tests (and tests of the fakes).

The fake world: a flat grey satellite map with one red disk where the camera truly is, and panoramas (or pinhole
images) that show one bright vertical stripe in the direction of true north.  The fake model knows nothing about
the truth: its matcher peaks where the red disk is in the satellite patch it was given and scores a canvas by how
close to the centre column (north, when the canvas is aligned with the true yaw) the stripe falls; its
orientation network reports the stripe's offset from the centre as the yaw correction, and only when its
satellite patch is centred on the disk.  So the Localizer's geometry (crop centre, pixel <-> ENU, canvas roll
signs, orientation patch, extrinsics) and its covariance handling are tested for real.
"""

from __future__ import annotations

import math

import numpy as np

from geodistill_ros import geometry
from geodistill_ros.camera import PanoramaCamera, PinholeCamera
from geodistill_ros.tiles.errors import TileOutOfCoverage, TileServerDown

DATUM = (47.3769, 8.5417)
MPP = 0.5
SEARCH_PX = 128
STRIDE_PX = 4.0
ORIGIN_PX = 2.0
CANVAS_HW = (64, 256)
MARKER_RADIUS_PX = 2.5


def fake_meta(**overrides) -> dict:
    meta = {
        "sat_size_px": 64, "search_size_px": SEARCH_PX, "meters_per_pixel": MPP,
        "ground_height_px": CANVAS_HW[0], "ground_width_px": CANVAS_HW[1], "camera_height_m": 2.0,
        "prob_stride_px": STRIDE_PX, "prob_origin_px": ORIGIN_PX, "temperature": 1.0,
        "posterior_temperature": 1.0, "levels": [0],
        "orientation": {"bins": 90, "range_deg": 90.0, "sat_size_px": 32},
        "conventions": "ENU; yaw CCW from east; VIGOR north-centred panorama", "config_hash": "fake",
        "code_version": "test",
    }
    meta.update(overrides)
    return meta


class FakeCrop:
    def __init__(self, image, valid_mask, center_lat, center_lon, meters_per_pixel, datum):
        self.image, self.valid_mask = image, valid_mask
        self.center_lat, self.center_lon = center_lat, center_lon
        self.meters_per_pixel = meters_per_pixel
        self._datum = datum
        e, n, _ = geometry.geodetic_to_enu(center_lat, center_lon, 0.0, *datum)
        self._center_en = (float(e), float(n))
        self._size = image.shape[0]

    def pixel_to_latlon(self, row, col):
        e, n = geometry.patch_pixel_to_enu(row, col, *self._center_en, self.meters_per_pixel, self._size)
        lat, lon, _ = geometry.enu_to_geodetic(e, n, 0.0, *self._datum)
        return float(lat), float(lon)

    def latlon_to_pixel(self, lat, lon):
        e, n, _ = geometry.geodetic_to_enu(lat, lon, 0.0, *self._datum)
        r, c = geometry.enu_to_patch_pixel(e, n, *self._center_en, self.meters_per_pixel, self._size)
        return float(r), float(c)


class FakeTileSource:
    """Grey map with a red disk at ``marker_en`` (ENU m about ``datum``); imagery only where ``east < max_east_m``."""

    def __init__(self, marker_en=(12.3, -7.6), datum=DATUM, max_east_m: float = math.inf, down: bool = False):
        self.marker_en = marker_en
        self.datum = datum
        self.max_east_m = max_east_m
        self.down = down
        self.crops = 0

    def crop(self, lat_deg, lon_deg, size_px, meters_per_pixel):
        if self.down:
            raise TileServerDown("fake tile server is down", (19, 0, 0))
        self.crops += 1
        ce, cn, _ = geometry.geodetic_to_enu(lat_deg, lon_deg, 0.0, *self.datum)
        rows = np.arange(size_px)[:, None] + 0.5
        cols = np.arange(size_px)[None, :] + 0.5
        east, north = geometry.patch_pixel_to_enu(rows, cols, float(ce), float(cn), meters_per_pixel, size_px)
        east, north = np.broadcast_arrays(east, north)
        image = np.full((size_px, size_px, 3), 90, np.uint8)
        image[..., 1] = (90 + 40 * np.sin(east / 3.0)).astype(np.uint8)  # texture, never red
        d = np.hypot(east - self.marker_en[0], north - self.marker_en[1]) / meters_per_pixel
        image[d <= MARKER_RADIUS_PX] = (255, 0, 0)
        valid = east < self.max_east_m
        if not valid.any():
            raise TileOutOfCoverage("no imagery here")
        image[~valid] = 0
        return FakeCrop(image, valid, float(lat_deg), float(lon_deg), meters_per_pixel, self.datum)


def marker_centroid(sat_chw: np.ndarray):
    """Continuous (row, col) of the red disk in a [3, S, S] float patch, or None."""
    red = (sat_chw[0] > 0.8) & (sat_chw[1] < 0.2) & (sat_chw[2] < 0.2)
    if red.sum() < 3:
        return None
    r, c = np.nonzero(red)
    return float(r.mean() + 0.5), float(c.mean() + 0.5)


def stripe_offset_rad(ground: np.ndarray, mask: np.ndarray):
    """Angle (rad, CCW-positive yaw correction) from the canvas centre column to the bright stripe, or None."""
    g = ground[0].mean(axis=0)  # [Hg, Wg]
    m = mask[0, 0]
    seen = m.sum(axis=0)
    col = np.where(seen > 0, (g * m).sum(axis=0) / np.maximum(seen, 1), 0.0)
    if not (seen > 0).any():
        return None
    w = np.clip(col - np.median(col[seen > 0]) - 0.15, 0.0, None) * (seen > 0)
    if w.sum() <= 0:
        return None
    wg = col.shape[0]
    theta = (np.arange(wg) + 0.5 - wg / 2.0) * 2.0 * math.pi / wg
    return math.atan2(float(np.sum(w * np.sin(theta))), float(np.sum(w * np.cos(theta))))


class FakeModel:
    """Implements the inference API (``meta``, ``backend_name``, ``encode_satellite``, ``match``, ``orientation``)."""

    backend_name = "fake"

    def __init__(self, meta=None, sigma_px: float = 3.0, yaw_weight: float = 40.0, flat: bool = False):
        self.meta = meta or fake_meta()
        self.sigma_px = sigma_px
        self.yaw_weight = yaw_weight
        self.flat = flat  # uninformative matcher (constant logits)
        self.has_orientation = bool(self.meta.get("orientation"))
        self.calls = {"encode": 0, "match": 0, "orientation": 0}

    def encode_satellite(self, sat):
        assert sat.dtype == np.float32 and sat.shape[:2] == (1, 3) and sat.shape[2] % 32 == 0
        self.calls["encode"] += 1
        return {"sat_feat_0": sat}

    def match(self, ground, ground_mask, feats):
        assert ground.shape == (1, 3, *CANVAS_HW) and ground_mask.shape == (1, 1, *CANVAS_HW)
        self.calls["match"] += 1
        sat = feats["sat_feat_0"][0]
        size = sat.shape[-1]
        hp = int(size // STRIDE_PX)
        rows = ORIGIN_PX + STRIDE_PX * np.arange(hp)[:, None]
        cols = ORIGIN_PX + STRIDE_PX * np.arange(hp)[None, :]
        centre = marker_centroid(sat)
        if self.flat or centre is None:
            logits = np.zeros((hp, hp))
        else:
            logits = -((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2) / (2.0 * self.sigma_px**2)
        offset = stripe_offset_rad(ground, ground_mask)
        if offset is not None and not self.flat:
            logits = logits + self.yaw_weight * math.cos(offset)
        logits = logits[None].astype(np.float32)
        e = np.exp(logits - logits.max())
        return {"logits": logits, "prob": e / e.sum()}

    def orientation(self, sat, ground, ground_mask):
        self.calls["orientation"] += 1
        side = self.meta["orientation"]["sat_size_px"]
        assert sat.shape == (1, 3, side, side)
        bins = self.meta["orientation"]["bins"]
        centre = marker_centroid(sat[0])
        offset = stripe_offset_rad(ground, ground_mask)
        if centre is None or offset is None or math.hypot(centre[0] - side / 2, centre[1] - side / 2) > 1.5:
            return np.zeros((1, bins), np.float32)  # not centred on the camera: no idea
        k = np.arange(bins) + 0.5 - bins / 2.0  # degrees of correction per bin
        return (-((k - math.degrees(offset)) ** 2) / (2.0 * 1.0**2))[None].astype(np.float32)


def render_panorama(yaw_rad: float, height: int = 128, width: int = 512) -> np.ndarray:
    """A robot-mounted panorama (forward at the centre column) whose only feature is a stripe due north."""
    image = np.full((height, width, 3), 60, np.uint8)
    north_u = geometry.north_align_shift_px(yaw_rad, width)  # where north lands after... see below
    # forward (azimuth pi/2 - yaw) is at the centre column; north (azimuth 0) is -azimuth_forward to the right
    u = (width / 2.0 - north_u) % width
    cols = (np.arange(width) + 0.5 - u + width / 2.0) % width - width / 2.0
    image[:, np.abs(cols) <= 3.0] = 255
    return image


def panorama_camera() -> PanoramaCamera:
    return PanoramaCamera(width=512, height=128)


def pinhole_camera() -> PinholeCamera:
    return PinholeCamera(width=320, height=240, fx=160.0, fy=160.0, cx=159.5, cy=119.5)


def render_pinhole(yaw_rad: float, camera: PinholeCamera | None = None) -> np.ndarray:
    """A pinhole image (optical axis at ``yaw_rad``) showing the north stripe when north is in view."""
    camera = camera or pinhole_camera()
    image = np.full((camera.height, camera.width, 3), 60, np.uint8)
    # bearing of north relative to the optical axis, positive to the right (clockwise)
    rel = float(geometry.wrap_angle(0.0 - geometry.yaw_to_azimuth(yaw_rad)))
    if abs(rel) < math.pi / 2 - 0.05:
        u = camera.cx + camera.fx * math.tan(rel)
        cols = np.arange(camera.width)
        image[:, np.abs(cols - u) <= 6.0] = 255
    return image


# --- tests of the fakes themselves -----------------------------------------------------------------
def test_panorama_stripe_is_due_north_after_alignment():
    from geodistill_ros.camera import ground_canvas

    for yaw in (0.0, 1.0, -2.5):
        canvas, mask = ground_canvas(render_panorama(yaw), panorama_camera(), yaw, CANVAS_HW)
        off = stripe_offset_rad(canvas.transpose(2, 0, 1)[None], mask[None, None])
        assert abs(off) < math.radians(1.0), (yaw, off)


def test_pinhole_stripe_is_due_north_after_alignment():
    from geodistill_ros.camera import ground_canvas

    yaw = math.radians(100.0)
    canvas, mask = ground_canvas(render_pinhole(yaw), pinhole_camera(), yaw, CANVAS_HW)
    off = stripe_offset_rad(canvas.transpose(2, 0, 1)[None], mask[None, None])
    assert off is not None and abs(off) < math.radians(1.5)


def test_fake_matcher_peaks_on_the_marker():
    src = FakeTileSource(marker_en=(5.0, 5.0))
    crop = src.crop(*DATUM, SEARCH_PX, MPP)
    sat = (crop.image.astype(np.float32) / 255).transpose(2, 0, 1)[None]
    r, c = marker_centroid(sat[0])
    assert (r, c) == (SEARCH_PX / 2 - 10.0, SEARCH_PX / 2 + 10.0)
